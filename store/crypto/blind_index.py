"""Blind indexes: search sealed fields without decrypting the table.

A token is HMAC-SHA256 under a per-workspace, per-column key of a normalised value (`exact`) or
of each word prefix (`words`), truncated to `INDEX_BITS` bits. Truncation is deliberate:
CipherSweet's rule asks for a coincidence count C = R / 2^L with 2 <= C <= sqrt(R) (R = rows in
the design population), so a token never pins one row and an attacker holding the database
cannot tell equal values from colliding ones. With R = 100,000 contacts per workspace,
L = floor(log2(R / 2)) = 15 bits. Searches therefore return candidates that are decrypted and
re-checked; false positives never reach the caller.
"""

import hashlib
import hmac
import math
import re
import unicodedata

from store.models.base import Search

DESIGN_POPULATION = 100_000
INDEX_BITS = math.floor(math.log2(DESIGN_POPULATION / 2))  # 15
MIN_PREFIX = 2
MAX_PREFIX = 24
_WORD = re.compile(r"[^\W_]+", re.UNICODE)


def normalise(value: str) -> str:
    folded = unicodedata.normalize("NFKC", value).casefold()
    return "".join(folded.split())


def words(value: str) -> list[str]:
    folded = unicodedata.normalize("NFKC", value).casefold()
    return _WORD.findall(folded)


def terms_for_value(value: str, search: Search) -> set[str]:
    """Everything a stored value should be findable by."""
    if search is Search.EXACT:
        return {"=" + normalise(value)} if normalise(value) else set()
    terms: set[str] = set()
    for word in words(value):
        for end in range(min(MIN_PREFIX, len(word)), min(len(word), MAX_PREFIX) + 1):
            terms.add("^" + word[:end])
    return terms


def terms_for_query(query: str, search: Search) -> list[str]:
    """The terms a query must all match (one per query word; one for an exact value)."""
    if search is Search.EXACT:
        return ["=" + normalise(query)] if normalise(query) else []
    return ["^" + word[:MAX_PREFIX] for word in words(query)]


def token(index_key: bytes, term: str, bits: int = INDEX_BITS) -> bytes:
    digest = hmac.new(index_key, term.encode(), hashlib.sha256).digest()
    nbytes = (bits + 7) // 8
    value = int.from_bytes(digest[:nbytes], "big") >> (nbytes * 8 - bits)
    return value.to_bytes(nbytes, "big")


def matches(value: str | None, query: str, search: Search) -> bool:
    """The re-check applied to decrypted candidates."""
    if value is None:
        return False
    if search is Search.EXACT:
        return normalise(value) == normalise(query)
    stored = words(value)
    return all(any(w.startswith(q) for w in stored) for q in words(query))
