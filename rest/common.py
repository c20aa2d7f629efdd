"""What the plain HTTP endpoints share: the caller, and errors in the API's own shape."""

from __future__ import annotations

from datetime import date

from starlette.requests import Request
from starlette.responses import JSONResponse

from domain.errors import BadUserInput, Forbidden, WargaError
from domain.users import authenticate
from models import User
from models.enums import Role

# An error code's HTTP status outside GraphQL; any other code is the client's mistake (400).
HTTP_STATUS = {"UNAUTHENTICATED": 401, "FORBIDDEN": 403, "NOT_FOUND": 404, "RATE_LIMITED": 429,
               "SERVICE_UNAVAILABLE": 503, "QUERY_TIMEOUT": 504}  # fmt: skip
# The statuses a client retries (not its mistake): they carry Retry-After.
RETRIED = frozenset({429, 503, 504})


def retry_headers(exc: WargaError, status: int) -> dict[str, str]:
    return {"Retry-After": str(exc.extensions.get("retryAfter", 2))} if status in RETRIED else {}


def error_response(exc: WargaError) -> JSONResponse:
    """An error in the API's own shape, with its HTTP status (and Retry-After when retried)."""
    status = HTTP_STATUS.get(exc.code, 400)
    body = {"errors": [{"message": exc.message, "extensions": exc.extensions}]}
    return JSONResponse(body, status, headers=retry_headers(exc, status))


async def partner(request: Request) -> User:
    """AGENCY_PARTNER or ADMIN, by bearer token."""
    user = await authenticate(request.headers.get("authorization"))
    if user is None:
        from domain.errors import Unauthenticated

        raise Unauthenticated("A partner or admin bearer token is required.")
    if user.role not in (Role.AGENCY_PARTNER, Role.ADMIN):
        raise Forbidden("Exports are for partner agencies and admins.")
    return user


def query_date(request: Request, name: str) -> date | None:
    value = request.query_params.get(name)
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise BadUserInput(name, f"`{name}` must be a date like 2026-01-31.") from None


def query_list(request: Request, name: str) -> list[str]:
    """Repeated (?x=1&x=2) or comma-separated (?x=1,2) values."""
    return [v for raw in request.query_params.getlist(name) for v in raw.split(",") if v.strip()]
