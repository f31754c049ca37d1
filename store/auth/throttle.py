"""Failed sign-in attempts, counted per account and per client address in fixed windows.

Per account (the email as typed, whether or not it exists, so the answer never tells which
emails are registered): `ACCOUNT_LIMIT` failures in `WINDOW`, well under ASVS's 100 an hour.
Per address: `ADDRESS_LIMIT`, higher because offices share one address. Past a limit the caller
gets `Throttled` with the seconds left in the window (HTTP 429 + Retry-After), even with the
right password: guessing must stop, not merely fail. The lock ends with the window, so an
attacker cannot keep an account locked for longer than it takes the window to pass once they
stop; a success clears the account's counter.

Subjects are stored as SHA-256 digests: the table lists no email addresses or IPs.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from store.auth.digests import digest
from store.errors import Throttled
from store.models import AuthThrottle

WINDOW = timedelta(minutes=15)
ACCOUNT_LIMIT = 10
ADDRESS_LIMIT = 50
_throttle = AuthThrottle.__table__  # pyright: ignore[reportAttributeAccessIssue]


@dataclass(frozen=True)
class Subjects:
    """What one attempt counts against."""

    account: str | None  # lower-cased email, or None for a passkey attempt (no account named)
    address: str | None  # client address; None when unknown (tests, the CLI)

    def counters(self) -> list[tuple[str, str, int]]:
        found = []
        if self.account:
            found.append(("account", digest("account:" + self.account.lower()), ACCOUNT_LIMIT))
        if self.address:
            found.append(("address", digest("address:" + self.address), ADDRESS_LIMIT))
        return found


async def check(db: AsyncSession, subjects: Subjects, now: datetime) -> None:
    """Raise Throttled when any of the subjects is over its limit in the current window."""
    for scope, subject, limit in subjects.counters():
        row = (
            await db.execute(
                sa.select(_throttle.c.failures, _throttle.c.window_started_at).where(
                    _throttle.c.scope == scope, _throttle.c.subject == subject
                )
            )
        ).one_or_none()
        if row is None or row.window_started_at + WINDOW <= now or row.failures < limit:
            continue
        remaining = row.window_started_at + WINDOW - now
        raise Throttled(max(1, int(remaining.total_seconds()) + 1))


async def record_failure(db: AsyncSession, subjects: Subjects, now: datetime) -> None:
    """Count one failure against each subject, atomically (concurrent attempts all count)."""
    window_start = now - WINDOW
    for scope, subject, _ in subjects.counters():
        fresh = _throttle.c.window_started_at <= window_start
        statement = insert(_throttle).values(
            scope=scope, subject=subject, failures=1, window_started_at=now
        )
        statement = statement.on_conflict_do_update(
            index_elements=[_throttle.c.scope, _throttle.c.subject],
            set_={
                "failures": sa.case((fresh, 1), else_=_throttle.c.failures + 1),
                "window_started_at": sa.case((fresh, now), else_=_throttle.c.window_started_at),
            },
        )
        await db.execute(statement)


async def record_success(db: AsyncSession, subjects: Subjects) -> None:
    """A correct sign-in clears its account's counter (never the address's)."""
    if not subjects.account:
        return
    await db.execute(
        sa.update(_throttle)
        .where(
            _throttle.c.scope == "account",
            _throttle.c.subject == digest("account:" + subjects.account.lower()),
        )
        .values(failures=0)
    )
