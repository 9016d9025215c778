"""Shopify ids, parsed one way everywhere: exact decimal text, never through a float.

Shopify ids are 64-bit integers. Python's ``json`` keeps them exact, so an id arrives as an
``int`` (or, from some tools, a digit string). Anything else is refused: a float (a JavaScript
parser already rounded it), a bool (``True`` is an ``int`` to Python), zero or a negative
number, and digits outside ASCII (``"٣".isdigit()`` is true).
"""

from __future__ import annotations

from typing import Any

GID_PREFIX = "gid://shopify/"


def is_ascii_digits(text: str) -> bool:
    """Only ``0``-``9``: ``str.isdigit`` also takes ``"²"`` and ``"١٢٣"``, and ``int()`` then either
    fails (a 500 where a 400 belongs) or reads another script's digits as a number."""
    return isinstance(text, str) and text.isascii() and text.isdigit()


def shopify_id(value: Any) -> str | None:
    """A positive id (``int`` or ASCII digit string) as decimal text; None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value) if value > 0 else None
    if isinstance(value, str) and is_ascii_digits(value) and value.strip("0"):
        return value
    return None


def gid_id(gid: Any) -> str | None:
    """The id in a GraphQL global id (``gid://shopify/Order/820982911946154508`` → its digits);
    a query string (``?…``) is ignored."""
    if not isinstance(gid, str) or not gid.startswith(GID_PREFIX):
        return None
    return shopify_id(gid.rsplit("/", 1)[-1].split("?", 1)[0])


def resource_id(resource: Any) -> str | None:
    """A REST resource's exact id: ``admin_graphql_api_id`` wins over ``id``.

    A payload that went through a JavaScript/float parser carries rounded ``id`` values while its
    ``admin_graphql_api_id`` keeps them exact (Shopify's documented ``fulfillments/create``
    sample does: its line items' ids end in ``…00``, their gids do not), so the gid is the one to
    trust when both are there.
    """
    if not isinstance(resource, dict):
        return None
    return gid_id(resource.get("admin_graphql_api_id")) or shopify_id(resource.get("id"))
