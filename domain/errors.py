"""The error types a client can cause: one class per `extensions.code` of the contract."""

from __future__ import annotations

from typing import Any, ClassVar


class WargaError(Exception):
    """An error whose message is safe to show to the client."""

    code: ClassVar[str] = "INTERNAL_SERVER_ERROR"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    @property
    def extensions(self) -> dict[str, Any]:
        ext: dict[str, Any] = {"code": self.code}
        if self.field is not None:
            ext["field"] = self.field
        return ext


class Unauthenticated(WargaError):
    code = "UNAUTHENTICATED"

    def __init__(self, message: str = "You must be logged in to do this.") -> None:
        super().__init__(message)


class Forbidden(WargaError):
    code = "FORBIDDEN"

    def __init__(self, message: str = "You are not allowed to do this.") -> None:
        super().__init__(message)


class BadUserInput(WargaError):
    code = "BAD_USER_INPUT"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message, field=field)


class NotFound(WargaError):
    code = "NOT_FOUND"


class Conflict(WargaError):
    code = "CONFLICT"


class InvalidTransition(WargaError):
    code = "INVALID_TRANSITION"


class RateLimited(WargaError):
    code = "RATE_LIMITED"


class QueryTimeout(WargaError):
    """A read that went past its statement budget (domain.pagination.ReadBudget)."""

    code = "QUERY_TIMEOUT"

    def __init__(self) -> None:
        super().__init__("The query took too long; narrow the filter or ask for fewer rows.")


class ServiceUnavailable(WargaError):
    """The database or the broker is unreachable: nothing the client did, worth a retry."""

    code = "SERVICE_UNAVAILABLE"

    def __init__(self, retry_after: int = 2) -> None:
        super().__init__(f"The service is briefly unavailable; retry in {retry_after} s.")
        self.retry_after = retry_after

    @property
    def extensions(self) -> dict[str, Any]:
        return {**super().extensions, "retryAfter": self.retry_after}
