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
