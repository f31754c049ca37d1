"""Roles inside a workspace, and the one check services use before privileged work."""

from store.errors import Forbidden
from store.tenancy import Role, TenantSession

ROLE_RANK: dict[Role, int] = {"viewer": 0, "member": 1, "admin": 2, "owner": 3}


def has_role(ts: TenantSession, minimum: Role) -> bool:
    """True when the session's person holds at least `minimum`; system actors always do."""
    return ts.role is None or ROLE_RANK[ts.role] >= ROLE_RANK[minimum]


def require_role(ts: TenantSession, minimum: Role, *, to: str) -> None:
    """Raise Forbidden unless the session's person holds at least `minimum`.

    Args:
        ts: the tenant session doing the work.
        minimum: the lowest role allowed.
        to: what is being attempted, for the error message ("delete contacts").
    """
    if not has_role(ts, minimum):
        raise Forbidden(f"your role ({ts.role}) cannot {to}; it needs {minimum} or above")
