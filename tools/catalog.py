"""What every tool is, apart from what it does: its effect, who may call it, whether it loads late.

Effects, in rising order of risk:

- `read`: looks, changes nothing.
- `write`: an ordinary, audited, undoable change to one record or a few.
- `destructive`: deletes, erasures, merges and bulk changes. It pauses for a person's approval
  bound to its exact arguments and a snapshot of the records it touches.
- `egress`: sends workspace data out of FlowGrid (only `call_integration`). It pauses too.

A run sees only the tools its caller's role allows (viewer: reads; member: everything but the
admin tools; admin and owner: all), and the executor checks the role again on every call, so a
model that names a tool it was not offered still gets nothing.

Large catalogs cost tokens and choice quality (Twenty offers 314 tools). The core tools a small
sales team uses every day are always loaded; the rest are `deferred`: the model finds them with
pydantic-ai's tool search and they stay loaded for the rest of the run.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from store.services.access import ROLE_RANK
from store.tenancy import Role

Effect = Literal["read", "write", "destructive", "egress"]
EFFECTS: tuple[Effect, ...] = ("read", "write", "destructive", "egress")
PAUSING: frozenset[Effect] = frozenset({"destructive", "egress"})

# Loaded in every run; everything else waits for tool search.
CORE_TOOLS = frozenset(
    {
        "search_records",
        "search_contacts",
        "get_contact",
        "create_contact",
        "update_contact",
        "search_companies",
        "get_company",
        "create_company",
        "update_company",
        "search_deals",
        "get_deal",
        "create_deal",
        "update_deal",
        "move_deal_stage",
        "mark_deal_won",
        "mark_deal_lost",
        "search_tasks",
        "create_task",
        "complete_task",
        "my_tasks",
        "log_activity",
        "list_pipelines",
        "pipeline_summary",
    }
)

# Entities that also get a generated `bulk_update_<plural>` tool.
BULK_ENTITIES = ("contact", "company", "deal", "task")


@dataclass(frozen=True)
class ToolSpec:
    """The metadata of one tool; `metadata()` is what pydantic-ai carries on its definition."""

    name: str
    entity: str | None
    effect: Effect
    min_role: Role
    description: str

    @property
    def deferred(self) -> bool:
        return self.name not in CORE_TOOLS

    @property
    def pauses(self) -> bool:
        return self.effect in PAUSING

    def allows(self, role: Role) -> bool:
        return ROLE_RANK[role] >= ROLE_RANK[self.min_role]

    def metadata(self) -> dict[str, object]:
        return {
            "entity": self.entity,
            "effect": self.effect,
            "min_role": self.min_role,
            "deferred": self.deferred,
        }


def default_role(effect: Effect) -> Role:
    """The lowest role for an effect, unless a tool asks for more (admin tools)."""
    return "viewer" if effect == "read" else "member"


@dataclass(frozen=True)
class WorkspaceSchema:
    """What makes one workspace's tools differ from another's: its custom fields, and the
    entities its integrations may receive. Frozen and hashable, so tools built for it are cached.
    """

    custom_fields: tuple[tuple[str, tuple[tuple[str, str, str, tuple[str, ...]], ...]], ...] = ()
    egress_entities: tuple[str, ...] = ()

    @classmethod
    def of(
        cls,
        custom_fields: Mapping[str, Sequence[Mapping[str, Any]]],
        egress_entities: Sequence[str],
    ) -> "WorkspaceSchema":
        frozen = tuple(
            (
                entity,
                tuple(
                    (d["key"], d["label"], d["type"], tuple(d.get("options") or ()))
                    for d in definitions
                ),
            )
            for entity, definitions in sorted(custom_fields.items())
        )
        return cls(frozen, tuple(sorted(egress_entities)))

    def custom(self, entity: str) -> list[dict[str, Any]]:
        for name, definitions in self.custom_fields:
            if name == entity:
                return [
                    {"key": k, "label": label, "type": t, "options": list(o) or None}
                    for k, label, t, o in definitions
                ]
        return []
