"""The Nexus agent over the tools: what the model sees first, finding the rest, and the cost.

The payload test measures what the default tool list costs a real model: it runs the agent on
pydantic-ai's Anthropic model with a mock transport (no network), captures the exact request
body, and estimates tokens as JSON characters / 4 (Anthropic's token counter is an online API;
for JSON schemas the estimate errs high). The README reports the numbers this prints.
"""

import json
from typing import Any

import httpx2
import pydantic_ai.models
import pytest
from pydantic_ai import ModelMessage, ModelResponse, TextPart, ToolCallPart
from pydantic_ai.models.anthropic import AnthropicModel
from pydantic_ai.models.function import AgentInfo, FunctionModel
from pydantic_ai.providers.anthropic import AnthropicProvider

from agent.nexus import build_agent
from tools.catalog import CORE_TOOLS
from tools.toolset import FULL_SCHEMA, build_toolset, catalog

DEFAULT_PAYLOAD_BUDGET = 8_000  # estimated tokens for the tools loaded on the first request
DEFERRED = sorted(t["name"] for t in catalog(FULL_SCHEMA) if t["deferred"])


def _agent(role: str = "owner") -> Any:
    return build_agent(toolsets=[build_toolset(FULL_SCHEMA, role)])  # type: ignore[arg-type]


def test_the_first_request_offers_the_core_tools_only() -> None:
    seen: list[set[str]] = []

    def respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        seen.append({t.name for t in info.function_tools})
        return ModelResponse(parts=[TextPart("hello")])

    _agent().run_sync("hi", deps=None, model=FunctionModel(respond))
    assert seen == [set(CORE_TOOLS)]


def test_tool_search_reveals_a_deferred_tool_for_the_rest_of_the_run() -> None:
    seen: list[set[str]] = []

    def respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        seen.append({t.name for t in info.function_tools})
        if len(seen) == 1:
            return ModelResponse(
                parts=[ToolCallPart("search_tools", {"queries": ["merge contacts"]})]
            )
        return ModelResponse(parts=[TextPart("found it")])

    _agent().run_sync("merge the two Jane Does", deps=None, model=FunctionModel(respond))
    assert "merge_contacts" not in seen[0]
    assert "merge_contacts" in seen[1]


def test_every_deferred_tool_is_found_by_searching_its_name() -> None:
    """A deferred tool nobody can find is a tool nobody can use."""
    revealed: set[str] = set()

    def respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        if not revealed and len(messages) == 1:
            return ModelResponse(
                parts=[
                    ToolCallPart("search_tools", {"queries": [name.replace("_", " ")]})
                    for name in DEFERRED
                ]
            )
        revealed.update(t.name for t in info.function_tools)
        return ModelResponse(parts=[TextPart("ok")])

    _agent().run_sync("find everything", deps=None, model=FunctionModel(respond))
    assert set(DEFERRED) - revealed == set()


def _anthropic_request_tools(role: str) -> list[dict[str, Any]]:
    captured: list[dict[str, Any]] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        body = json.loads(request.content)
        captured.append(body)
        return httpx2.Response(
            200,
            json={
                "id": "msg_1",
                "type": "message",
                "role": "assistant",
                "model": body["model"],
                "content": [{"type": "text", "text": "ok"}],
                "stop_reason": "end_turn",
                "stop_sequence": None,
                "usage": {"input_tokens": 1, "output_tokens": 1},
            },
        )

    client = httpx2.AsyncClient(transport=httpx2.MockTransport(handler))
    model = AnthropicModel(
        "claude-sonnet-4-6", provider=AnthropicProvider(api_key="offline", http_client=client)
    )
    with pydantic_ai.models.override_allow_model_requests(True):  # the transport is a mock
        _agent(role).run_sync("hi", deps=None, model=model, model_settings={"max_tokens": 16})
    return captured[-1]["tools"]


def estimated_tokens(value: Any) -> int:
    return len(json.dumps(value, separators=(",", ":"))) // 4


@pytest.mark.parametrize("role", ["owner", "viewer"])
def test_the_default_tool_payload_stays_small(role: str) -> None:
    tools = _anthropic_request_tools(role)
    loaded = [t for t in tools if not t.get("defer_loading")]
    deferred = [t for t in tools if t.get("defer_loading")]
    loaded_tokens, all_tokens = estimated_tokens(loaded), estimated_tokens(tools)
    print(
        f"\n{role}: {len(loaded)} tools loaded ~{loaded_tokens} tokens; "
        f"{len(tools)} with the deferred ones ~{all_tokens} tokens"
    )
    assert any(t.get("type", "").startswith("tool_search") for t in loaded)
    assert {t["name"] for t in deferred} <= set(DEFERRED)
    assert loaded_tokens <= DEFAULT_PAYLOAD_BUDGET
    assert loaded_tokens < all_tokens / 3
