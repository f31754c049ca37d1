"""Turning tool bodies into pydantic-ai tools, the same way for generated and hand-written ones.

A `NexusTool` pairs a `ToolSpec` with a builder that makes the pydantic-ai `Tool` for one
`WorkspaceSchema` (its custom fields and integrations); a builder may return None when the tool
has no place in that workspace (`call_integration` without an integration).

Two shapes of body:

- `model_tool`: the body takes one pydantic model; pydantic-ai flattens its schema into the
  tool's parameters and validates the arguments into it (the generated tools).
- `domain_tool`: a plain `async def name(call, a: int, b: str = ...)` with a Google-style
  docstring; the docstring becomes the description the model reads and its `Args:` the
  parameter descriptions (the hand-written tools).

Either way the call goes through `tools.execution.execute`.
"""

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel
from pydantic_ai import RunContext, Tool
from pydantic_core import to_jsonable_python

from store.tenancy import Role
from tools.catalog import Effect, ToolSpec, WorkspaceSchema, default_role
from tools.deps import ToolDeps
from tools.execution import Preview, ToolCall, execute

MAX_RETRIES = 3


@dataclass(frozen=True)
class NexusTool:
    spec: ToolSpec
    build: Callable[[WorkspaceSchema], Tool[ToolDeps] | None] = field(repr=False)


ModelBody = Callable[[ToolCall, Any], Awaitable[Any]]
ModelPreview = Callable[[ToolCall, Any], Awaitable[Preview]]


def model_tool(
    spec: ToolSpec,
    model: type[BaseModel],
    body: ModelBody,
    preview: ModelPreview | None = None,
) -> Tool[ToolDeps]:
    """A tool whose arguments are one pydantic model (flattened into the tool's schema)."""

    async def run(ctx: RunContext[ToolDeps], args: Any) -> dict[str, Any]:
        async def call_body(call: ToolCall) -> Any:
            return await body(call, args)

        async def call_preview(call: ToolCall) -> Preview:
            assert preview is not None
            return await preview(call, args)

        return await execute(
            ctx,
            spec,
            args.model_dump(mode="json"),
            call_body,
            call_preview if preview else None,
        )

    run.__annotations__ = {"ctx": RunContext[ToolDeps], "args": model, "return": dict[str, Any]}
    return _tool(run, spec)


def domain_tool(
    *,
    entity: str | None,
    effect: Effect,
    min_role: Role | None = None,
    preview: Callable[..., Awaitable[Preview]] | None = None,
) -> Callable[[Callable[..., Awaitable[Any]]], NexusTool]:
    """Declare a hand-written tool: `async def name(call: ToolCall, ...)` with a docstring."""

    def declare(fn: Callable[..., Awaitable[Any]]) -> NexusTool:
        spec = ToolSpec(
            name=fn.__name__,
            entity=entity,
            effect=effect,
            min_role=min_role or default_role(effect),
            description=inspect.cleandoc(fn.__doc__ or "").split("\n\n")[0],
        )
        if spec.pauses and preview is None:
            raise TypeError(f"{spec.name} pauses for approval and needs a preview")
        return NexusTool(spec, lambda _schema: _signature_tool(spec, fn, preview))

    return declare


def _signature_tool(
    spec: ToolSpec,
    fn: Callable[..., Awaitable[Any]],
    preview: Callable[..., Awaitable[Preview]] | None,
) -> Tool[ToolDeps]:
    """Wrap `fn(call, **params)` as `tool(ctx, **params)`, keeping its parameters and docstring."""
    signature = inspect.signature(fn)
    params = list(signature.parameters.values())[1:]

    async def run(ctx: RunContext[ToolDeps], **kwargs: Any) -> dict[str, Any]:
        async def call_body(call: ToolCall) -> Any:
            return await fn(call, **kwargs)

        async def call_preview(call: ToolCall) -> Preview:
            assert preview is not None
            return await preview(call, **kwargs)

        return await execute(
            ctx,
            spec,
            to_jsonable_python(kwargs),
            call_body,
            call_preview if preview else None,
        )

    ctx_param = inspect.Parameter(
        "ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=RunContext[ToolDeps]
    )
    run.__signature__ = signature.replace(  # pyright: ignore[reportFunctionMemberAccess]
        parameters=[ctx_param, *params], return_annotation=dict[str, Any]
    )
    run.__annotations__ = {
        "ctx": RunContext[ToolDeps],
        **{p.name: p.annotation for p in params},
        "return": dict[str, Any],
    }
    run.__name__ = fn.__name__
    run.__qualname__ = fn.__qualname__
    run.__doc__ = fn.__doc__
    return _tool(run, spec, described_by_docstring=True)


def _tool(
    function: Callable[..., Any], spec: ToolSpec, *, described_by_docstring: bool = False
) -> Tool[ToolDeps]:
    return Tool(
        function,
        name=spec.name,
        description=None if described_by_docstring else spec.description,
        takes_ctx=True,
        max_retries=MAX_RETRIES,
        docstring_format="google",
        require_parameter_descriptions=described_by_docstring,
        metadata=spec.metadata(),
        defer_loading=spec.deferred,
    )
