"""Domain errors. Services raise these; `web` maps them to HTTP and `tools` to model retries.

Every message is safe to show to the person (or model) who made the request: no secrets,
no SQL, no other workspace's data.
"""


class DomainError(Exception):
    """Base of every error a service raises on purpose."""

    code = "error"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class NotFound(DomainError):
    code = "not_found"

    def __init__(self, entity: str, record_id: object) -> None:
        where = "" if entity == "workspace" else " in this workspace"
        super().__init__(f"No {entity} with id {record_id}{where}.")
        self.entity = entity
        self.record_id = record_id


class Conflict(DomainError):
    code = "conflict"


class Forbidden(DomainError):
    code = "forbidden"


class InvalidInput(DomainError):
    code = "invalid_input"


class WorkspaceRetired(DomainError):
    code = "workspace_retired"

    def __init__(self, tenant_id: object) -> None:
        super().__init__(
            f"Workspace {tenant_id} is retired: its key was destroyed and its data is unreadable."
        )


class KeyUnavailable(DomainError):
    """The key provider could not be reached or refused; retrying later may succeed."""

    code = "key_unavailable"
    retryable = True


class DecryptionFailed(DomainError):
    """A ciphertext did not authenticate under the key and context it claims."""

    code = "decryption_failed"


class StoreUnavailable(DomainError):
    """The database cannot be reached or started."""

    code = "store_unavailable"


class MalformedCursor(InvalidInput):
    """A list cursor that is not one this server handed out (HTTP answers 400, not 422)."""

    code = "invalid_cursor"


class Unauthenticated(DomainError):
    """No valid credential: not signed in, a wrong password, an expired session or token."""

    code = "unauthenticated"


class Throttled(DomainError):
    """Too many failed attempts; `retry_after` says how many seconds to wait."""

    code = "too_many_attempts"

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"Too many failed attempts. Try again in {retry_after} seconds.")
        self.retry_after = retry_after
