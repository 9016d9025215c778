"""Enumerations allowed by Foxdeli's ``POST /api/v1/order`` docs, copied from the page.

Source: https://api.foxdeli.com/docs/api/tracking/create-order (a copy is kept in
``tests/fixtures/vendor/foxdeli-order-api.seed.txt``). Every enum value the mapping sends must
come from one of these sets; the stand-in validates against the same sets. The vendor SDK knows
a few carriers the page lacks (DB_SCHENKER, DODO, EXPRESS_ONE, FHB_PACKETA): they are left out on
purpose so we never send a value the documented API may refuse.
"""

from __future__ import annotations

# ``additionalCosts[].type``
ADDITIONAL_COST_TYPES: frozenset[str] = frozenset(
    """
    SHIPPING CASH_ON_DELIVERY CARD BANK_TRANSFER CASH PACKING DUTY OTHER
    """.split()
)

# ``payment.state``
PAYMENT_STATES: frozenset[str] = frozenset(
    """
    UNKNOWN UNPAID PAID
    """.split()
)

# ``payment.method``
PAYMENT_METHODS: frozenset[str] = frozenset(
    """
    CASH_ON_DELIVERY BANK_TRANSFER CARD CRYPTO OTHER
    """.split()
)

# ``payment.service``
PAYMENT_SERVICES: frozenset[str] = frozenset(
    """
    PAYPAL APPLE_PAY GOOGLE_PAY OTHER
    """.split()
)

# ``destination.type``
DESTINATION_TYPES: frozenset[str] = frozenset(
    """
    PARCEL_SHOP PARCEL_BOX HOUSE_ADDRESS
    """.split()
)

# every ``countryCode`` (ISO 3166 alpha-2 plus ``UNDEFINED`` and reserved codes)
COUNTRY_CODES: frozenset[str] = frozenset(
    """
    UNDEFINED AC AD AE AF AG AI AL AM AN AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI
    BJ BL BM BN BO BQ BR BS BT BU BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CP CR CS
    CU CV CW CX CY CZ DE DG DJ DK DM DO DZ EA EC EE EG EH ER ES ET EU EZ FI FJ FK FM FO FR
    FX GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU IC ID IE
    IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR
    LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA
    NC NE NF NG NI NL NO NP NR NT NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE
    RO RS RU RW SA SB SC SD SE SF SG SH SI SJ SK SL SM SN SO SR SS ST SU SV SX SY SZ TA TC
    TD TF TG TH TJ TK TL TM TN TO TP TR TT TV TW TZ UA UG UK UM US UY UZ VA VC VE VG VI VN
    VU WF WS XI XU XK YE YT YU ZA ZM ZR ZW
    """.split()
)

# ``parcelShop.carrier`` and ``tracking[].carrier``
CARRIERS: frozenset[str] = frozenset(
    """
    BUDBEE CZECH_POST DHL DIY DPD DPD_CZ DPD_PL DPD_SK EU_SHIPMENTS FAN_COURIER FEDEX
    GEBRUDER_WEISS GEIS GLS GLS_CZ GLS_HR GLS_HU GLS_RO GLS_SI GLS_SK GO_BALIK INPOST JAPO
    KURIER_123 KURYR_123 LANDMARK MESSENGER PACKETA PBH POST_AG POCZTA_POLSKA PPL PPL_CPL
    SAMEDAY SAMEDAY_RO SLOVAKIA_POST SPEEDY SPRING_GDS SPS SWISS_POST TAXYDROMIKI TOP_TRANS
    ULOZENKA URGENT_CARGUS UNKNOWN UPS WEDO PERSONAL_PICKUP
    """.split()
)

# ``products[].type``
PRODUCT_TYPES: frozenset[str] = frozenset(
    """
    PRODUCT DIGITAL_PRODUCT SERVICE GIFT DISCOUNT VOUCHER
    """.split()
)

# ``language`` (ISO 639-1 lower case plus ``undefined``)
LANGUAGES: frozenset[str] = frozenset(
    """
    undefined aa ab ae af ak am an ar as av ay az ba be bg bh bi bm bn bo br bs ca ce ch co
    cr cs cu cv cy da de dv dz ee el en eo es et eu fa ff fi fj fo fr fy ga gd gl gn gu gv
    ha he hi ho hr ht hu hy hz ia id ie ig ii ik io is it iu ja jv ka kg ki kj kk kl km kn
    ko kr ks ku kv kw ky la lb lg li ln lo lt lu lv mg mh mi mk ml mn mr ms mt my na nb nd
    ne ng nl nn no nr nv ny oc oj om or os pa pi pl ps pt qu rm rn ro ru rw sa sc sd se sg
    si sk sl sm sn so sq sr ss st su sv sw ta te tg th ti tk tl tn to tr ts tt tw ty ug uk
    ur uz ve vi vo wa wo xh yi yo za zh zu
    """.split()
)

# ``externalLinks[].icon``
LINK_ICONS: frozenset[str] = frozenset(
    """
    LINK FILE
    """.split()
)

# parcel ``state.delivery``
DELIVERY_STATES: frozenset[str] = frozenset(
    """
    CREATED ESHOP_PROCESSING MANUFACTURING AVAILABLE_FROM_MANUFACTURER PICKING READY_TO_SEND
    HANDED_TO_CARRIER IN_TRANSIT STORED_FOR_PICKUP DELIVERED RETURNED LOST CANCELLED EXPIRED
    """.split()
)
