"""Query resolvers."""

from __future__ import annotations

import contextlib

import strawberry

from domain import apikeys, lifecycle, validate
from domain.catalog import catalog
from domain.errors import BadUserInput
from domain.report import check_cursor, get_visible, search_reports
from models.enums import RegionLevel
from resolvers.convert import asks, opt_id, report_connection, report_query
from schema.context import Info
from schema.enums import ReportOrder
from schema.inputs import ReportFilter
from schema.places import Agency, Category, Region
from schema.types import ApiKey, Report, ReportConnection, User


async def me(info: Info) -> User | None:
    return User.of(info.context.user) if info.context.user else None


async def report(info: Info, id: strawberry.ID) -> Report | None:
    row = await get_visible(info.context.viewer, validate.parse_id(id, "id"))
    if row is not None:
        info.context.loaders.reports.prime(row.id, row)
    return Report.of(row) if row else None


async def reports(
    info: Info,
    filter: ReportFilter | None = None,
    order_by: ReportOrder | None = ReportOrder.NEWEST,
    first: int | None = 20,
    after: str | None = None,
) -> ReportConnection:
    query = report_query(filter)
    order, size = (order_by or ReportOrder.NEWEST).value, validate.page_size(first)
    check_cursor(query, order, after)
    viewer = await info.context.rows_viewer(query.author_id)
    # The public's page is shared (not an `overdue` one: that moves with the clock alone).
    shared = (repr(query), order, size, after) if viewer is None and query.overdue is None else None

    # A search's count, when asked, may start beside its page (domain.pagination.paginate).
    early = info.context.spare_read if query.search and asks(info, "totalCount", "totalCountCapped") else None

    async def read() -> ReportConnection:
        started, budget = info.context.started, info.context.read_budget()
        page = await search_reports(viewer, query, order, size, after, started, budget, early)
        return report_connection(page, searched=bool(query.search))

    with info.context.expensive_read() if query.search else contextlib.nullcontext():
        return await info.context.shared_read(shared, read)


async def moderation_queue(info: Info, first: int | None = 20, after: str | None = None) -> ReportConnection:
    page = await lifecycle.moderation_queue(info.context.viewer, validate.page_size(first), after)
    return report_connection(page)


async def my_work(info: Info, first: int | None = 20, after: str | None = None) -> ReportConnection:
    page = await lifecycle.my_work(info.context.viewer, validate.page_size(first), after)
    return report_connection(page)


async def api_keys(info: Info) -> list[ApiKey]:
    return [ApiKey.of(k) for k in await apikeys.listed(info.context.viewer)]


def categories() -> list[Category]:
    return [Category.of(c) for c in catalog().categories.values()]


def agencies() -> list[Agency]:
    return [Agency.of(a) for a in catalog().agencies.values()]


def regions(level: RegionLevel | None = None, parent_id: strawberry.ID | None = None) -> list[Region]:
    cat = catalog()
    if parent_id is not None:
        rows = cat.children.get(cat.region(validate.parse_id(parent_id, "parentId"), "parentId").id, [])
    else:
        rows = list(cat.regions.values())
    return [Region.of(r) for r in rows if level is None or r.level == level]


def region(id: strawberry.ID | None = None, code: str | None = None) -> Region | None:
    cat = catalog()
    if id is not None:
        row = cat.regions.get(validate.parse_id(id, "id"))
    elif code is not None:
        row = cat.region_by_code.get(code.strip())
    else:
        raise BadUserInput("id", "Give `id` or `code`.")
    return Region.of(row) if row else None


def locate(lat: float, lng: float) -> Region | None:
    validate.lat_lng(lat, lng, "location")
    row = catalog().route(lat, lng)
    return Region.of(row) if row else None


__all__ = ["opt_id"]
