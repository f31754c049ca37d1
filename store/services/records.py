"""Create, read, list, update and delete any CRM entity, generically and inside one tenant session.

Services validate, seal, write and flush; the caller's `tenant_session` owns the transaction.
They raise domain errors only. Every statement also names the tenant explicitly: row-level
security is the guarantee, the predicate lets the planner use the `(tenant_id, ...)` indexes.
"""

import base64
import binascii
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, TypeAdapter, ValidationError
from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from store.crypto import blind_index
from store.entities import BY_NAME, BY_TABLE, Entity, FieldSpec
from store.errors import Conflict, InvalidInput, MalformedCursor, NotFound
from store.models import SearchToken
from store.models.base import subject_of
from store.models.work import RECORD_TYPES
from store.services.access import require_role
from store.services.custom_fields import validate_custom_values
from store.tenancy import TenantSession

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
_tokens = SearchToken.__table__  # pyright: ignore[reportAttributeAccessIssue]


@dataclass(frozen=True)
class Page:
    items: list[BaseModel]
    next_cursor: str | None


@dataclass(frozen=True)
class Range:
    """A filter value matching a plaintext column between two bounds, both inclusive."""

    min: Any = None
    max: Any = None


# --- create / get / update / delete -------------------------------------------------------


async def create_record(ts: TenantSession, entity: Entity, data: Mapping[str, Any]) -> BaseModel:
    require_role(ts, "member", to=f"create {entity.plural}")
    values = _validated(entity.create_model, data).model_dump()
    await _check_links(ts, entity, values)
    if values.get("custom") is not None:
        values["custom"] = await validate_custom_values(ts, entity.name, values["custom"])
    row_id = uuid.uuid4()
    key = await ts.sealer.key_for_new(ts, entity, row_id, values)
    row = {**_plain(entity, values), **ts.sealer.seal_values(ts, entity, row_id, key, values)}
    async with _mapping_integrity_errors(ts, entity):
        stored = (
            await ts.db.execute(
                insert(entity.table)
                .values(tenant_id=ts.tenant_id, id=row_id, **row)
                .returning(*entity.table.c)
            )
        ).one()
    await _write_index(ts, entity, row_id, values)
    return _public(entity, {**stored._asdict(), **values})


async def get_record(ts: TenantSession, entity: Entity, record_id: uuid.UUID) -> BaseModel:
    rows = await _select_rows(ts, entity, entity.table.c.id == record_id)
    if not rows:
        raise NotFound(entity.title, record_id)
    (opened,) = await ts.sealer.open_rows(ts, entity, rows)
    return _public(entity, opened)


async def update_record(
    ts: TenantSession,
    entity: Entity,
    record_id: uuid.UUID,
    changes: Mapping[str, Any],
    *,
    expected_version: int | None = None,
) -> BaseModel:
    require_role(ts, "member", to=f"change {entity.plural}")
    payload = _validated(entity.update_model, changes)
    values = payload.model_dump(exclude_unset=True)
    _refuse_nulls(entity, values)
    current = await _select_rows(ts, entity, entity.table.c.id == record_id, for_update=True)
    if not current:
        raise NotFound(entity.title, record_id)
    if expected_version is not None and current[0]["version"] != expected_version:
        raise Conflict(
            f"the {entity.title} changed since version {expected_version} "
            f"(now {current[0]['version']}); reload it and try again"
        )
    if not values:
        return await get_record(ts, entity, record_id)
    await _check_links(ts, entity, values)
    if values.get("custom") is not None:
        merged = {**(await _current_custom(ts, entity, current[0])), **values["custom"]}
        values["custom"] = await validate_custom_values(ts, entity.name, merged)
    reindexed = [f.name for f in entity.searchable_fields if f.name in values]
    after = {**current[0], **values}
    sealing = values
    subject_before = subject_of(entity.table, record_id, current[0])
    if subject_before != subject_of(entity.table, record_id, after):
        # The record is now about another person (or none): every sealed value moves to the
        # new subject's key, so erasing the old subject does not take this record with it.
        (opened,) = await ts.sealer.open_rows(ts, entity, current)
        sealing = {**{f.name: opened[f.name] for f in entity.sealed_fields}, **values}
    key = await ts.sealer.key_for_existing(ts, entity, record_id, after)
    row = {**_plain(entity, values), **ts.sealer.seal_values(ts, entity, record_id, key, sealing)}
    async with _mapping_integrity_errors(ts, entity):
        await ts.db.execute(
            update(entity.table)
            .where(entity.table.c.tenant_id == ts.tenant_id, entity.table.c.id == record_id)
            .values(**row)
        )
    if reindexed:
        await _delete_index(ts, entity, record_id, columns=reindexed)
        await _write_index(ts, entity, record_id, {k: values[k] for k in reindexed})
    return await get_record(ts, entity, record_id)


async def delete_record(ts: TenantSession, entity: Entity, record_id: uuid.UUID) -> BaseModel:
    """Hard delete; the audit trail keeps the before values. Returns what was deleted."""
    require_role(ts, "member", to=f"delete {entity.plural}")
    before = await get_record(ts, entity, record_id)
    async with _mapping_integrity_errors(ts, entity):
        await ts.db.execute(
            delete(entity.table).where(
                entity.table.c.tenant_id == ts.tenant_id, entity.table.c.id == record_id
            )
        )
    await _delete_index(ts, entity, record_id)
    return before


# --- list and search ----------------------------------------------------------------------


async def list_records(
    ts: TenantSession,
    entity: Entity,
    *,
    filters: Mapping[str, Any] | None = None,
    q: str | None = None,
    sort: str = "-created_at",
    limit: int = DEFAULT_LIMIT,
    cursor: str | None = None,
) -> Page:
    """A page of records, newest first by default.

    `filters` match plaintext columns exactly, and sealed searchable columns through their blind
    index; `q` matches words and prefixes across the entity's searchable fields. Candidates from
    an index are decrypted and re-checked, so a token collision never shows up as a result.
    """
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"limit must be between 1 and {MAX_LIMIT}")
    column, descending = _sort_column(entity, sort)
    conditions, rechecks = await _conditions(ts, entity, filters or {}, q)
    if cursor is not None:
        conditions.append(_after_cursor(entity, column, descending, cursor))
    order = (column.desc(), entity.table.c.id.desc()) if descending else (column, entity.table.c.id)
    items: list[dict[str, Any]] = []
    batch = limit + 1
    offset = 0
    while len(items) <= limit:
        rows = await _select_rows(
            ts, entity, *conditions, order_by=order, limit=batch, offset=offset
        )
        opened = await ts.sealer.open_rows(ts, entity, rows)
        items.extend(r for r in opened if all(check(r) for check in rechecks))
        if len(rows) < batch:
            break
        offset += batch
    page, more = items[:limit], len(items) > limit
    next_cursor = _encode_cursor(page[-1][column.name], page[-1]["id"]) if more and page else None
    return Page([_public(entity, r) for r in page], next_cursor)


async def find_records(
    ts: TenantSession,
    entity: Entity,
    *conditions: Any,
    order_by: Sequence[Any] = (),
    limit: int = MAX_LIMIT,
) -> list[BaseModel]:
    """Records matching SQL conditions on plaintext columns, decrypted, at most `limit`."""
    rows = await _select_rows(ts, entity, *conditions, order_by=order_by, limit=limit)
    return [_public(entity, r) for r in await ts.sealer.open_rows(ts, entity, rows)]


async def _conditions(
    ts: TenantSession, entity: Entity, filters: Mapping[str, Any], q: str | None
) -> tuple[list[Any], list[Any]]:
    conditions: list[Any] = []
    rechecks: list[Any] = []
    for name, raw in filters.items():
        spec = entity.field_map.get(name)
        if spec is None:
            raise InvalidInput(f"{entity.plural} have no field {name!r}")
        if spec.plain_column and isinstance(raw, Range):
            conditions.extend(_range_conditions(entity, spec, raw))
        elif spec.plain_column:
            conditions.append(entity.table.c[name] == _coerce(spec, raw))
        elif spec.search is blind_index.Search.EXACT:
            conditions.append(await _index_match(ts, entity, {name: str(raw)}))
            rechecks.append(_recheck_exact(name, str(raw)))
        else:
            raise InvalidInput(
                f"{entity.plural}.{name} is encrypted and cannot be filtered exactly; use q= search"
            )
    if q is not None and q.strip():
        searchable = {f.name: q for f in entity.searchable_fields}
        if not searchable:
            raise InvalidInput(f"{entity.plural} have no searchable fields")
        conditions.append(await _index_match(ts, entity, searchable))
        rechecks.append(_recheck_query(entity, q))
    return conditions, rechecks


async def _index_match(ts: TenantSession, entity: Entity, queries: Mapping[str, str]) -> Any:
    """A condition on the record id: its tokens match every term of the query in some column.

    The candidates stay a subquery, so the database joins, sorts and pages them however many
    there are; a candidate list fetched into Python would have to be capped, and a capped list
    silently drops true matches and breaks the newest-first order of large result sets.
    """
    per_term: dict[int, list[Any]] = {}
    for column, query in queries.items():
        for index, tok in enumerate(await ts.sealer.query_tokens(ts, entity, column, query)):
            term = 0 if entity.field_map[column].search is blind_index.Search.EXACT else index + 1
            per_term.setdefault(term, []).append(
                sa.and_(_tokens.c.column_name == column, _tokens.c.token == tok)
            )
    if not per_term:
        return sa.false()
    base = sa.and_(_tokens.c.tenant_id == ts.tenant_id, _tokens.c.table_name == entity.table_name)
    found: list[Any] = []
    word_terms = {k: v for k, v in per_term.items() if k}
    if 0 in per_term:
        found.append(select(_tokens.c.record_id).where(base, sa.or_(*per_term[0])))
    if word_terms:
        term_of = sa.case(
            *[(sa.or_(*conds), term) for term, conds in word_terms.items()], else_=None
        )
        words = (
            select(_tokens.c.record_id)
            .where(base, sa.or_(*[c for conds in word_terms.values() for c in conds]))
            .group_by(_tokens.c.record_id)
            .having(sa.func.count(sa.distinct(term_of)) == len(word_terms))
        )
        found.append(words)
    # One IN over a UNION (not an OR of two INs) lets the planner join on the primary key.
    return entity.table.c.id.in_(found[0] if len(found) == 1 else sa.union(*found))


def _range_conditions(entity: Entity, spec: FieldSpec, bounds: Range) -> list[Any]:
    column = entity.table.c[spec.name]
    found = []
    if bounds.min is not None:
        found.append(column >= _coerce(spec, bounds.min))
    if bounds.max is not None:
        found.append(column <= _coerce(spec, bounds.max))
    return found


def _recheck_exact(column: str, query: str) -> Any:
    return lambda row: blind_index.matches(row.get(column), query, blind_index.Search.EXACT)


def _recheck_query(entity: Entity, q: str) -> Any:
    exact = [f.name for f in entity.searchable_fields if f.search is blind_index.Search.EXACT]
    wordy = [f.name for f in entity.searchable_fields if f.search is blind_index.Search.WORDS]

    def check(row: Mapping[str, Any]) -> bool:
        if any(blind_index.matches(row.get(c), q, blind_index.Search.EXACT) for c in exact):
            return True
        text = " ".join(str(row[c]) for c in wordy if row.get(c))
        return bool(wordy) and blind_index.matches(text, q, blind_index.Search.WORDS)

    return check


# --- helpers ------------------------------------------------------------------------------


def _validated(model: type[BaseModel], data: Mapping[str, Any]) -> BaseModel:
    try:
        return model.model_validate(dict(data))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "input"
        raise InvalidInput(f"{where}: {first['msg']}") from None


def _refuse_nulls(entity: Entity, values: Mapping[str, Any]) -> None:
    for name, value in values.items():
        spec = entity.field_map[name]
        if value is None and (spec.required or not spec.nullable):
            raise InvalidInput(f"{name} cannot be empty")


def _plain(entity: Entity, values: Mapping[str, Any]) -> dict[str, Any]:
    return {f.name: values[f.name] for f in entity.fields if f.plain_column and f.name in values}


def _public(entity: Entity, values: Mapping[str, Any]) -> BaseModel:
    model = entity.public_model
    return model.model_validate({k: values.get(k) for k in model.model_fields})


async def _select_rows(
    ts: TenantSession,
    entity: Entity,
    *conditions: Any,
    order_by: Sequence[Any] = (),
    limit: int | None = None,
    offset: int = 0,
    for_update: bool = False,
) -> list[dict[str, Any]]:
    query = select(entity.table).where(entity.table.c.tenant_id == ts.tenant_id, *conditions)
    query = query.order_by(*order_by).offset(offset)
    if limit is not None:
        query = query.limit(limit)
    if for_update:
        query = query.with_for_update()
    return [dict(r._mapping) for r in (await ts.db.execute(query)).all()]


async def _current_custom(
    ts: TenantSession, entity: Entity, row: Mapping[str, Any]
) -> dict[str, Any]:
    (opened,) = await ts.sealer.open_rows(ts, entity, [row])
    return dict(opened.get("custom") or {})


async def _check_links(ts: TenantSession, entity: Entity, values: Mapping[str, Any]) -> None:
    """`record_type`/`record_id` carry no foreign key, so check the target here."""
    if "record_id" not in entity.field_map or "record_type" not in entity.field_map:
        return
    record_type, record_id = values.get("record_type"), values.get("record_id")
    if record_type is None and record_id is None:
        return
    if record_type is None or record_id is None:
        raise InvalidInput("record_type and record_id go together")
    if record_type not in RECORD_TYPES:
        raise InvalidInput(f"record_type must be one of {RECORD_TYPES}")
    target = BY_NAME[record_type]
    # FOR SHARE: the target cannot be deleted (or erased, which deletes what is linked to the
    # person and then shreds the key this row is about to be sealed under) until we commit.
    exists = await ts.db.execute(
        select(target.table.c.id)
        .where(target.table.c.tenant_id == ts.tenant_id, target.table.c.id == record_id)
        .with_for_update(read=True)
    )
    if exists.first() is None:
        raise InvalidInput(f"record_id: no {target.title} with id {record_id} in this workspace")


async def reindex_record(ts: TenantSession, entity: Entity, record_id: uuid.UUID) -> None:
    """Rebuild a record's blind-index tokens from its current values (after a raw restore)."""
    await _delete_index(ts, entity, record_id)
    rows = await _select_rows(ts, entity, entity.table.c.id == record_id)
    if rows and entity.searchable_fields:
        (opened,) = await ts.sealer.open_rows(ts, entity, rows)
        await _write_index(ts, entity, record_id, opened)


async def _write_index(
    ts: TenantSession, entity: Entity, record_id: uuid.UUID, values: Mapping[str, Any]
) -> None:
    rows = await ts.sealer.index_rows(ts, entity, record_id, values)
    if rows:
        await ts.db.execute(insert(_tokens), rows)


async def _delete_index(
    ts: TenantSession, entity: Entity, record_id: uuid.UUID, *, columns: Sequence[str] | None = None
) -> None:
    query = delete(_tokens).where(
        _tokens.c.tenant_id == ts.tenant_id,
        _tokens.c.table_name == entity.table_name,
        _tokens.c.record_id == record_id,
    )
    if columns is not None:
        query = query.where(_tokens.c.column_name.in_(columns))
    await ts.db.execute(query)


def sortable_columns(entity: Entity) -> list[str]:
    """Columns a list can be sorted by: plaintext and never null (so the cursor is total)."""
    return sorted(
        c.name
        for c in entity.table.c
        if not c.nullable and not c.info.get("sealed") and c.name != "tenant_id"
    )


def _sort_column(entity: Entity, sort: str) -> tuple[sa.Column[Any], bool]:
    descending = sort.startswith("-")
    name = sort.lstrip("-+")
    if name not in sortable_columns(entity):
        raise InvalidInput(
            f"cannot sort {entity.plural} by {name!r}; "
            f"sortable: {', '.join(sortable_columns(entity))}"
        )
    return entity.table.c[name], descending


def _encode_cursor(value: Any, record_id: uuid.UUID) -> str:
    raw = json.dumps(
        [value, str(record_id)],
        default=lambda v: v.isoformat() if hasattr(v, "isoformat") else str(v),
    )
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _after_cursor(entity: Entity, column: sa.Column[Any], descending: bool, cursor: str) -> Any:
    python_type: Any = column.type.python_type
    try:
        value, raw_id = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        record_id = uuid.UUID(raw_id)
        parse = getattr(python_type, "fromisoformat", python_type)
        value = parse(value)
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        raise MalformedCursor(
            "cursor is malformed; pass back the next_cursor you were given"
        ) from None
    key = sa.tuple_(column, entity.table.c.id)
    bound = sa.tuple_(sa.literal(value, column.type), sa.literal(record_id, sa.Uuid()))
    return key < bound if descending else key > bound


def _coerce(spec: FieldSpec, raw: Any) -> Any:
    try:
        return TypeAdapter(spec.python_type).validate_python(raw)
    except ValidationError as exc:
        raise InvalidInput(f"{spec.name}: {exc.errors()[0]['msg']}") from None


class _mapping_integrity_errors:
    """Run a write in a savepoint and turn constraint violations into domain errors.

    The savepoint keeps the surrounding transaction usable, so a tool call that fails on a bad
    reference does not poison the rest of the turn.
    """

    def __init__(self, ts: TenantSession, entity: Entity) -> None:
        self.ts = ts
        self.entity = entity
        self._savepoint: Any = None

    async def __aenter__(self) -> None:
        self._savepoint = await self.ts.db.begin_nested()

    async def __aexit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        if exc is None:
            await self._savepoint.commit()
            return
        await self._savepoint.rollback()
        if isinstance(exc, IntegrityError):
            raise _domain_error(self.entity, exc) from None


def _domain_error(entity: Entity, exc: IntegrityError) -> Exception:
    sqlstate = getattr(exc.orig, "sqlstate", None)
    constraint = getattr(getattr(exc.orig, "diag", None), "constraint_name", None) or ""
    if sqlstate == "23503":
        column = (
            constraint.rsplit("tenant_id_", 1)[-1] if "tenant_id_" in constraint else "a reference"
        )
        target = entity.field_map.get(column)
        what = (
            BY_TABLE[target.references].title
            if target and target.references in BY_TABLE
            else column
        )
        if constraint.startswith(f"fk_{entity.table_name}_"):
            return InvalidInput(f"{column}: no {what} with that id in this workspace")
        return Conflict(f"this {entity.title} is still referenced by other records ({constraint})")
    if sqlstate == "23505":
        return Conflict(f"a {entity.title} with the same unique values already exists")
    return InvalidInput(
        f"the {entity.title} breaks a rule of the schema ({constraint or sqlstate})"
    )
