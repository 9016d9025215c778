"""Pure checks: OAuth query HMAC (against ShopifyAPI's own implementation), timestamps, crypto."""

from __future__ import annotations

import pytest
import shopify
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from connector.crypto import TokenCipher, generate_key
from connector.errors import TokenEncryptionError
from connector.shopify.oauth import admin_base
from connector.shopify.verify import is_fresh_timestamp, sign_oauth_params, verify_oauth_hmac

SECRET = "hush"
params_st = st.dictionaries(
    # Array parameters (``ids[]``) never reach install or callback; ShopifyAPI would treat a plain
    # string value under such a key as a list of characters, so they are not compared here.
    st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=8).filter(
        lambda k: k != "hmac" and not k.endswith("[]")
    ),
    st.text(st.characters(blacklist_categories=("Cs",)), max_size=12), max_size=6,
)


@hsettings(max_examples=200, derandomize=True)
@given(params_st)
def test_query_hmac_matches_shopifyapi(params):
    shopify.Session.setup(api_key="k", secret=SECRET)
    assert sign_oauth_params(params, SECRET) == shopify.Session.calculate_hmac(params)


def test_verify_accepts_current_and_previous_secret_only():
    params = {"shop": "a.myshopify.com", "timestamp": "1337178173", "code": "0907a61c0c8d55e99db179b68161bc00"}
    signed = {**params, "hmac": sign_oauth_params(params, "old")}
    assert verify_oauth_hmac(signed, ["new", "old"])
    assert not verify_oauth_hmac(signed, ["new"])
    assert not verify_oauth_hmac({**signed, "code": "other"}, ["old"])
    assert not verify_oauth_hmac(params, ["old"])  # no hmac
    assert not verify_oauth_hmac({**params, "hmac": "é"}, ["old"])
    assert not verify_oauth_hmac(signed, [""])  # an empty secret never matches


def test_pair_escaping_prevents_forging_by_moving_separators():
    a = {"a": "1&b=2"}
    b = {"a": "1", "b": "2"}
    assert sign_oauth_params(a, SECRET) != sign_oauth_params(b, SECRET)


@pytest.mark.parametrize("value, ok", [("1000", True), ("1089", True), ("911", True), ("1091", False), ("", False), (None, False), ("1e3", False)])
def test_timestamp_tolerance(value, ok):
    assert is_fresh_timestamp(value, now=1000.0, tolerance_s=90) is ok


def test_admin_base_accepts_either_form_of_admin_url():
    assert admin_base("https://{shop}", "a.myshopify.com") == "https://a.myshopify.com"
    assert admin_base("https://{shop}", "a.myshopify.com", "http://127.0.0.1:9/admin/") == "http://127.0.0.1:9"


def test_cipher_round_trip_rotation_and_refusal():
    old, new = generate_key(), generate_key()
    ciphertext = TokenCipher(old).encrypt("shpat_secret")
    assert "shpat_secret" not in ciphertext
    assert TokenCipher(f"{new},{old}").decrypt(ciphertext) == "shpat_secret"
    with pytest.raises(TokenEncryptionError, match="token_encryption_key"):
        TokenCipher(new).decrypt(ciphertext)
    with pytest.raises(TokenEncryptionError, match="required"):
        TokenCipher("")
    with pytest.raises(TokenEncryptionError, match="not a Fernet key"):
        TokenCipher("short")
