"""Open311 GeoReport v2 (JSON) under /open311/v2/, so existing civic tools can read Warga's
reports and post new ones with an API key issued to their app."""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from domain import apikeys, validate
from domain.catalog import catalog
from domain.errors import BadUserInput, NotFound, WargaError
from domain.faults import classify
from domain.readgate import client_key
from domain.report import NewReport, ReportQuery, create_report, get_visible, search_reports
from domain.rollups import JAKARTA
from domain.tx import now
from domain.users import viewer_of
from domain.visibility import can_see_report
from models import Media, Report, StatusChange
from models.enums import ReportStatus
from rest.common import HTTP_STATUS, retry_headers
from schema.admission import client_address
from schema.context import read_budget

CLOSED = {ReportStatus.CLOSED, ReportStatus.REJECTED, ReportStatus.DUPLICATE}
MAX_RESULTS = 1000
DEFAULT_DAYS = 90
MAX_ID = 2**31 - 1  # report ids are INTEGER columns: a larger id names no report


# The spec answers a missing or bad api_key with 403.
STATUS = {**HTTP_STATUS, "UNAUTHENTICATED": 403}


def _error(status: int, description: str) -> JSONResponse:
    return JSONResponse([{"code": status, "description": description}], status_code=status)


def _errors(handler: Callable[[Request], Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
    """Errors as the spec says: an array of {code, description} with the HTTP status; a
    database or broker fault (domain.faults) is one too, 503 or 504 with Retry-After."""

    async def wrapped(request: Request) -> Response:
        try:
            return await handler(request)
        except NotFound as exc:
            return _error(404, exc.message)
        except (UnicodeError, OverflowError):  # undecodable body or an absurd date: the client's input
            return _error(400, "the request holds a value that cannot be read")
        except Exception as raised:
            exc = raised if isinstance(raised, WargaError) else classify(raised)
            if exc is None:
                raise  # a bug: server.bug logs it, 500
            status = STATUS.get(exc.code, 400)
            field = f"{exc.field}: " if exc.field else ""
            response = _error(status, field + exc.message)
            response.headers.update(retry_headers(exc, status))
            return response

    return wrapped


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(JAKARTA).isoformat() if value else None


def _service(category: Any) -> dict[str, Any]:
    agency = catalog().agencies.get(category.agency_id)
    return {
        "service_code": category.code,
        "service_name": category.name,
        "description": f"{category.name_en}. Target penyelesaian {category.sla_hours} jam.",
        "metadata": False,
        "type": "realtime",
        "keywords": category.code.replace("-", ","),
        "group": agency.name if agency else None,
    }


async def discovery(request: Request) -> Response:
    base = str(request.base_url).rstrip("/")
    return JSONResponse(
        {
            "changeset": "2026-11-27T00:00:00+07:00",
            "contact": "Warga, citizen reporting for Jakarta",
            "key_service": "API keys are issued by an administrator (issueApiKey / warga api-key issue)",
            "endpoints": [
                {
                    "specification": "http://wiki.open311.org/GeoReport_v2",
                    "url": f"{base}/open311/v2",
                    "changeset": "2026-11-27T00:00:00+07:00",
                    "type": "production",
                    "formats": ["application/json"],
                }
            ],
        }
    )


async def services(request: Request) -> Response:
    return JSONResponse([_service(c) for c in catalog().categories.values()])


@_errors
async def service_definition(request: Request) -> Response:
    code = request.path_params["code"]
    if not any(c.code == code for c in catalog().categories.values()):
        raise NotFound(f"No service with code {code!r}.")
    return JSONResponse({"service_code": code, "attributes": []})


async def _requests(reports: list[Report], request: Request) -> list[dict[str, Any]]:
    """GeoReport request objects for a page of reports, in three queries."""
    ids = [r.id for r in reports]
    notes: dict[int, str] = {}
    for change in await StatusChange.filter(report_id__in=ids, note__not_isnull=True).order_by("id"):
        notes[change.report_id] = change.note  # type: ignore[attr-defined,assignment]
    media: dict[int, str] = {}
    for m in await Media.filter(report_id__in=ids, status_change_id=None).order_by("-id"):
        media[m.report_id] = m.path  # type: ignore[attr-defined]
    base = str(request.base_url).rstrip("/")
    cat = catalog()
    out = []
    for r in reports:
        category = cat.categories[r.category_id]  # type: ignore[attr-defined]
        agency = cat.agencies.get(r.agency_id) if r.agency_id else None  # type: ignore[attr-defined]
        kel = cat.regions[r.kelurahan_id]  # type: ignore[attr-defined]
        place = ", ".join(x.name for x in cat.ancestors(kel.id)[:3])
        out.append(
            {
                "service_request_id": str(r.id),
                "status": "closed" if r.status in CLOSED else "open",
                "status_notes": notes.get(r.id),
                "service_name": category.name,
                "service_code": category.code,
                "description": r.description,
                "agency_responsible": agency.name if agency else None,
                "service_notice": f"Status: {r.status}" + (f", target {_iso(r.due_at)}" if r.due_at else ""),
                "requested_datetime": _iso(r.created_at),
                "updated_datetime": _iso(r.updated_at),
                "expected_datetime": _iso(r.due_at),
                "address": f"{r.address}, {place}" if r.address else place,
                "address_id": kel.code,
                "zipcode": None,
                "lat": r.lat,
                "long": r.lng,
                "media_url": f"{base}/media/{media[r.id]}" if r.id in media else None,
            }
        )
    return out


def _report_id(raw: str) -> int | None:
    """A service_request_id as a report id, or None when it cannot name a report."""
    if len(raw) > 12 or not validate.digits(raw):
        return None
    number = int(raw)
    return number if 0 < number <= MAX_ID else None


def _when(request: Request, name: str) -> datetime | None:
    value = request.query_params.get(name)
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        parsed = parsed if parsed.tzinfo else parsed.replace(tzinfo=JAKARTA)
        parsed.astimezone(UTC)  # an offset that pushes it out of years 1..9999 is malformed too
    except (ValueError, OverflowError):
        raise BadUserInput(name, "must be an ISO 8601 date-time") from None
    return parsed


def _window(request: Request) -> tuple[datetime, datetime] | None:
    """GeoReport v2: start_date alone runs from then to now, end_date alone covers the DEFAULT_DAYS
    before it, neither the last DEFAULT_DAYS; an empty range (start after end, e.g. a start in
    the future) is None: an empty list, not an error."""
    start, end = _when(request, "start_date"), _when(request, "end_date")
    end = end or now()
    if start is None:
        try:
            start = end - timedelta(days=DEFAULT_DAYS)
        except OverflowError:  # an end_date in year 1
            start = datetime.min.replace(tzinfo=UTC)
    return (start, end) if start <= end else None


@_errors
async def list_requests(request: Request) -> Response:
    """Public: what a signed-out viewer of the feed may see (domain.report.search_reports)."""
    q = request.query_params
    if q.get("service_request_id"):
        raw_ids = [x.strip() for x in q["service_request_id"].split(",") if x.strip()]
        if any(not validate.digits(x) for x in raw_ids):
            raise BadUserInput("service_request_id", "must be a comma-separated list of ids")
        ids = [i for i in map(_report_id, raw_ids) if i is not None]  # too large: no such report
        rows = await Report.filter(id__in=ids[:MAX_RESULTS]).order_by("-created_at", "-id")
        reports = [r for r in rows if can_see_report(None, r)]
        return JSONResponse(await _requests(reports, request))
    window = _window(request)
    if window is None:
        return JSONResponse([])
    category_ids = None
    if q.get("service_code"):
        codes = [c for c in q["service_code"].split(",") if c]
        category_ids = [c.id for c in catalog().categories.values() if c.code in codes] or [0]
    statuses = None
    if q.get("status"):
        wanted = {s.strip() for s in q["status"].split(",")}
        if not wanted <= {"open", "closed"}:
            raise BadUserInput("status", "must be open, closed or both")
        if wanted != {"open", "closed"}:
            closed = wanted == {"closed"}
            statuses = [s for s in ReportStatus if (s in CLOSED) == closed]
    query = ReportQuery(status=statuses, category_ids=category_ids, created_after=window[0],
                        created_before=window[1] + timedelta(microseconds=1))  # fmt: skip
    # Up to MAX_RESULTS reports: one of the address's expensive reads (domain.readgate), in
    # the app's read budget, as a GraphQL search is.
    with request.app.state.read_gate.enter(client_key(None, client_address(request))):
        page = await search_reports(None, query, "NEWEST", MAX_RESULTS, None, now(), read_budget(request))
        return JSONResponse(await _requests(page.rows, request))


@_errors
async def get_request(request: Request) -> Response:
    raw = request.path_params["id"]
    report_id = _report_id(raw)
    report = await get_visible(None, report_id) if report_id is not None else None
    if report is None:
        raise NotFound(f"No service request {raw[:40]!r}.")
    return JSONResponse(await _requests([report], request))


async def _form(request: Request) -> dict[str, Any]:
    if request.headers.get("content-type", "").startswith("application/json"):
        try:
            body = json.loads(await request.body())
        except (ValueError, RecursionError):  # a body nested thousands deep raised RecursionError
            raise BadUserInput("body", "is not valid JSON") from None
        return body if isinstance(body, dict) else {}
    try:
        return dict(await request.form())
    except (HTTPException, MultiPartException, ValueError, KeyError):  # a malformed multipart body
        raise BadUserInput("body", "is not a readable form") from None


def _text(form: dict[str, Any], name: str) -> str | None:
    """An optional text field: a string (JSON numbers are taken as written), readable as UTF-8,
    without NUL bytes; anything else (an object, a list, an upload) is malformed: 400."""
    value = form.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise BadUserInput(name, "must be text")
    value = str(value)
    if not validate.storable(value):
        raise BadUserInput(name, "must be UTF-8 text without NUL characters")
    return value


def _float(form: dict[str, Any], name: str) -> float:
    value = form.get(name)
    if value is None or value == "":
        raise BadUserInput(name, "is required (a location: lat and long)")
    try:
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise TypeError
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        raise BadUserInput(name, "must be a number") from None
    if not math.isfinite(number):
        raise BadUserInput(name, "must be a finite number")
    return number


def _api_key(request: Request, form: dict[str, Any]) -> str | None:
    """The key from the body or the query string; a non-string key is just an invalid one."""
    key = form.get("api_key")
    if key is None:
        key = request.query_params.get("api_key")
    return key if isinstance(key, str) else None


@_errors
async def post_request(request: Request) -> Response:
    """Checked in the spec's order: 403 bad api_key, 400 no service_code, 404 unknown
    service_code, 400 no location, then the report's own rules (400)."""
    form = await _form(request)
    user = await apikeys.user_for(_api_key(request, form))
    if user is None:
        return _error(403, "api_key is missing, invalid or revoked")
    # The same report budgets as createReport: per account and per address.
    await request.app.state.limiter.admit({"create_report": 1}, user.id, client_address(request))
    code = _text(form, "service_code")
    if code is None:
        raise BadUserInput("service_code", "is required")
    category = next((c for c in catalog().categories.values() if c.code == code), None)
    if category is None:
        raise NotFound(f"service_code {code[:40]!r} is not a service")
    lat, lng = _float(form, "lat"), _float(form, "long")
    report = await create_report(
        viewer_of(user),
        NewReport(
            client_request_id=f"open311-{uuid.uuid4()}",
            category_id=category.id,
            description=_text(form, "description") or "",
            lat=lat,
            lng=lng,
            address=_text(form, "address_string"),
        ),
    )
    agency = catalog().agencies.get(report.agency_id) if report.agency_id else None  # type: ignore[attr-defined]
    notice = f"Diteruskan ke {agency.name}" if agency else "Diterima"
    return JSONResponse(
        [{"service_request_id": str(report.id), "service_notice": notice, "account_id": str(user.id)}]
    )


routes = [
    Route("/open311/v2/discovery.json", discovery),
    Route("/open311/v2/services.json", services),
    Route("/open311/v2/services/{code}.json", service_definition),
    Route("/open311/v2/requests.json", list_requests, methods=["GET"]),
    Route("/open311/v2/requests.json", post_request, methods=["POST"]),
    Route("/open311/v2/requests/{id}.json", get_request),
]
