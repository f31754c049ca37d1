"""Inserting a row of a table that is not a CRM record (chat, channels), sealed on the way in.

Records go through `store.services.records`, which also indexes them for search; these tables
are read by id or by plaintext columns only, so sealing is all they need.
"""

import uuid
from typing import Any

import sqlalchemy as sa

from store.entities import Entity
from store.tenancy import TenantSession


async def insert_sealed(
    ts: TenantSession, entity: Entity, row_id: uuid.UUID, values: dict[str, Any]
) -> None:
    """Insert one row; its sealed columns are sealed with the key its table is keyed by."""
    key = await ts.sealer.key_for_new(ts, entity, row_id, values)
    sealed = ts.sealer.seal_values(ts, entity, row_id, key, values)
    plain = {
        k: v
        for k, v in values.items()
        if k not in {s.name for s in entity.sealed_fields} and k in entity.table.c
    }
    await ts.db.execute(
        sa.insert(entity.table).values(tenant_id=ts.tenant_id, id=row_id, **plain, **sealed)
    )
