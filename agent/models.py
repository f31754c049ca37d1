"""Which model Nexus talks to, and with which settings and limits.

`NEXUS_MODEL` names a pydantic-ai model (`anthropic:claude-sonnet-4-6`, ...) or `offline`.
Unset, Nexus uses Claude Sonnet when `ANTHROPIC_API_KEY` is set and the offline model
(agent/offline.py) otherwise, so the product works with no key at all. Nothing here reaches the
network: Anthropic models are built lazily and only called by a run.
"""

import os
from dataclasses import dataclass
from typing import Any

from pydantic_ai import UsageLimits
from pydantic_ai.models import Model, infer_model
from pydantic_ai.settings import ModelSettings

from agent.offline import MODEL_NAME as OFFLINE
from agent.offline import offline_model

DEFAULT_ANTHROPIC = "anthropic:claude-sonnet-4-6"

# A turn that needs more than this is a loop, not work: stop it and say so.
USAGE_LIMITS = UsageLimits(request_limit=12, tool_calls_limit=24)
# Whole turn (all model requests and tool calls); the client sees an `error` event after it.
TURN_TIMEOUT_SECONDS = 120.0
REQUEST_TIMEOUT_SECONDS = 60.0
MAX_OUTPUT_TOKENS = 4096


@dataclass(frozen=True)
class ModelChoice:
    """The model of a run and how to describe it (the trust page shows `provider`)."""

    name: str
    provider: str
    model: Model | str
    settings: ModelSettings


def model_name_from_env(env: dict[str, str] | None = None) -> str:
    """`NEXUS_MODEL`, else Sonnet when an Anthropic key is present, else `offline`."""
    env = dict(os.environ) if env is None else env
    chosen = (env.get("NEXUS_MODEL") or "").strip()
    if chosen:
        return chosen
    return DEFAULT_ANTHROPIC if env.get("ANTHROPIC_API_KEY") else OFFLINE


def choose_model(name: str | None = None) -> ModelChoice:
    """The model for a name (see `model_name_from_env`), with its settings.

    Anthropic models cache the instructions and the tool definitions (they are the same on
    every request of a workspace), which cuts the cost and latency of every turn after the
    first.
    """
    name = name or model_name_from_env()
    if name == OFFLINE:
        return ModelChoice(OFFLINE, "offline (no model provider)", offline_model(), {})
    provider = name.split(":", 1)[0] if ":" in name else "unknown"
    settings: dict[str, Any] = {
        "max_tokens": MAX_OUTPUT_TOKENS,
        "request_timeout": REQUEST_TIMEOUT_SECONDS,
    }
    if provider == "anthropic":
        settings |= {
            "anthropic_cache_instructions": True,
            "anthropic_cache_tool_definitions": True,
        }
    # infer_model builds the provider client (reading its API key) but sends nothing.
    return ModelChoice(name, provider, infer_model(name), settings)  # pyright: ignore[reportArgumentType]
