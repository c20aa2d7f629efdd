"""Open311 GeoReport v2 (JSON) under /open311/v2/, so existing civic tools can read Warga's
reports and post new ones with an API key issued to their app."""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from domain import apikeys
from domain.catalog import catalog
from domain.errors import BadUserInput, NotFound, WargaError
from domain.report import NewReport, ReportQuery, create_report, get_visible, search_reports
from domain.rollups import JAKARTA
from domain.tx import now
from domain.users import viewer_of
from domain.visibility import can_see_report
from models import Media, Report, StatusChange
from models.enums import ReportStatus

CLOSED = {ReportStatus.CLOSED, ReportStatus.REJECTED, ReportStatus.DUPLICATE}
MAX_RESULTS = 1000
DEFAULT_DAYS = 90


def _error(status: int, description: str) -> JSONResponse:
    return JSONResponse([{"code": status, "description": description}], status_code=status)


def _errors(handler: Callable[[Request], Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
    """Errors as the spec says: an array of {code, description} with the HTTP status."""

    async def wrapped(request: Request) -> Response:
        try:
            return await handler(request)
        except NotFound as exc:
            return _error(404, exc.message)
        except WargaError as exc:
            status = {"UNAUTHENTICATED": 403, "FORBIDDEN": 403, "RATE_LIMITED": 429}.get(exc.code, 400)
            field = f"{exc.field}: " if exc.field else ""
            return _error(status, field + exc.message)

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


def _when(request: Request, name: str) -> datetime | None:
    value = request.query_params.get(name)
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise BadUserInput(name, "must be an ISO 8601 date-time") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=JAKARTA)


@_errors
async def list_requests(request: Request) -> Response:
    """Public: what a signed-out viewer of the feed may see (domain.report.search_reports)."""
    q = request.query_params
    if q.get("service_request_id"):
        try:
            ids = [int(x) for x in q["service_request_id"].split(",") if x.strip()]
        except ValueError:
            raise BadUserInput("service_request_id", "must be a comma-separated list of ids") from None
        rows = await Report.filter(id__in=ids[:MAX_RESULTS]).order_by("-created_at", "-id")
        reports = [r for r in rows if can_see_report(None, r)]
        return JSONResponse(await _requests(reports, request))
    end = _when(request, "end_date") or now()
    start = _when(request, "start_date") or end - timedelta(days=DEFAULT_DAYS)
    if start > end:
        raise BadUserInput("start_date", "must not be after end_date")
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
    query = ReportQuery(status=statuses, category_ids=category_ids, created_after=start,
                        created_before=end + timedelta(microseconds=1))  # fmt: skip
    page = await search_reports(None, query, "NEWEST", MAX_RESULTS, None, now())
    return JSONResponse(await _requests(page.rows, request))


@_errors
async def get_request(request: Request) -> Response:
    raw = request.path_params["id"]
    report = await get_visible(None, int(raw)) if raw.isdigit() else None
    if report is None:
        raise NotFound(f"No service request {raw!r}.")
    return JSONResponse(await _requests([report], request))


async def _form(request: Request) -> dict[str, Any]:
    if request.headers.get("content-type", "").startswith("application/json"):
        try:
            body = json.loads(await request.body())
        except ValueError:
            raise BadUserInput("body", "is not valid JSON") from None
        return body if isinstance(body, dict) else {}
    return dict(await request.form())


def _float(form: dict[str, Any], name: str) -> float:
    try:
        return float(form[name])
    except (KeyError, TypeError, ValueError):
        raise BadUserInput(name, "is required and must be a number") from None


@_errors
async def post_request(request: Request) -> Response:
    form = await _form(request)
    user = await apikeys.user_for(form.get("api_key") or request.query_params.get("api_key"))
    if user is None:
        return _error(403, "api_key is missing, invalid or revoked")
    code = form.get("service_code")
    category = next((c for c in catalog().categories.values() if c.code == code), None)
    if category is None:
        return _error(404, f"service_code {code!r} is not a service")
    report = await create_report(
        viewer_of(user),
        NewReport(
            client_request_id=f"open311-{uuid.uuid4()}",
            category_id=category.id,
            description=str(form.get("description") or ""),
            lat=_float(form, "lat"),
            lng=_float(form, "long"),
            address=str(form["address_string"]) if form.get("address_string") else None,
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
