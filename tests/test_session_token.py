"""Shopify ID-token verification: every attack a forged, replayed or foreign token can try."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import jwt
import pytest

from connector.errors import SessionTokenError
from connector.shopify.session_token import LEEWAY_S, REQUIRED_CLAIMS, bearer_token, verify_session_token
from tests.id_tokens import API_KEY, API_SECRET, PREVIOUS_API_SECRET, id_token_claims, mint_id_token
from tests.support import SHOP

SECRETS = (API_SECRET, PREVIOUS_API_SECRET)


def verify(token: str, secrets=SECRETS, api_key: str = API_KEY):  # type: ignore[no-untyped-def]
    return verify_session_token(token, api_key, secrets)


def refused(token: str, **kwargs) -> str:  # type: ignore[no-untyped-def]
    with pytest.raises(SessionTokenError) as caught:
        verify(token, **kwargs)
    return str(caught.value)


def unsigned(claims: dict, header: dict | None = None) -> str:
    """A token with ``alg: none`` (or another header) and an empty signature, built by hand."""
    def part(obj: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()
    return f"{part(header or {'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


def test_a_genuine_token_names_its_shop_user_and_session():
    token = mint_id_token(SHOP, sub="77", sid="session-1")
    verified = verify(token)
    assert (verified.shop, verified.user_id, verified.session_id) == (SHOP, "77", "session-1")
    assert verified.token == token
    assert token not in repr(verified)


def test_the_previous_secret_is_accepted_during_a_rotation():
    assert verify(mint_id_token(SHOP, secret=PREVIOUS_API_SECRET)).shop == SHOP
    # ...and only while it is configured
    assert "signature" in refused(mint_id_token(SHOP, secret=PREVIOUS_API_SECRET), secrets=(API_SECRET,))


def test_a_wrong_secret_is_refused():
    assert "signature" in refused(mint_id_token(SHOP, secret="shpss_" + "9" * 32))


def test_empty_secrets_never_verify_anything():
    header, claims, _ = unsigned(id_token_claims(SHOP), {"alg": "HS256", "typ": "JWT"}).split(".")
    signature = hmac.new(b"", f"{header}.{claims}".encode(), hashlib.sha256).digest()
    token = f"{header}.{claims}." + base64.urlsafe_b64encode(signature).rstrip(b"=").decode()
    assert "no client secret" in refused(token, secrets=("", ""))
    assert "signature" in refused(token, secrets=(API_SECRET, ""))


def test_alg_none_is_refused():
    assert "alg value is not allowed" in refused(unsigned(id_token_claims(SHOP)))
    assert "alg value is not allowed" in refused(jwt.encode(id_token_claims(SHOP), None, algorithm="none"))


def test_hs256_signed_with_the_api_key_is_refused():
    # The api key is public (it is in every page's <meta>): a token signed with it proves nothing.
    refused(mint_id_token(SHOP, secret=API_KEY))


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
def test_another_hmac_algorithm_with_the_right_secret_is_refused():
    refused(mint_id_token(SHOP, algorithm="HS512"))


def test_a_wrong_audience_is_refused():
    assert "audience" in refused(mint_id_token(SHOP, aud="another-apps-client-id")).lower()
    # aud must be the api key itself, not a list that contains it
    refused(mint_id_token(SHOP, aud=[API_KEY, "other"]))
    refused(mint_id_token(SHOP, aud=[API_KEY]))


def test_without_an_api_key_nothing_verifies():
    assert "api_key" in refused(mint_id_token(SHOP, aud=""), api_key="")


def test_an_expired_token_is_refused_beyond_the_leeway_only():
    now = int(time.time())
    assert "expired" in refused(mint_id_token(SHOP, exp=now - LEEWAY_S - 5, nbf=now - 70, iat=now - 70))
    assert verify(mint_id_token(SHOP, exp=now - LEEWAY_S + 3, nbf=now - 60, iat=now - 60)).shop == SHOP


def test_a_future_nbf_is_refused_beyond_the_leeway_only():
    now = int(time.time())
    assert "not yet valid" in refused(mint_id_token(SHOP, nbf=now + LEEWAY_S + 5, exp=now + 120))
    # App Bridge often mints tokens a second or two ahead of our clock
    assert verify(mint_id_token(SHOP, nbf=now + LEEWAY_S - 3, iat=now, exp=now + 60)).shop == SHOP


def test_dest_and_iss_naming_different_shops_are_refused():
    token = mint_id_token(SHOP, iss="https://other-shop.myshopify.com/admin")
    assert "different shops" in refused(token)


@pytest.mark.parametrize("dest", [
    "https://evil.example.com",
    "https://demo-shop.myshopify.com.evil.example",
    "https://demo-shop.myshopify.com:8443",
    "https://user@demo-shop.myshopify.com",
    "http://demo-shop.myshopify.com",
    "demo-shop.myshopify.com",
    "https://-demo.myshopify.com",
    "https://demo_shop.myshopify.com",
    "https://demo-shop.myshopify.com?shop=x",
    "https://admin.shopify.com",
])
def test_a_dest_that_is_not_a_myshopify_shop_is_refused(dest: str):
    # iss follows dest, so only the shop pattern itself can refuse it
    token = mint_id_token(SHOP, dest=dest, iss=dest + "/admin")
    assert "myshopify" in refused(token)


def test_a_dest_that_is_not_a_string_is_refused():
    refused(mint_id_token(SHOP, dest=["https://demo-shop.myshopify.com"]))


@pytest.mark.parametrize("claim", REQUIRED_CLAIMS)
def test_every_required_claim_is_required(claim: str):
    message = refused(mint_id_token(SHOP, **{claim: None}))
    assert claim in message


@pytest.mark.parametrize("garbage", ["", "x", "a.b", "a.b.c", "Bearer x", "é.é.é"])
def test_garbage_is_refused(garbage: str):
    refused(garbage)


def test_the_shop_comes_from_dest_in_lower_case():
    token = mint_id_token(SHOP, dest="https://Demo-Shop.myshopify.com", iss="https://Demo-Shop.myshopify.com/admin")
    assert verify(token).shop == "demo-shop.myshopify.com"


@pytest.mark.parametrize("header, token", [
    ("Bearer abc.def.ghi", "abc.def.ghi"),
    ("bearer  abc.def.ghi ", "abc.def.ghi"),
    ("Basic abc", None),
    ("Bearer ", None),
    ("", None),
    (None, None),
])
def test_bearer_token_reads_the_authorization_header(header, token):
    assert bearer_token(header) == token
