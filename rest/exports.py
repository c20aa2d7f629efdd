"""GET /exports/reports.csv: reports for partner agencies, streamed row by row so a year of
data never sits in memory. No contact data and no author identity, ever; which reports, is
the feed's answer for the same viewer (domain.visibility through domain.report.conditions)."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import AsyncIterator
from datetime import datetime, time, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from domain import validate
from domain.auth import Viewer
from domain.catalog import catalog
from domain.errors import BadUserInput, WargaError
from domain.pagination import ReadBudget
from domain.performance import Period
from domain.report import ReportQuery, conditions, is_overdue
from domain.rollups import JAKARTA
from domain.tx import now
from domain.users import viewer_of
from models.enums import ReportStatus
from models.sql import budgeted, fetch
from rest.common import error_response, partner, query_date, query_list
from schema.context import read_budget

BATCH = 2000
COLUMNS = [
    "id", "created_at", "status", "category_code", "category", "agency", "kelurahan_code", "kelurahan",
    "kecamatan", "kota", "lat", "lng", "address", "description", "verified_at", "due_at",
    "first_response_at", "resolved_at", "closed_at", "overdue", "rating", "vote_count", "comment_count",
    "duplicate_of_id",
]  # fmt: skip
SELECT = (
    "id, created_at, status, category_id, agency_id, kelurahan_id, kecamatan_id, kota_id, lat, lng,"
    " address, description, verified_at, due_at, first_response_at, resolved_at, closed_at, rating,"
    " vote_count, comment_count, duplicate_of_id"
)


def _filters(request: Request, viewer: Viewer) -> tuple[str, list[Any]]:
    """The export's filter as the feed's own conditions (domain.report), visibility first."""
    period = Period.of(query_date(request, "from"), query_date(request, "to"), default_days=30)
    region_id = request.query_params.get("regionId")
    statuses = query_list(request, "status")
    for st in statuses:
        if st not in ReportStatus.__members__:
            raise BadUserInput("status", f"Unknown status {st!r}.")
    categories = [validate.parse_id(c, "categoryId") for c in query_list(request, "categoryId")]
    for cid in categories:
        catalog().category(cid, "categoryId")
    query = ReportQuery(
        status=[ReportStatus(s) for s in statuses] or None,
        category_ids=categories or None,
        region_id=validate.parse_id(region_id, "regionId") if region_id else None,
        created_after=datetime.combine(period.start, time(), JAKARTA),
        created_before=datetime.combine(period.end + timedelta(days=1), time(), JAKARTA),
    )
    args: list[Any] = []
    return " AND ".join(conditions(viewer, query, now(), args)), args


def _iso(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.astimezone(JAKARTA).isoformat()


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
NUMBER = re.compile(r"^-?[0-9]+(\.[0-9]+)?$")


def cell(value: Any) -> Any:
    """A text cell a spreadsheet would read as a formula (=HYPERLINK(...), +cmd|..., @SUM(...),
    and -, tab, CR that some programs also accept) gets a leading apostrophe, as OWASP's
    "CSV injection" advice says; a number stays a number (the latitudes are negative).
    Every free-text column goes through here: the CSV writer quotes delimiters itself."""
    if isinstance(value, str) and value.startswith(FORMULA_START) and not NUMBER.match(value):
        return "'" + value
    return value


def _row(r: dict[str, Any], at: datetime) -> list[Any]:
    cat = catalog()
    category = cat.categories.get(r["category_id"])
    agency = cat.agencies.get(r["agency_id"]) if r["agency_id"] else None
    kel, kec, kota = (cat.regions.get(r[k]) for k in ("kelurahan_id", "kecamatan_id", "kota_id"))
    due = datetime.fromisoformat(r["due_at"]) if isinstance(r["due_at"], str) else r["due_at"]

    return [cell(value) for value in [
        r["id"], _iso(r["created_at"]), r["status"], category.code if category else "",
        category.name if category else "", agency.name if agency else "", kel.code if kel else "",
        kel.name if kel else "", kec.name if kec else "", kota.name if kota else "",
        f"{r['lat']:.6f}", f"{r['lng']:.6f}", r["address"] or "", r["description"],
        _iso(r["verified_at"]), _iso(r["due_at"]), _iso(r["first_response_at"]), _iso(r["resolved_at"]),
        _iso(r["closed_at"]), "true" if is_overdue(r["status"], due, at) else "false",
        r["rating"] if r["rating"] is not None else "", r["vote_count"], r["comment_count"],
        r["duplicate_of_id"] or "",
    ]]  # fmt: skip


async def _lines(where: str, args: list[Any], budget: ReadBudget) -> AsyncIterator[str]:
    """The export's rows in creation order, BATCH at a time after the last one's (created_at,
    id), each batch one statement in the read budget: by id from 0, a period late in the
    history walked the primary key past every older report first, unbudgeted (the last six
    months of two years at half the rate: 544,812 pages, 5.1 s for the first batch; 1 ms now)."""
    at = now()
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(COLUMNS)
    yield buf.getvalue()
    after: list[Any] = []
    n = len(args)
    while True:
        past = f" AND (created_at, id) > (${n + 1}, ${n + 2})" if after else ""
        sql = f"SELECT {SELECT} FROM report WHERE {where}{past} ORDER BY created_at, id LIMIT {BATCH}"
        async with budgeted(budget) as conn:
            rows = await fetch(sql, *args, *after, conn=conn)
        if not rows:
            return
        buf.seek(0)
        buf.truncate()
        for r in rows:
            writer.writerow(_row(r, at))
        yield buf.getvalue()
        after = [rows[-1]["created_at"], rows[-1]["id"]]


async def reports_csv(request: Request) -> Response:
    try:
        user = await partner(request)
        where, args = _filters(request, viewer_of(user))
    except WargaError as exc:
        return error_response(exc)
    stamp = now().astimezone(JAKARTA).strftime("%Y%m%d-%H%M")
    return StreamingResponse(
        _lines(where, args, read_budget(request)),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="warga-reports-{stamp}.csv"'},
    )
