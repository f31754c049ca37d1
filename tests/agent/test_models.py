"""Model selection: NEXUS_MODEL, the Anthropic default with a key, offline without; caching on."""

import pytest
from pydantic_ai.models.anthropic import AnthropicModel
from pydantic_ai.models.function import FunctionModel

from agent.models import DEFAULT_ANTHROPIC, choose_model, model_name_from_env


def test_offline_without_a_key() -> None:
    assert model_name_from_env({}) == "offline"
    choice = choose_model("offline")
    assert isinstance(choice.model, FunctionModel) and choice.provider.startswith("offline")


def test_anthropic_by_default_with_a_key() -> None:
    assert model_name_from_env({"ANTHROPIC_API_KEY": "sk-ant-test"}) == DEFAULT_ANTHROPIC


def test_nexus_model_wins() -> None:
    env = {"ANTHROPIC_API_KEY": "sk-ant-test", "NEXUS_MODEL": "offline"}
    assert model_name_from_env(env) == "offline"


def test_anthropic_caches_instructions_and_tools(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")  # built, never called
    choice = choose_model(DEFAULT_ANTHROPIC)
    assert isinstance(choice.model, AnthropicModel) and choice.provider == "anthropic"
    assert choice.settings["anthropic_cache_instructions"] is True  # type: ignore[typeddict-item]
    assert choice.settings["anthropic_cache_tool_definitions"] is True  # type: ignore[typeddict-item]
    assert choice.settings["max_tokens"] > 0 and choice.settings["request_timeout"] > 0
