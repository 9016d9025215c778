"""Shopify's free-text ``tracking_company`` → Foxdeli's carrier enum.

Shopify lets merchants type any carrier name (or pick one of its supported names such as "DHL
Express" or "Packeta"); Foxdeli accepts only the values of its ``Carrier`` enum (seed
``004_07df1430893145f9.txt``, "carrier identifier"). Names are compared after
:func:`connector.targets.common.carrier_key` (lower case, ``-``/``_`` as spaces). Unknown names
become ``UNKNOWN``, which the seed allows, so a parcel is still created and Foxdeli can be told
the carrier later.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from connector.errors import MappingError
from connector.targets.common import carrier_key
from connector.targets.foxdeli.enums import CARRIERS

FALLBACK = "UNKNOWN"

# Aliases seen in Shopify's carrier list and in merchants' free text, per Foxdeli code. Every
# code is also reachable by its own name ("czech post", "dpd cz", ...), see _default_table().
_ALIASES: dict[str, tuple[str, ...]] = {
    "BUDBEE": ("budbee ab",),
    "CZECH_POST": ("česká pošta", "ceska posta", "cpost", "czech post ems", "balikovna", "balíkovna"),
    "DHL": (
        "dhl express",
        "dhl ecommerce",
        "dhl ecommerce asia",
        "dhl parcel",
        "dhl paket",
        "dhl freight",
        "dhl parcel uk",
        "dhl germany",
        "deutsche post dhl",
        "dhl global mail",
    ),
    "DIY": ("do it yourself",),
    "DPD": ("dpd local", "dpd uk", "dpd germany", "dpd de", "dpd at", "dpd classic"),
    "DPD_CZ": ("dpd czech republic", "dpd česko", "dpd cesko"),
    "DPD_PL": ("dpd poland", "dpd polska"),
    "DPD_SK": ("dpd slovakia", "dpd slovensko"),
    "EU_SHIPMENTS": ("eushipments", "eushipments.com"),
    "FAN_COURIER": ("fancourier",),
    "FEDEX": ("fed ex", "fedex express", "fedex ground", "federal express", "fedex uk"),
    "GEBRUDER_WEISS": ("gebrüder weiss", "gebruder weiss", "gebrueder weiss"),
    "GEIS": ("geis parcel", "geis cz", "geis sk"),
    "GLS": ("gls de", "gls germany", "gls us", "gls (us)", "gls austria", "gls eu", "general logistics systems"),
    "GLS_CZ": ("gls czech republic", "gls česko", "gls cesko"),
    "GLS_HR": ("gls croatia", "gls hrvatska"),
    "GLS_HU": ("gls hungary", "gls magyarország", "gls magyarorszag"),
    "GLS_RO": ("gls romania", "gls românia"),
    "GLS_SI": ("gls slovenia", "gls slovenija"),
    "GLS_SK": ("gls slovakia", "gls slovensko"),
    "GO_BALIK": ("gobalik", "go balík"),
    "INPOST": ("inpost paczkomaty", "paczkomaty", "inpost kurier", "inpost courier"),
    "JAPO": ("japo transport",),
    "KURIER_123": ("123 kurier", "kurier123"),
    "KURYR_123": ("123 kuryr", "123 kurýr", "kuryr123"),
    "LANDMARK": ("landmark global",),
    "MESSENGER": ("messenger cz", "messenger kuryrni sluzba"),
    "PACKETA": ("zásilkovna", "zasilkovna", "packeta z box", "z box", "zbox", "packeta home"),
    "PBH": ("pošta bez hranic", "posta bez hranic"),
    "POST_AG": ("österreichische post", "osterreichische post", "austrian post", "post at", "post.at"),
    "POCZTA_POLSKA": ("polish post", "poczta", "pocztex"),
    "PPL": ("ppl cz", "ppl parcelshop", "ppl home"),
    "PPL_CPL": ("ppl cpl",),
    "SAMEDAY": ("sameday courier",),
    "SAMEDAY_RO": ("sameday romania",),
    "SLOVAKIA_POST": ("slovenská pošta", "slovenska posta", "slovak post"),
    "SPEEDY": ("speedy bg", "speedy ro"),
    "SPRING_GDS": ("spring", "spring global delivery solutions"),
    "SPS": ("slovak parcel service",),
    "SWISS_POST": ("post ch", "die post", "la poste suisse", "swiss post international"),
    "TAXYDROMIKI": ("ελληνικά ταχυδρομεία", "acs", "elta"),
    "TOP_TRANS": ("toptrans",),
    "ULOZENKA": ("uloženka", "ulozenka by wedo"),
    "URGENT_CARGUS": ("cargus", "urgentcargus"),
    "UNKNOWN": ("other", "others", "unknown", "custom"),
    "UPS": ("united parcel service", "ups mail innovations", "ups express", "ups standard"),
    "WEDO": ("we do", "wedo cz"),
    "PERSONAL_PICKUP": (
        "pickup",
        "local pickup",
        "pick up in store",
        "store pickup",
        "in store pickup",
        "osobní odběr",
        "osobni odber",
        "click and collect",
        "click & collect",
    ),
}


def _default_table() -> dict[str, str]:
    table = {carrier_key(code): code for code in CARRIERS}
    for code, names in _ALIASES.items():
        for name in names:
            table[carrier_key(name)] = code
    return table


DEFAULT_CARRIERS: Mapping[str, str] = _default_table()


def carrier_table(overrides: Any = None) -> dict[str, str]:
    """The default table with ``settings["carriers"]`` applied on top (keys normalised).

    An override naming a value outside the seed's enum raises :class:`MappingError`: sending it
    would be refused by Foxdeli, and the operator must fix the setting.
    """
    table = dict(DEFAULT_CARRIERS)
    for name, code in dict(overrides or {}).items():
        value = str(code).strip().upper()
        if value not in CARRIERS:
            raise MappingError(f"settings carriers[{name!r}]: {code!r} is not a Foxdeli carrier")
        table[carrier_key(name)] = value
    return table


def map_carrier(tracking_company: Any, table: Mapping[str, str] | None = None) -> str:
    """Foxdeli carrier for a Shopify carrier name; ``UNKNOWN`` when nothing matches.

    Exact (normalised) names first; then the longest table name the text starts with at a word
    boundary, so "DHL Express Germany" is DHL and "GLS Slovakia s.r.o." is GLS_SK.
    """
    table = DEFAULT_CARRIERS if table is None else table
    key = carrier_key(tracking_company)
    if not key:
        return FALLBACK
    if key in table:
        return table[key]
    best = ""
    for name in table:
        if len(name) > len(best) and (key.startswith(name + " ") or key.startswith(name + ".")):
            best = name
    return table[best] if best else FALLBACK


# Tracking-page hosts, for fulfillments whose tracking_company is blank or "Other" but whose
# tracking_url names the carrier (Shopify's own 2014 sample: company null, URL on ups.com).
_URL_HOSTS: tuple[tuple[str, str], ...] = (
    ("ups.com", "UPS"),
    ("fedex.com", "FEDEX"),
    ("dhl.", "DHL"),
    ("gls-group.", "GLS"),
    ("gls-online.", "GLS"),
    ("dpd.", "DPD"),
    ("packeta.", "PACKETA"),
    ("zasilkovna.", "PACKETA"),
    ("ppl.cz", "PPL"),
    ("postaonline.cz", "CZECH_POST"),
    ("ceskaposta.cz", "CZECH_POST"),
    ("inpost.", "INPOST"),
    ("posta.sk", "SLOVAKIA_POST"),
    ("post.ch", "SWISS_POST"),
    ("post.at", "POST_AG"),
    ("budbee.", "BUDBEE"),
    ("sameday.", "SAMEDAY"),
    ("pocztex.pl", "POCZTA_POLSKA"),
)


def carrier_from_url(url: Any) -> str | None:
    """The carrier whose tracking page ``url`` points at, or None."""
    if not isinstance(url, str):
        return None
    host = (urlsplit(url.strip()).hostname or "").lower()
    for fragment, code in _URL_HOSTS:
        # "dhl." is a brand under any country domain; "ups.com" must be the host's own domain.
        brand = fragment.endswith(".") and f".{fragment}" in f".{host}"
        if brand or host == fragment or host.endswith(f".{fragment}"):
            return code
    return None
