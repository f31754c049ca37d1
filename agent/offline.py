"""The offline model: Nexus without a language model, for plain commands.

FlowGrid works without an API key. This pydantic-ai `FunctionModel` reads the latest user
message, matches it against a small documented grammar (docs/nexus-offline.md) and answers the
way a real model would: with calls to the SAME Nexus tools, one step at a time, reading each
tool result from the message history before deciding the next step. "move deal Acme renewal to
Negotiation" therefore becomes `search_deals(q="Acme renewal")`, then
`move_deal_stage(deal_id=<the id it found>, stage="Negotiation")`, then a Markdown answer.

Everything that makes the real model safe applies unchanged: the role checks, one tenant
transaction per call, approvals for deletes. The model is stateless: its whole state is the
message history, so a turn paused for approval resumes here like any other.
"""

import json
import re
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic_ai import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
    UserPromptPart,
)
from pydantic_ai.models.function import AgentInfo, DeltaToolCall, FunctionModel

MODEL_NAME = "offline"
ENABLE_FULL = (
    "For free-form requests, enable the full assistant: set `ANTHROPIC_API_KEY` (and optionally "
    "`NEXUS_MODEL`) and restart FlowGrid."
)

HELP = f"""\
I'm Nexus in **offline mode**: I understand these commands.

| command | example |
|---|---|
| `add contact FIRST LAST [email E] [phone P] [title T]` | `add contact Ada Lovelace email ada@example.com` |
| `add company NAME [domain D]` | `add company Acme Ltd domain acme.example` |
| `add deal NAME [amount N]` | `add deal Acme renewal amount 12000` |
| `add task TITLE` | `add task Call Ada back` |
| `find contacts\\|companies\\|deals\\|tasks WORDS` | `find contacts ada` |
| `find WORDS` | `find acme` (everything) |
| `show contact\\|company\\|deal NAME` | `show contact Ada Lovelace` |
| `update contact\\|company\\|deal\\|task NAME set FIELD to VALUE` | `update contact Ada set title to CTO` |
| `delete contact\\|company\\|deal\\|task NAME` | `delete deal Acme renewal` (asks for approval) |
| `move deal NAME to STAGE` | `move deal Acme renewal to Negotiation` |
| `log call with NAME: NOTES` | `log call with Ada Lovelace: talked pricing` |
| `show pipeline` | deals by stage with totals |
| `help` | this list |

{ENABLE_FULL}
"""

KINDS = {
    "contact": "contacts",
    "contacts": "contacts",
    "company": "companies",
    "companies": "companies",
    "deal": "deals",
    "deals": "deals",
    "task": "tasks",
    "tasks": "tasks",
}
SINGULAR = {"contacts": "contact", "companies": "company", "deals": "deal", "tasks": "task"}
# Fields a person may name in `update ... set FIELD to VALUE`, per kind.
UPDATABLE = {
    "contacts": ("first_name", "last_name", "email", "phone", "title", "notes"),
    "companies": ("name", "domain", "industry", "phone", "address", "notes"),
    "deals": ("name", "amount", "currency", "close_date", "notes", "lost_reason"),
    "tasks": ("title", "description", "status", "priority", "due_at"),
}
# Columns shown in search tables, per kind.
COLUMNS = {
    "contacts": ("first_name", "last_name", "email", "phone", "title"),
    "companies": ("name", "domain", "industry"),
    "deals": ("name", "amount", "currency", "status"),
    "tasks": ("title", "status", "priority", "due_at"),
}


@dataclass
class Plan:
    """What a command needs: a lookup (optional), then one action, then an answer.

    Attributes:
        lookup: `(search tool, query)` that finds the record the action needs.
        action: Builds the action's `(tool name, args)` from the record found (or None).
        answer: Builds the final Markdown from the action's result.
        kind: The plural kind of record the command is about.
    """

    kind: str = ""
    lookup: tuple[str, str] | None = None
    action: Callable[[dict[str, Any] | None], tuple[str, dict[str, Any]]] | None = None
    answer: Callable[[Any], str] | None = None
    text: str | None = None  # a final answer that needs no tool at all
    needs: list[str] = field(default_factory=list)


# --- the model -----------------------------------------------------------------------------


def offline_model() -> FunctionModel:
    """The offline model, usable by `agent.run`, `run_stream` and `run_stream_events`."""
    return FunctionModel(respond, stream_function=stream, model_name=MODEL_NAME)


async def stream(messages: list[ModelMessage], info: AgentInfo) -> AsyncIterator[Any]:
    """Streaming form of `respond`: text in word-sized chunks, tool calls whole."""
    response = respond(messages, info)
    calls = [p for p in response.parts if isinstance(p, ToolCallPart)]
    if calls:
        for index, call in enumerate(calls):
            yield {
                index: DeltaToolCall(
                    name=call.tool_name,
                    json_args=json.dumps(call.args_as_dict()),
                    tool_call_id=call.tool_call_id,
                )
            }
        return
    text = "".join(p.content for p in response.parts if isinstance(p, TextPart))
    for chunk in re.findall(r"\S+\s*|\s+", text):
        yield chunk


def respond(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    """The next step of the current command, from the history of this turn."""
    prompt, returns = _this_turn(messages)
    plan = parse(prompt)
    if plan.text is not None:
        return _text(plan.text)
    visible = {t.name for t in info.function_tools}

    # Tools the role does not have, or that load late, are found through tool search first.
    wanted = [n for n in plan.needs if n not in visible]
    if wanted and "search_tools" not in returns:
        return _call("search_tools", {"queries": [n.replace("_", " ") for n in wanted]})

    found: dict[str, Any] | None = None
    if plan.lookup is not None:
        tool, query = plan.lookup
        if tool not in returns:
            return _call(tool, {"q": query, "limit": 10})
        outcome, data = returns[tool]
        if outcome != "success":
            return _text(_failure(tool, data))
        items = _items(data)
        found = _pick(items, query, plan.kind)
        if found is None:
            if not items:
                return _text(f"I found no {SINGULAR[plan.kind]} matching **{_md(query)}**.")
            return _text(
                f"More than one {SINGULAR[plan.kind]} matches **{_md(query)}**; "
                f"please name one exactly:\n\n{table(items, COLUMNS[plan.kind])}"
            )
        if plan.action is None and plan.answer is not None:
            return _text(plan.answer(found))

    assert plan.action is not None and plan.answer is not None
    tool, args = plan.action(found)
    if tool not in returns:
        return _call(tool, args)
    outcome, data = returns[tool]
    if outcome == "denied":
        return _text(f"Not done: {_md(_plain(data))}")
    if outcome != "success":
        return _text(_failure(tool, data))
    return _text(plan.answer(data))


def _this_turn(messages: list[ModelMessage]) -> tuple[str, dict[str, tuple[str, Any]]]:
    """The latest user prompt and `{tool name: (outcome, data)}` of the calls since then."""
    prompt = ""
    returns: dict[str, tuple[str, Any]] = {}
    for message in messages:
        if not isinstance(message, ModelRequest):
            continue
        for part in message.parts:
            if isinstance(part, UserPromptPart) and isinstance(part.content, str):
                prompt, returns = part.content, {}
            elif isinstance(part, ToolReturnPart):
                content = part.content
                data = content.get("data") if isinstance(content, dict) else content
                returns[part.tool_name] = (part.outcome, data)
    return prompt.strip(), returns


def _call(tool: str, args: dict[str, Any]) -> ModelResponse:
    return ModelResponse(
        parts=[ToolCallPart(tool, args, tool_call_id=f"off_{uuid.uuid4().hex[:16]}")],
        model_name=MODEL_NAME,
    )


def _text(text: str) -> ModelResponse:
    return ModelResponse(parts=[TextPart(text)], model_name=MODEL_NAME)


# --- the grammar ---------------------------------------------------------------------------

_OPTION = re.compile(r"\s+(email|phone|title|domain|amount)\s+", re.IGNORECASE)


def parse(prompt: str) -> Plan:
    """The plan for one command (a Plan with `text` when nothing needs a tool)."""
    text = " ".join(prompt.split())
    lower = text.lower()
    if lower in ("", "help", "?", "commands", "/help"):
        return Plan(text=HELP)
    for pattern, build in _RULES:
        match = pattern.fullmatch(text)
        if match:
            return build(match)
    return Plan(
        text=(
            f"Sorry, I did not understand **{_md(text[:200])}**. I'm running in offline mode "
            "and only know a few plain commands; type `help` to see them.\n\n" + ENABLE_FULL
        )
    )


def _options(rest: str) -> tuple[str, dict[str, str]]:
    """`Ada Lovelace email a@b.c title CTO` -> ("Ada Lovelace", {email:..., title:...})."""
    pieces = _OPTION.split(" " + rest)
    head, options = pieces[0].strip(), {}
    for key, value in zip(pieces[1::2], pieces[2::2], strict=False):
        options[key.lower()] = value.strip()
    return head, options


def _add(match: re.Match[str]) -> Plan:
    kind = KINDS[match["kind"].lower()]
    name, options = _options(match["rest"])
    if kind == "contacts":
        first, _, last = name.partition(" ")
        values = {"first_name": first, "last_name": last or None}
        values |= {k: options[k] for k in ("email", "phone", "title") if k in options}
        tool, label = "create_contact", "contact"
    elif kind == "companies":
        values = {"name": name} | ({"domain": options["domain"]} if "domain" in options else {})
        tool, label = "create_company", "company"
    elif kind == "deals":
        values = {"name": name} | ({"amount": options["amount"]} if "amount" in options else {})
        tool, label = "create_deal", "deal"
    else:
        values, tool, label = {"title": match["rest"].strip()}, "create_task", "task"
    values = {k: v for k, v in values.items() if v}

    def answer(data: Any) -> str:
        return f"Added the {label} **{_md(_label(data, kind))}**.\n\n{record_table(data, kind)}"

    return Plan(kind=kind, action=lambda _: (tool, values), answer=answer, needs=[tool])


def _find(match: re.Match[str]) -> Plan:
    kind = KINDS.get((match["kind"] or "").lower())
    words = (match["rest"] or "").strip()
    if kind is None:
        return Plan(
            action=lambda _: ("search_records", {"q": words}),
            answer=lambda data: _everything(data, words),
            needs=["search_records"],
        )
    tool = f"search_{kind}"

    def answer(data: Any) -> str:
        items = _items(data)
        what = f" match **{_md(words)}**" if words else ""
        if not items:
            return f"No {kind}{what}."
        return f"{len(items)} {kind}{what}:\n\n{table(items, COLUMNS[kind])}"

    return Plan(
        kind=kind,
        action=lambda _: (tool, {"q": words, "limit": 20} if words else {"limit": 20}),
        answer=answer,
        needs=[tool],
    )


def _show(match: re.Match[str]) -> Plan:
    kind = KINDS[match["kind"].lower()]
    name = match["rest"].strip()
    return Plan(
        kind=kind,
        lookup=(f"search_{kind}", name),
        answer=lambda found: record_details(found, kind),
        needs=[f"search_{kind}"],
    )


def _update(match: re.Match[str]) -> Plan:
    kind = KINDS[match["kind"].lower()]
    name, column, value = match["rest"].strip(), match["field"].lower(), match["value"].strip()
    column = column.replace(" ", "_")
    if column not in UPDATABLE[kind]:
        fields = ", ".join(f"`{f}`" for f in UPDATABLE[kind])
        return Plan(text=f"I can change these fields of a {SINGULAR[kind]}: {fields}.")
    tool = f"update_{SINGULAR[kind]}"

    def answer(data: Any) -> str:
        record = data.get("updated", data) if isinstance(data, dict) else data
        return (
            f"Updated the {SINGULAR[kind]} **{_md(_label(record, kind))}**: "
            f"`{column}` is now **{_md(value)}**."
        )

    return Plan(
        kind=kind,
        lookup=(f"search_{kind}", name),
        action=lambda found: (tool, {"id": _id(found), "changes": {column: value}}),
        answer=answer,
        needs=[f"search_{kind}", tool],
    )


def _delete(match: re.Match[str]) -> Plan:
    kind = KINDS[match["kind"].lower()]
    name = match["rest"].strip()
    tool = f"delete_{SINGULAR[kind]}"
    return Plan(
        kind=kind,
        lookup=(f"search_{kind}", name),
        action=lambda found: (tool, {"id": _id(found)}),
        answer=lambda _: f"Deleted the {SINGULAR[kind]} **{_md(name)}**.",
        needs=[f"search_{kind}", tool],
    )


def _move(match: re.Match[str]) -> Plan:
    name, stage = match["name"].strip(), match["stage"].strip()

    def answer(data: Any) -> str:
        return f"Moved the deal **{_md(_label(data, 'deals'))}** to **{_md(stage)}**."

    return Plan(
        kind="deals",
        lookup=("search_deals", name),
        action=lambda found: ("move_deal_stage", {"deal_id": _id(found), "stage": stage}),
        answer=answer,
        needs=["search_deals", "move_deal_stage"],
    )


def _log_call(match: re.Match[str]) -> Plan:
    name, notes = match["name"].strip(), (match["notes"] or "").strip()

    def action(found: dict[str, Any] | None) -> tuple[str, dict[str, Any]]:
        args: dict[str, Any] = {
            "record_type": "contact",
            "record_id": _id(found),
            "kind": "call",
            "subject": f"Call with {name}",
        }
        if notes:
            args["body"] = notes
        return "log_activity", args

    return Plan(
        kind="contacts",
        lookup=("search_contacts", name),
        action=action,
        answer=lambda _: f"Logged a call with **{_md(name)}**.",
        needs=["search_contacts", "log_activity"],
    )


def _pipeline(_: re.Match[str]) -> Plan:
    return Plan(
        action=lambda _: ("pipeline_summary", {}),
        answer=pipeline_table,
        needs=["pipeline_summary"],
    )


_KIND = r"(?P<kind>contacts?|compan(?:y|ies)|deals?|tasks?)"
_RULES: list[tuple[re.Pattern[str], Callable[[re.Match[str]], Plan]]] = [
    (re.compile(r"(?:show|view)\s+(?:the\s+)?pipeline", re.I), _pipeline),
    (re.compile(rf"(?:add|create|new)\s+{_KIND}\s+(?P<rest>.+)", re.I), _add),
    (re.compile(rf"(?:find|search|list)\s+{_KIND}(?:\s+(?P<rest>.*\S))?", re.I), _find),
    (re.compile(r"(?:find|search)\s+(?P<kind>)(?P<rest>.*\S)", re.I), _find),
    (re.compile(rf"(?:show|open|get)\s+{_KIND}\s+(?P<rest>.+)", re.I), _show),
    (
        re.compile(
            rf"(?:update|change|set)\s+{_KIND}\s+(?P<rest>.+?)\s+set\s+(?P<field>[a-z_ ]+?)"
            r"\s+(?:to|=)\s+(?P<value>.+)",
            re.I,
        ),
        _update,
    ),
    (re.compile(rf"(?:delete|remove)\s+{_KIND}\s+(?P<rest>.+)", re.I), _delete),
    (re.compile(r"move\s+deal\s+(?P<name>.+?)\s+to\s+(?P<stage>.+)", re.I), _move),
    (
        re.compile(r"log\s+(?:a\s+)?call\s+with\s+(?P<name>[^:]+?)(?:\s*:\s*(?P<notes>.*))?", re.I),
        _log_call,
    ),
]


# --- reading tool results ------------------------------------------------------------------


def _items(data: Any) -> list[dict[str, Any]]:
    if isinstance(data, dict) and isinstance(data.get("items"), list):
        return [i for i in data["items"] if isinstance(i, dict)]
    if isinstance(data, list):
        return [i for i in data if isinstance(i, dict)]
    return []


def _label(record: Any, kind: str) -> str:
    if not isinstance(record, dict):
        return str(record)
    if kind == "contacts":
        return " ".join(str(record.get(k) or "") for k in ("first_name", "last_name")).strip()
    return str(record.get("title") or record.get("name") or record.get("id", ""))


def _pick(items: list[dict[str, Any]], query: str, kind: str) -> dict[str, Any] | None:
    """The one record a name means: the only match, or the only exact (case-blind) match."""
    if len(items) == 1:
        return items[0]
    exact = [i for i in items if _label(i, kind).lower() == query.lower()]
    return exact[0] if len(exact) == 1 else None


def _id(found: dict[str, Any] | None) -> str:
    assert found is not None
    return str(found["id"])


def _plain(data: Any) -> str:
    return data if isinstance(data, str) else json.dumps(data, default=str)[:500]


def _failure(tool: str, data: Any) -> str:
    return f"`{tool}` did not work: {_md(_plain(data))}"


# --- Markdown ------------------------------------------------------------------------------


def _md(value: Any) -> str:
    """A value as inline Markdown text: table pipes and line breaks neutralised."""
    return str(value).replace("|", "\\|").replace("\r", " ").replace("\n", " ").strip()


def _cell(value: Any) -> str:
    if isinstance(value, dict):
        value = ", ".join(f"{k} {v}" for k, v in value.items())
    return _md(value) if value not in (None, "") else "—"


def table(items: list[dict[str, Any]], columns: tuple[str, ...]) -> str:
    """A Markdown table of records."""
    head = "| " + " | ".join(c.replace("_", " ") for c in columns) + " |"
    rule = "|" + "---|" * len(columns)
    rows = ["| " + " | ".join(_cell(i.get(c)) for c in columns) + " |" for i in items]
    return "\n".join([head, rule, *rows])


def record_table(record: Any, kind: str) -> str:
    if not isinstance(record, dict):
        return ""
    return table([record], COLUMNS.get(kind, ("id",)))


def record_details(record: dict[str, Any], kind: str) -> str:
    """One record in full: a two-column table, then its notes as a quoted paragraph."""
    lines = [
        f"**{_md(_label(record, kind))}** ({SINGULAR.get(kind, kind)})",
        "",
        "| field | value |",
        "|---|---|",
    ]
    for key, value in record.items():
        if key in ("notes", "description", "custom") or value in (None, "", {}):
            continue
        lines.append(f"| {key.replace('_', ' ')} | {_cell(value)} |")
    text = record.get("notes") or record.get("description")
    if text:
        lines += ["", "Notes:", "", *(f"> {line}" for line in str(text).splitlines())]
    return "\n".join(lines)


def pipeline_table(data: Any) -> str:
    stages = data.get("stages", []) if isinstance(data, dict) else []
    if not stages:
        return "The pipeline has no stages yet."
    rows = [
        {"stage": s.get("stage"), "deals": s.get("deals", 0), "amount": s.get("amount") or "—"}
        for s in stages
    ]
    return "The pipeline, by stage:\n\n" + table(rows, ("stage", "deals", "amount"))


def _everything(data: Any, words: str) -> str:
    items = _items(data) or (data.get("results") if isinstance(data, dict) else None) or []
    if not items:
        return f"Nothing matches **{_md(words)}**."
    columns = tuple(k for k in ("type", "label") if any(k in i for i in items)) or ("id",)
    return f"Found for **{_md(words)}**:\n\n{table(items, columns)}"
