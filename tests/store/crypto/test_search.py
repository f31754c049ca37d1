"""Search over sealed fields through truncated blind indexes: exactly the right rows, nothing else.

The expected results come from a plain-Python oracle over the generated data, not from the
index code. Collisions are real: with 15-bit tokens we find, by brute force under the workspace's
own index key, values whose tokens collide with a target, store both, and show that the decoy is
a candidate in the database yet never a result.
"""

import hashlib
import hmac
import itertools
import math
import random
import re
import string
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

import tests.conftest as base
from evals.bench.crypto import load_contacts
from store.crypto import blind_index
from store.entities import BY_NAME
from store.runtime import Store
from store.services import records
from store.tenancy import TenantSession
from tests.conftest import MakeWorkspace
from tests.store.crypto.conftest import ACTOR, superuser_rows

CONTACTS = BY_NAME["contact"]
POPULATION = 3000
FIRST = [
    "jane", "janet", "janelle", "janette", "janice", "jan", "jana", "janine",
    "john", "johan", "johanna", "jon", "jo", "joe", "joel", "joelle",
    "mar", "mara", "marc", "marco", "maria", "marie", "mario", "marion",
]  # fmt: skip
LAST = [
    "smith", "smyth", "smithers", "doe", "dow", "dowling", "jansen", "janssen",
    "johnson", "jonsson", "martin", "martens", "martinez", "o'brien", "obrien", "van der berg",
]  # fmt: skip


@dataclass(frozen=True)
class Person:
    first_name: str
    last_name: str
    email: str
    phone: str


def _population(seed: int = 7) -> list[Person]:
    """Near-duplicates on purpose: shared first-name prefixes, shared last names, and pairs of
    people (2k, 2k+1) with the same name whose emails differ in one character and phones in one
    digit."""
    rng = random.Random(seed)
    people: list[Person] = []
    for pair in range(POPULATION // 2):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        local = f"{first}.{re.sub('[^a-z]', '', last)}{pair}"
        for twin in (0, 1):
            email = f"{local}{'ab'[twin]}@example.com"
            phone = f"+1 555 {pair:04d} {twin}"
            people.append(Person(first.capitalize(), last.title(), email, phone))
    return people


def _twin(email: str) -> str:
    local, domain = email.split("@")
    return f"{local[:-1]}{'b' if local[-1] == 'a' else 'a'}@{domain}"


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


def _oracle_q(people: dict[uuid.UUID, Person], q: str) -> set[uuid.UUID]:
    """Every query word starts a word of the name, or q equals the email or phone."""
    flat = q.lower().replace(" ", "")
    hits = set()
    for rid, p in people.items():
        names = _words(f"{p.first_name} {p.last_name}")
        if all(any(n.startswith(w) for n in names) for w in _words(q)) or flat in (
            p.email.lower(),
            p.phone.replace(" ", ""),
        ):
            hits.add(rid)
    return hits


async def _all_pages(ts: TenantSession, **query: object) -> list[uuid.UUID]:
    found: list[uuid.UUID] = []
    cursor = None
    while True:
        page = await records.list_records(ts, CONTACTS, limit=100, cursor=cursor, **query)  # type: ignore[arg-type]
        found.extend(item.id for item in page.items)  # type: ignore[attr-defined]
        if page.next_cursor is None:
            return found
        cursor = page.next_cursor


@pytest.fixture
async def crowd(
    store: Store, make_workspace: MakeWorkspace
) -> tuple[uuid.UUID, dict[uuid.UUID, Person]]:
    """The population, mostly bulk-loaded through the services' sealing code in batches.

    One transaction of 3000 `create_record` calls measured 675 s here (the audit trigger's cost per
    row grows with the rows already written in the transaction), so all but the last 30 people go
    through `evals.bench.crypto.load_contacts` (same sealing and index code, executemany, 50 per
    transaction); the last 30 go through `create_record`, so both paths are searched alike.
    """
    tenant = await make_workspace("Crowded")
    population = _population()
    bulk, single = population[:-30], population[-30:]
    started = time.perf_counter()
    ids = await load_contacts(store, tenant, [p.__dict__ for p in bulk], batch=50)
    people = dict(zip(ids, bulk, strict=True))
    async with store.tenant_session(tenant, ACTOR) as ts:
        for person in single:
            made = await records.create_record(ts, CONTACTS, person.__dict__)
            people[made.id] = person  # type: ignore[attr-defined]
    print(f"\nloaded {len(people)} contacts in {time.perf_counter() - started:.1f} s")
    return tenant, people


async def test_searches_among_thousands_return_exactly_the_matching_rows(
    store: Store, crowd: tuple[uuid.UUID, dict[uuid.UUID, Person]]
) -> None:
    tenant, people = crowd
    by_email = {p.email: rid for rid, p in people.items()}
    rng = random.Random(11)
    sample = rng.sample(sorted(people, key=str), 12) + list(people)[-3:]  # both load paths
    async with store.tenant_session(tenant, ACTOR) as ts:
        for rid in sample:
            person = people[rid]
            assert _twin(person.email) in by_email  # the near-duplicate exists, and is not found
            for query in (person.email, person.email.upper(), f"  {person.email} "):
                assert await _all_pages(ts, filters={"email": query}) == [rid]
            assert await _all_pages(ts, filters={"phone": person.phone}) == [rid]
            assert await _all_pages(ts, filters={"phone": person.phone.replace(" ", "")}) == [rid]
            assert await _all_pages(ts, q=person.email) == [rid]
        assert await _all_pages(ts, filters={"email": "nobody@example.com"}) == []

        for q in ("jan", "jane", "janet", "janel", "Jo", "joe", "mar smi", "jan jans", "van der",
                  "o'brien", "obr", "smy", "martine", "zzz"):  # fmt: skip
            expected = _oracle_q(people, q)
            found = await _all_pages(ts, q=q)
            assert len(found) == len(set(found)), f"{q!r}: a row came back twice"
            assert set(found) == expected, f"{q!r}: {len(found)} found, {len(expected)} expected"
        # A query that matches nothing returns nothing even though its words are common.
        assert await _all_pages(ts, q="jane martinez smithers") == []


# --- collisions -----------------------------------------------------------------------------


def _token(index_key: bytes, term: str, bits: int = 15) -> bytes:
    """The documented construction, written out independently: HMAC-SHA256, first `bits` bits."""
    value = int.from_bytes(hmac.new(index_key, term.encode(), hashlib.sha256).digest()[:2], "big")
    return (value >> (16 - bits)).to_bytes(2, "big")


def _random_words(rng: random.Random, length: int) -> Iterator[str]:
    while True:
        yield "".join(rng.choices(string.ascii_lowercase, k=length))


def _stored_tokens(test_db: base.TestDatabase, record_id: uuid.UUID, column: str) -> set[bytes]:
    rows = superuser_rows(
        test_db,
        "SELECT token FROM search_tokens WHERE record_id = %s AND column_name = %s",
        record_id,
        column,
    )
    return {bytes(t) for (t,) in rows}


async def test_an_exact_match_collision_is_a_candidate_but_never_a_result(
    store: Store, test_db: base.TestDatabase, make_workspace: MakeWorkspace
) -> None:
    tenant = await make_workspace("Colliding emails")
    target = "target.person@collide.example"
    async with store.tenant_session(tenant, ACTOR) as ts:
        key = await store.keyring.index_key(ts, "contacts", "email")
    wanted = _token(key, "=" + target)
    decoy = next(
        email
        for i in itertools.count()
        if (email := f"decoy{i}@collide.example") and _token(key, "=" + email) == wanted
    )
    async with store.tenant_session(tenant, ACTOR) as ts:
        real = await records.create_record(ts, CONTACTS, {"email": target, "first_name": "Real"})
        fake = await records.create_record(ts, CONTACTS, {"email": decoy, "first_name": "Decoy"})

    # In the database the two are indistinguishable: the same 15-bit token.
    assert _stored_tokens(test_db, real.id, "email") == {wanted}  # type: ignore[attr-defined]
    assert _stored_tokens(test_db, fake.id, "email") == {wanted}  # type: ignore[attr-defined]
    async with store.tenant_session(tenant, ACTOR) as ts:
        assert await _all_pages(ts, filters={"email": target}) == [real.id]  # type: ignore[attr-defined]
        assert await _all_pages(ts, filters={"email": decoy}) == [fake.id]  # type: ignore[attr-defined]
        assert await _all_pages(ts, q=target) == [real.id]  # type: ignore[attr-defined]


async def test_a_prefix_collision_is_a_candidate_but_never_a_result(
    store: Store, test_db: base.TestDatabase, make_workspace: MakeWorkspace
) -> None:
    tenant = await make_workspace("Colliding names")
    query = "quillf"
    async with store.tenant_session(tenant, ACTOR) as ts:
        key = await store.keyring.index_key(ts, "contacts", "last_name")
    wanted = _token(key, "^" + query)
    # A random surname one of whose prefixes hashes like "quillf" without starting with it.
    decoy = next(
        word
        for word in _random_words(random.Random(3), 9)
        if not word.startswith("q")
        and wanted in {_token(key, "^" + word[:n]) for n in range(2, 10)}
    )
    async with store.tenant_session(tenant, ACTOR) as ts:
        real = await records.create_record(
            ts, CONTACTS, {"first_name": "Ann", "last_name": "Quillfeather"}
        )
        fake = await records.create_record(
            ts, CONTACTS, {"first_name": "Ann", "last_name": decoy.title()}
        )

    assert wanted in _stored_tokens(test_db, real.id, "last_name")  # type: ignore[attr-defined]
    assert wanted in _stored_tokens(test_db, fake.id, "last_name")  # type: ignore[attr-defined]
    async with store.tenant_session(tenant, ACTOR) as ts:
        assert await _all_pages(ts, q=query) == [real.id]  # type: ignore[attr-defined]
        assert await _all_pages(ts, q=f"ann {query}") == [real.id]  # type: ignore[attr-defined]
        assert await _all_pages(ts, q=decoy) == [fake.id]  # type: ignore[attr-defined]


async def test_the_same_value_gives_different_tokens_in_different_workspaces(
    store: Store, test_db: base.TestDatabase, make_workspace: MakeWorkspace
) -> None:
    made: list[uuid.UUID] = []
    for name in ("Tokens A", "Tokens B"):
        tenant = await make_workspace(name)
        async with store.tenant_session(tenant, ACTOR) as ts:
            contact = await records.create_record(
                ts, CONTACTS, {"first_name": "Maximilianophelia", "email": "same@both.example"}
            )
        made.append(contact.id)  # type: ignore[attr-defined]
    a, b = (_stored_tokens(test_db, rid, "first_name") for rid in made)
    assert len(a) == len(b) == len("maximilianophelia") - 1  # one token per prefix of 2+ letters
    assert a != b


def test_index_width_follows_the_coincidence_rule() -> None:
    """2 <= R / 2^L <= sqrt(R) for the design population (CipherSweet's planner rule)."""
    population, bits = blind_index.DESIGN_POPULATION, blind_index.INDEX_BITS
    assert bits == 15
    assert 2 <= population / 2**bits <= math.sqrt(population)
