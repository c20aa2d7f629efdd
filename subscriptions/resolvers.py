"""Subscription resolvers: parse the filter, then stream deliveries from the process's hub."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import replace
from functools import partial

import strawberry

from domain import validate
from domain.errors import NotFound
from domain.report import get_visible
from domain.tx import now
from models.enums import EventKind, ReportEventKind
from resolvers.convert import bbox_of, opt_id
from resolvers.loaders import Loaders
from schema.context import Context, Info
from schema.inputs import FeedFilter
from schema.types import Comment, Report, ReportEvent, StatusChange
from subscriptions.hub import Delivery, Hub
from subscriptions.log import Position
from subscriptions.sharing import SharedEvent
from subscriptions.stream import Feed, stream

ALL_KINDS = frozenset(EventKind(k.value) for k in ReportEventKind)


def feed_of(f: FeedFilter | None, report_id: int | None = None) -> Feed:
    if f is None:
        return Feed(report_id=report_id)
    region_id = opt_id(f.region_id, "filter.regionId")
    feed = Feed(
        region_id=region_id,
        category_ids=frozenset(validate.parse_ids(f.category_ids, "filter.categoryIds") or []) or None,
        bbox=bbox_of(f.bbox, "filter.bbox"),
        report_id=report_id,
    )
    feed.keys()  # validates the region now, not at the first event
    return feed


def _deliveries(
    info: Info, feed: Feed, kinds: frozenset[EventKind], after: Position | None = None
) -> AsyncIterator[Delivery]:
    """The process hub's stream itself, not a generator around it: each generator level of a
    waiting subscriber keeps one more object alive until its next event (bench/README.md,
    the collector)."""
    hub: Hub = info.context.request.app.state.hub
    return stream(hub, info.context, feed, kinds, after)


def _event(info: Info, d: Delivery, make: Callable[[], object]) -> SharedEvent:
    """The payload for the GraphQL layer, which renders it once per event and selection."""
    ctx = info.context

    def context() -> Context:
        # The connection's caller as they are now, with fresh loaders primed with the rows the
        # hub loaded for everyone; the connection's own context is left alone.
        own = replace(ctx, loaders=Loaders(ctx.viewer), started=now())
        own.loaders.reports.prime(d.report.id, d.report)
        for user in d.users.values():
            own.loaders.users.prime(user.id, user)
        return own

    return SharedEvent((d.position, d.load), make, context)


async def report_created(info: Info, filter: FeedFilter | None = None) -> AsyncGenerator[Report, None]:
    async for d in _deliveries(info, feed_of(filter), frozenset({EventKind.CREATED})):
        yield _event(info, d, partial(Report.of, d.report))  # type: ignore[misc]


async def report_status_changed(
    info: Info, report_id: strawberry.ID | None = None, filter: FeedFilter | None = None
) -> AsyncGenerator[StatusChange, None]:
    rid = opt_id(report_id, "reportId")
    if rid is not None and await get_visible(info.context.viewer, rid) is None:
        raise NotFound(f"No report with id {rid}.")
    async for d in _deliveries(info, feed_of(filter, rid), frozenset({EventKind.STATUS_CHANGED})):
        if d.status_change is not None:
            yield _event(info, d, partial(StatusChange.of, d.status_change))  # type: ignore[misc]


async def comment_added(info: Info, report_id: strawberry.ID) -> AsyncGenerator[Comment, None]:
    rid = validate.parse_id(report_id, "reportId")
    if await get_visible(info.context.viewer, rid) is None:
        raise NotFound(f"No report with id {rid}.")
    async for d in _deliveries(info, Feed(report_id=rid), frozenset({EventKind.COMMENT_ADDED})):
        if d.comment is not None and d.comment.deleted_at is None:
            yield _event(info, d, partial(Comment.of, d.comment))  # type: ignore[misc]


async def report_events(
    info: Info, filter: FeedFilter | None = None, after: str | None = None
) -> AsyncGenerator[ReportEvent, None]:
    """Replays every matching event after the cursor, then streams live, in order, no gap."""
    position = Position.decode(after) if after else None
    async for d in _deliveries(info, feed_of(filter), ALL_KINDS, position):
        yield _event(info, d, partial(_report_event, d))  # type: ignore[misc]


def _report_event(d: Delivery) -> ReportEvent:
    return ReportEvent(
        cursor=d.position.encode(),
        kind=ReportEventKind(d.event.kind.value),
        occurred_at=d.event.created_at,
        report=Report.of(d.report),
        status_change=StatusChange.of(d.status_change) if d.status_change else None,
        comment=Comment.of(d.comment) if d.comment else None,
    )
