"""Shop domain validation.

Anchored on purpose: an unanchored pattern lets ``shop.myshopify.com.evil.test`` through
(Shopify's WEAK_SHOP_VALIDATION security check,
https://shopify.dev/docs/apps/build/security/app-security-checks/weak-shop-validation).
"""

from __future__ import annotations

import re

_SHOP_DOMAIN = re.compile(r"\A[a-zA-Z0-9][a-zA-Z0-9-]*\.myshopify\.com\Z")


def is_valid_shop_domain(value: str | None) -> bool:
    """True for ``name.myshopify.com`` and nothing else."""
    return value is not None and len(value) <= 255 and _SHOP_DOMAIN.match(value) is not None
