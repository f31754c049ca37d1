"""Concurrent writers never fork or gap a chain (AUD-05).

50 transactions run at once, on separate connections, in two workspaces. Each workspace's chain
must come out as seq 1..n with every prev_hash the hash before it, and hold exactly one event
per row written.
"""

import asyncio
import itertools
import uuid
from collections import Counter
from pathlib import Path

from store.audit.verify import verify_chain
from store.crypto.providers import LocalKeyProvider
from store.entities import BY_NAME
from store.runtime import Store
from store.services import records
from tests import conftest
from tests.conftest import MakeWorkspace
from tests.store.audit.helpers import events, head_seq, superuser

WRITERS = 50
TAGS_PER_WRITER = 3


async def test_fifty_concurrent_writers_in_two_workspaces(
    make_workspace: MakeWorkspace, test_db: conftest.TestDatabase, keystore: Path
) -> None:
    workspaces = [await make_workspace(), await make_workspace()]
    before = {t: head_seq(test_db, t) for t in workspaces}
    # One connection per writer, so all 50 transactions really are open at the same time.
    wide = Store(test_db.urls, LocalKeyProvider(keystore), pool_size=WRITERS // 2 + 1)
    started = asyncio.Barrier(WRITERS)

    async def writer(n: int) -> None:
        tenant = workspaces[n % 2]
        async with wide.tenant_session(tenant, f"member:{uuid.uuid4()}", via="api") as ts:
            await started.wait()
            for k in range(TAGS_PER_WRITER):
                await records.create_record(ts, BY_NAME["tag"], {"name": f"w{n}-{k}"})

    try:
        await asyncio.gather(*(writer(n) for n in range(WRITERS)))
        for tenant in workspaces:
            result = await verify_chain(wide, tenant)
            assert result.ok, result
            trail = events(test_db, tenant)
            assert [e["seq"] for e in trail] == list(range(1, len(trail) + 1))
            assert all(e["prev_hash"] == p["hash"] for p, e in itertools.pairwise(trail))
            assert result.events == len(trail)
            with superuser(test_db) as conn:
                head = conn.execute(
                    "SELECT seq, hash FROM audit_heads WHERE tenant_id = %s", (tenant,)
                ).fetchone()
            assert head == {"seq": trail[-1]["seq"], "hash": trail[-1]["hash"]}
            new = [e for e in trail if e["seq"] > before[tenant]]
            by_table = Counter(e["table_name"] for e in new)
            tags_written = WRITERS // 2 * TAGS_PER_WRITER
            assert by_table["tags"] == tags_written
            # Each tag also writes its search tokens; every one of those rows has its event too.
            assert by_table["search_tokens"] >= tags_written
            assert len({e["record_id"] for e in new}) == len(new)
            assert len({e["actor"] for e in new if e["table_name"] == "tags"}) == WRITERS // 2
    finally:
        await wide.close()
