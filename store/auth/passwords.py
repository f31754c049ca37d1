"""Password hashing and rules: Argon2id at RFC 9106's second recommendation, or stronger.

- Hashing: argon2-cffi's `PasswordHasher` with t=3, p=4, m=64 MiB, a 16-byte random salt per hash
  (so two people with the same password get different hashes) and a 32-byte tag, stored as the
  PHC string `$argon2id$v=19$m=65536,t=3,p=4$<salt>$<tag>`.
- Rehash: a successful sign-in whose stored hash used weaker parameters is rehashed with the
  current ones (`needs_rehash`), so raising the policy upgrades every active account.
- Unknown accounts: `verify` against `dummy_hash()` costs the same as a real check, so the time a
  sign-in takes does not tell whether the email exists.
- Rules: at least 10 characters, at most 1024 bytes (hashing a huge input is a denial of service),
  not one of the bundled common passwords, not the email or its local part.

Hashing is CPU-bound (about 130 ms); async callers run these in a worker thread.
"""

import functools
from pathlib import Path

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from store.errors import InvalidInput

MIN_LENGTH = 10
MAX_BYTES = 1024
TIME_COST = 3
MEMORY_COST_KIB = 65536
PARALLELISM = 4
SALT_BYTES = 16
HASH_BYTES = 32

_COMMON = Path(__file__).with_name("common-passwords.txt")


def make_hasher(
    *,
    time_cost: int = TIME_COST,
    memory_cost: int = MEMORY_COST_KIB,
    parallelism: int = PARALLELISM,
) -> PasswordHasher:
    """An Argon2id hasher; the defaults are the policy, other values exist for tests."""
    return PasswordHasher(
        time_cost=time_cost,
        memory_cost=memory_cost,
        parallelism=parallelism,
        hash_len=HASH_BYTES,
        salt_len=SALT_BYTES,
        type=Type.ID,
    )


HASHER = make_hasher()


def hash_password(password: str) -> str:
    """The PHC string for a password that passed `check_password_rules`."""
    return HASHER.hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    """True when `password` matches; with no stored hash, spends the same time and says False."""
    if len(password.encode()) > MAX_BYTES:
        # Refused before hashing; it is never a valid password, so nothing leaks by answering fast.
        return False
    try:
        return HASHER.verify(stored_hash or dummy_hash(), password) and stored_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    """True when the stored hash used other (weaker) parameters than the current policy."""
    return HASHER.check_needs_rehash(stored_hash)


@functools.cache
def dummy_hash() -> str:
    """A hash of a random string under the current policy, for unknown accounts."""
    return HASHER.hash("not a password: " + Path(__file__).name)


@functools.cache
def common_passwords() -> frozenset[str]:
    """The bundled list of frequently used passwords, lower-cased."""
    lines = _COMMON.read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip().lower() for line in lines if line.strip() and line[0] != "#")


def check_password_rules(password: str, *, email: str | None = None) -> str:
    """Return the password unchanged, or raise InvalidInput saying which rule it breaks."""
    if len(password) < MIN_LENGTH:
        raise InvalidInput(f"password: use at least {MIN_LENGTH} characters")
    if len(password.encode()) > MAX_BYTES:
        raise InvalidInput(f"password: use at most {MAX_BYTES} bytes")
    lowered = password.lower()
    if lowered in common_passwords():
        raise InvalidInput("password: this is one of the most common passwords; choose another")
    if email and lowered in {email.lower(), email.lower().split("@", 1)[0]}:
        raise InvalidInput("password: do not use your email address as your password")
    return password
