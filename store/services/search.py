"""One search box across the workspace: the same blind-index search, on every searchable kind."""

from typing import Any

from store.entities import BY_NAME
from store.errors import InvalidInput
from store.models.work import RECORD_TYPES
from store.services import records
from store.tenancy import TenantSession

SEARCHABLE = tuple(BY_NAME[name] for name in RECORD_TYPES if BY_NAME[name].searchable_fields)


async def search_everything(
    ts: TenantSession, q: str, *, per_kind: int = 5
) -> list[dict[str, Any]]:
    """Records of every searchable kind matching all words of `q`, a few per kind."""
    if not q.strip():
        raise InvalidInput("q must not be empty")
    hits: list[dict[str, Any]] = []
    for entity in SEARCHABLE:
        page = await records.list_records(ts, entity, q=q, limit=per_kind)
        for item in page.items:
            values = item.model_dump()
            label = " ".join(
                str(values[f.name]) for f in entity.searchable_fields if values.get(f.name)
            )
            hits.append({"type": entity.name, "id": values["id"], "label": label})
    return hits
