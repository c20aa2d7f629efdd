"""Turning GraphQL inputs into domain values, and domain pages into connections."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from strawberry.types.nodes import SelectedField, Selection

from domain import validate
from domain.errors import BadUserInput
from domain.pagination import Page, encode_cursor
from domain.report import ReportQuery
from schema.inputs import BBoxInput, ReportFilter
from schema.types import PageInfo, Report, ReportConnection, ReportEdge


def opt_id(value: object, field: str) -> int | None:
    return None if value is None else validate.parse_id(value, field)


def bbox_of(b: BBoxInput | None, field: str) -> tuple[float, float, float, float] | None:
    if b is None:
        return None
    return validate.bbox(b.south, b.west, b.north, b.east, field)  # type: ignore[return-value]


def report_query(f: ReportFilter | None) -> ReportQuery:
    if f is None:
        return ReportQuery()
    near = None
    if f.near is not None:
        validate.lat_lng(f.near.lat, f.near.lng, "filter.near")
        if not 1 <= f.near.radius_meters <= 50_000:
            raise BadUserInput("filter.near.radiusMeters", "`radiusMeters` must be between 1 and 50000.")
        near = (f.near.lat, f.near.lng, f.near.radius_meters)
    search = validate.text(f.search, "filter.search", max_len=200, required=False)
    return ReportQuery(
        status=validate.distinct(f.status, "filter.status"),
        category_ids=validate.parse_ids(f.category_ids, "filter.categoryIds"),
        region_id=opt_id(f.region_id, "filter.regionId"),
        agency_id=opt_id(f.agency_id, "filter.agencyId"),
        author_id=opt_id(f.author_id, "filter.authorId"),
        assignee_id=opt_id(f.assignee_id, "filter.assigneeId"),
        bbox=bbox_of(f.bbox, "filter.bbox"),
        near=near,
        created_after=validate.in_calendar(f.created_after, "filter.createdAfter"),
        created_before=validate.in_calendar(f.created_before, "filter.createdBefore"),
        search=search,
        overdue=f.overdue,
    )


def report_connection(page: Page, searched: bool = False) -> ReportConnection:
    order = page.order
    end = order.cursor(page.rows[-1]) if page.rows else None
    return ReportConnection(
        edges=[ReportEdge(node=Report.of(r), order=order) for r in page.rows],
        page_info=PageInfo(has_next_page=page.has_next, end_cursor=end),
        total_count_fn=page.total_count,
        total_count_capped_fn=page.total_count_capped,
        searched=searched,
    )


def asks(info: Any, *names: str) -> bool:
    """Whether the field's own selection (through its fragments, not its subfields' selections)
    names one of `names`: work the answer will need can then start early. The fast executor
    tells a root field its selection (schema.fast.FastInfo.selected_names)."""
    selected = getattr(info, "selected_names", None)
    if selected is not None:
        return not selected.isdisjoint(names)

    def named(selections: Sequence[Selection]) -> bool:
        return any(
            (s.name in names if isinstance(s, SelectedField) else named(s.selections))
            for s in selections
            if included(s.directives or {})
        )

    return any(named(f.selections) for f in info.selected_fields)


def included(directives: dict[str, Any]) -> bool:
    """Whether @skip/@include (their arguments' values, variables resolved) keep a selection."""
    return (
        directives.get("skip", {}).get("if") is not True
        and directives.get("include", {}).get("if") is not False
    )


__all__ = ["asks", "encode_cursor", "opt_id", "report_connection", "report_query"]
