"""Shop tokens encrypted at rest with Fernet (AES-128-CBC + HMAC-SHA256, from ``cryptography``).

An Admin API token is a key to the merchant's store; a copied SQLite file or backup must not
hand it out. The key lives in configuration (``shopify.token_encryption_key``), never in the
database. Several comma-separated keys rotate: the first encrypts, all decrypt (MultiFernet).
Without a key the connector refuses to store tokens rather than keep them in clear.
"""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from connector.errors import TokenEncryptionError

KEY_SETTING = "shopify.token_encryption_key"


def generate_key() -> str:
    """A new random Fernet key (urlsafe base64 of 32 bytes), for ``token_encryption_key``."""
    return Fernet.generate_key().decode("ascii")


class TokenCipher:
    """Encrypts and decrypts short secrets (access and refresh tokens) as ASCII text."""

    def __init__(self, keys: str) -> None:
        parts = [k.strip() for k in (keys or "").split(",") if k.strip()]
        if not parts:
            raise TokenEncryptionError(
                f"{KEY_SETTING} is required to store shop access tokens (encrypted at rest); "
                "generate one with `connector shops new-key` and set it in the config file or "
                "CONNECTOR_SHOPIFY_TOKEN_ENCRYPTION_KEY"
            )
        try:
            self._fernet = MultiFernet([Fernet(k.encode("ascii")) for k in parts])
        except (ValueError, UnicodeEncodeError):
            raise TokenEncryptionError(f"{KEY_SETTING}: not a Fernet key (32 url-safe base64-encoded bytes)") from None

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode("utf-8")).decode("ascii")

    def decrypt(self, ciphertext: str) -> str:
        try:
            return self._fernet.decrypt(ciphertext.encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeEncodeError):
            raise TokenEncryptionError(
                f"a stored token cannot be decrypted with {KEY_SETTING} (was the key changed "
                "without keeping the old one in the list?)"
            ) from None
