"""Random credentials and their digests.

Every credential minted here carries at least 256 random bits, so a single SHA-256 is enough to
store it (there is nothing to brute-force); lookups compare digests, never the secrets.
"""

import hashlib
import hmac
import secrets


def new_secret() -> str:
    """32 random bytes, base64url without padding (43 characters)."""
    return secrets.token_urlsafe(32)


def digest(value: str | bytes) -> str:
    """Hex SHA-256 of a secret, as stored in the database."""
    raw = value.encode() if isinstance(value, str) else value
    return hashlib.sha256(raw).hexdigest()


def same(a: str, b: str) -> bool:
    """Constant-time comparison of two digests or tokens."""
    return hmac.compare_digest(a.encode(), b.encode())
