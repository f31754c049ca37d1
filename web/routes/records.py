"""`/api/v1/{entity}` for every CRM entity: list, create, read, update, delete.

Routes are generated per entity (not one `{entity}` path parameter) so the OpenAPI document shows
each entity's own request and response schemas, derived from its table like the tools' schemas.
Reading needs `viewer`, writing `member`; the services check the same roles again.
"""

import uuid
from typing import Any

from fastapi import APIRouter, Header, Query, Request, Response
from pydantic import BaseModel, create_model

from store.entities import ENTITIES, Entity
from store.errors import InvalidInput
from store.services import records
from web.deps import MemberSession, Viewer
from web.routes.schemas import errors

router = APIRouter()
LIST_PARAMS = frozenset({"limit", "cursor", "q", "sort"})


def _page_model(entity: Entity) -> type[BaseModel]:
    return create_model(  # pyright: ignore[reportCallIssue, reportUnknownVariableType]
        f"{entity.public_model.__name__}Page",
        items=(list[entity.public_model], ...),  # pyright: ignore[reportInvalidTypeForm]
        next_cursor=(str | None, None),
    )


def _expected_version(if_match: str | None) -> int | None:
    """`If-Match: "3"` (or W/"3", or 3) -> 3; absent -> None (no concurrency check)."""
    if if_match is None:
        return None
    value = if_match.strip().removeprefix("W/").strip('"')
    try:
        return int(value)
    except ValueError:
        raise InvalidInput('If-Match: expected the record version, e.g. "3"') from None


def _etag(response: Response, record: BaseModel) -> None:
    response.headers["ETag"] = f'"{record.version}"'  # pyright: ignore[reportAttributeAccessIssue]


def _add_routes(entity: Entity) -> None:
    public = entity.public_model
    create_body = entity.create_model
    update_body = entity.update_model
    tag = entity.plural
    base = f"/api/v1/{entity.plural}"
    filters_doc = ", ".join(f.name for f in entity.fields if not f.sealed or f.search)

    async def list_(
        request: Request,
        ts: Viewer,
        limit: int = Query(records.DEFAULT_LIMIT, ge=1, le=records.MAX_LIMIT),
        cursor: str | None = Query(None, description="next_cursor of the previous page"),
        q: str | None = Query(None, description="Words or prefixes to search for"),
        sort: str = Query("-created_at", description="Column, '-' for descending"),
    ) -> Any:
        filters = {k: v for k, v in request.query_params.items() if k not in LIST_PARAMS}
        page = await records.list_records(
            ts, entity, filters=filters, q=q, sort=sort, limit=limit, cursor=cursor
        )
        return {"items": page.items, "next_cursor": page.next_cursor}

    async def create(body: create_body, response: Response, ts: MemberSession) -> Any:  # pyright: ignore[reportInvalidTypeForm]
        record = await records.create_record(ts, entity, body.model_dump(exclude_unset=True))
        _etag(response, record)
        return record

    async def read(record_id: uuid.UUID, response: Response, ts: Viewer) -> Any:
        record = await records.get_record(ts, entity, record_id)
        _etag(response, record)
        return record

    async def update(
        record_id: uuid.UUID,
        body: update_body,  # pyright: ignore[reportInvalidTypeForm]
        response: Response,
        ts: MemberSession,
        if_match: str | None = Header(None, description='Record version, e.g. "3"'),
    ) -> Any:
        record = await records.update_record(
            ts,
            entity,
            record_id,
            body.model_dump(exclude_unset=True),
            expected_version=_expected_version(if_match),
        )
        _etag(response, record)
        return record

    async def delete(record_id: uuid.UUID, ts: MemberSession) -> Any:
        return await records.delete_record(ts, entity, record_id)

    router.add_api_route(
        base,
        list_,
        methods=["GET"],
        response_model=_page_model(entity),
        summary=f"List {entity.plural}",
        description=f"Newest first. Filter by field with `?field=value` ({filters_doc}); "
        "`q` searches names and other searchable fields; a malformed cursor is a 400.",
        tags=[tag],
        responses=errors(400, 401, 403, 422),
        name=f"list_{entity.plural}",
    )
    router.add_api_route(
        base,
        create,
        methods=["POST"],
        response_model=public,
        status_code=201,
        summary=f"Create a {entity.title}",
        tags=[tag],
        responses=errors(401, 403, 409, 422),
        name=f"create_{entity.name}",
    )
    router.add_api_route(
        f"{base}/{{record_id}}",
        read,
        methods=["GET"],
        response_model=public,
        summary=f"Read a {entity.title}",
        description="The ETag header is the record version, for If-Match on PATCH.",
        tags=[tag],
        responses=errors(401, 403, 404),
        name=f"get_{entity.name}",
    )
    router.add_api_route(
        f"{base}/{{record_id}}",
        update,
        methods=["PATCH"],
        response_model=public,
        summary=f"Change a {entity.title}",
        description="Only the fields sent change. With If-Match, refused (409) when the record "
        "changed since that version.",
        tags=[tag],
        responses=errors(401, 403, 404, 409, 422),
        name=f"update_{entity.name}",
    )
    router.add_api_route(
        f"{base}/{{record_id}}",
        delete,
        methods=["DELETE"],
        response_model=public,
        summary=f"Delete a {entity.title}",
        description="A hard delete; the audit trail keeps the values. Answers what was deleted.",
        tags=[tag],
        responses=errors(401, 403, 404, 409),
        name=f"delete_{entity.name}",
    )


for _entity in ENTITIES:
    _add_routes(_entity)
