"""The report lifecycle: the one state machine of moves, who may make each, and the times
each stamps on the report. Every move runs in one transaction: row lock, compare-and-set on
the status, timeline entry, rollups, event row; the publish follows the commit."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from typing import Any

from domain import rollups, validate
from domain.auth import Viewer
from domain.catalog import catalog
from domain.dinas import responsible_agency_id
from domain.errors import BadUserInput, Forbidden, InvalidTransition, NotFound, Unauthenticated
from domain.officers import responds_for, user_responds_for
from domain.pagination import Order, Page
from domain.report import ReportQuery, attach_media, search_reports
from domain.timeline import record
from domain.tx import Tx, atomic, now
from domain.visibility import can_see_report, wrote_anonymously
from models import Report, User
from models.enums import OPEN_STATUSES, WITH_OFFICERS, EventKind, ReportStatus, Role

S = ReportStatus
# States in which an officer's action counts as the first response.
RESPONDABLE = (S.VERIFIED, S.IN_PROGRESS, S.REOPENED, S.RESOLVED, S.CLOSED)


def awaits_first_response(report: Report) -> bool:
    """firstResponseAt is the first officer action after verification, stamped once."""
    return (
        report.verified_at is not None and report.first_response_at is None and report.status in RESPONDABLE
    )


class Actor(Enum):
    MODERATOR = "a moderator"
    UNIT_OFFICER = "an officer of the report's kelurahan or dinas"
    MODERATOR_OR_UNIT_OFFICER = "a moderator or an officer of the report's unit"
    REPORTER = "the reporter"


def may(actor: Actor, viewer: Viewer, report: Report) -> bool:
    moderator = viewer.role in (Role.MODERATOR, Role.ADMIN)
    if actor is Actor.MODERATOR:
        return moderator
    if actor is Actor.UNIT_OFFICER:
        return responds_for(viewer, report)
    if actor is Actor.MODERATOR_OR_UNIT_OFFICER:
        return moderator or responds_for(viewer, report)
    return viewer.id == report.author_id  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Move:
    name: str
    sources: frozenset[ReportStatus]
    actor: Actor | None  # None: the system


VERIFY = Move("verifyReport", frozenset({S.SUBMITTED}), Actor.MODERATOR)
REJECT = Move("rejectReport", frozenset({S.SUBMITTED}), Actor.MODERATOR)
DUPLICATE = Move("markDuplicate", frozenset({S.SUBMITTED, S.VERIFIED}), Actor.MODERATOR)
ASSIGN = Move("assignReport", OPEN_STATUSES, Actor.MODERATOR_OR_UNIT_OFFICER)
START = Move("startProgress", frozenset({S.VERIFIED, S.REOPENED}), Actor.UNIT_OFFICER)
RESOLVE = Move("resolveReport", frozenset({S.VERIFIED, S.IN_PROGRESS, S.REOPENED}), Actor.UNIT_OFFICER)
CONFIRM = Move("confirmResolution", frozenset({S.RESOLVED}), Actor.REPORTER)
REOPEN = Move("reopenReport", frozenset({S.RESOLVED}), Actor.REPORTER)
AUTO_CLOSE = Move("autoClose", frozenset({S.RESOLVED}), None)

# What a move does to the row, given the locked report and the transaction: the target status
# and the columns to set. It may raise BadUserInput for inputs that depend on the report.
Plan = Callable[[Report, Tx], Any]


async def _move(
    viewer: Viewer | None,
    report_id: int,
    move: Move,
    plan: Plan,
    *,
    note: str | None = None,
    media_ids: list[int] | None = None,
    response: bool = False,
) -> Report:
    if viewer is None and move.actor is not None:
        raise Unauthenticated()
    async with atomic() as tx:
        report = await Report.filter(id=report_id).using_db(tx.conn).select_for_update().first()
        if report is None or (viewer is not None and not can_see_report(viewer, report)):
            raise NotFound(f"No report with id {report_id}.")
        if move.actor is not None and not may(move.actor, viewer, report):  # type: ignore[arg-type]
            raise Forbidden(f"Only {move.actor.value} can {move.name}.")
        if move.actor not in (None, Actor.REPORTER) and wrote_anonymously(viewer, report):
            raise Forbidden(
                f"You reported this anonymously: another member of staff must {move.name}, or your"
                " report would show that its reporter is one of the staff."
            )
        current = S(report.status)
        if current not in move.sources:
            raise InvalidTransition(f"{move.name} is not possible from {current.value}.")
        target, changes = await plan(report, tx)
        if response and awaits_first_response(report):
            changes["first_response_at"] = tx.at
        updated = (
            await Report.filter(id=report.id, status=current)
            .using_db(tx.conn)
            .update(status=target, updated_at=tx.at, **changes)
        )
        if updated != 1:  # lost a race: another move changed the status first
            raise InvalidTransition(f"{move.name} is not possible any more: the report changed.")
        before = rollups.Facts.of(report)
        await rollups.move(tx.conn, before, before.changed(target, changes))
        change = await record(tx, report, current, target, viewer.id if viewer else None, note)
        if media_ids:
            await attach_media(tx.conn, viewer, media_ids, "mediaIds", status_change_id=change.id)  # type: ignore[arg-type]
        await tx.emit(EventKind.STATUS_CHANGED, report.id, status_change_id=change.id)
    await report.refresh_from_db()
    return report


def _note(value: str | None, field: str, *, required: bool = False) -> str | None:
    return validate.text(value, field, min_len=1 if required else 0, max_len=2000, required=required)


async def verify(viewer: Viewer | None, report_id: int, category_id: int | None, note: str | None) -> Report:
    """SUBMITTED -> VERIFIED; a corrected category re-routes the dinas and the SLA."""
    category = catalog().category(category_id, "categoryId") if category_id is not None else None
    text = _note(note, "note")

    async def plan(report: Report, tx: Tx) -> tuple[ReportStatus, dict[str, Any]]:
        cat = category or catalog().categories[report.category_id]  # type: ignore[attr-defined]
        changes: dict[str, Any] = {"verified_at": tx.at, "due_at": tx.at + timedelta(hours=cat.sla_hours)}
        if category is not None and category.id != report.category_id:  # type: ignore[attr-defined]
            changes.update(category_id=category.id, agency_id=responsible_agency_id(category))
        return S.VERIFIED, changes

    return await _move(viewer, report_id, VERIFY, plan, note=text)


async def reject(viewer: Viewer | None, report_id: int, reason: str) -> Report:
    text = _note(reason, "reason", required=True)

    async def plan(report: Report, tx: Tx) -> tuple[ReportStatus, dict[str, Any]]:
        return S.REJECTED, {}

    return await _move(viewer, report_id, REJECT, plan, note=text)


async def mark_duplicate(viewer: Viewer | None, report_id: int, duplicate_of_id: int) -> Report:
    async def plan(report: Report, tx: Tx) -> tuple[ReportStatus, dict[str, Any]]:
        if duplicate_of_id == report.id:
            raise BadUserInput("duplicateOfId", "A report cannot duplicate itself.")
        target = await Report.get_or_none(id=duplicate_of_id).using_db(tx.conn)
        if target is None:
            raise BadUserInput("duplicateOfId", f"No report with id {duplicate_of_id}.")
        if target.status in (S.DUPLICATE, S.REJECTED):
            raise BadUserInput("duplicateOfId", "The original must not be a duplicate or rejected.")
        return S.DUPLICATE, {"duplicate_of_id": target.id}

    return await _move(viewer, report_id, DUPLICATE, plan, note=f"Duplikat dari laporan #{duplicate_of_id}")


async def assign(viewer: Viewer | None, report_id: int, assignee_id: int) -> Report:
    """Not a status change, but a step of the timeline (from == to)."""
    assignee = await User.get_or_none(id=assignee_id)

    async def plan(report: Report, tx: Tx) -> tuple[ReportStatus, dict[str, Any]]:
        if assignee is None or not user_responds_for(assignee, report):
            raise BadUserInput("assigneeId", "The assignee must be an officer of the report's unit.")
        return S(report.status), {"assignee_id": assignee.id}

    return await _move(
        viewer,
        report_id,
        ASSIGN,
        plan,
        note=f"Ditugaskan kepada @{assignee.handle}" if assignee else None,
    )


async def start_progress(viewer: Viewer | None, report_id: int, note: str | None) -> Report:
    text = _note(note, "note")

    async def plan(report: Report, tx: Tx) -> tuple[ReportStatus, dict[str, Any]]:
        return S.IN_PROGRESS, {}

    return await _move(viewer, report_id, START, plan, note=text, response=True)


async def resolve(viewer: Viewer | None, report_id: int, note: str, media_ids: list[int]) -> Report:
    text = _note(note, "note", required=True)

    async def plan(report: Report, tx: Tx) -> tuple[ReportStatus, dict[str, Any]]:
        return S.RESOLVED, {"resolved_at": tx.at}

    return await _move(viewer, report_id, RESOLVE, plan, note=text, media_ids=media_ids, response=True)


async def confirm(viewer: Viewer | None, report_id: int, rating: int, comment: str | None) -> Report:
    """The reporter's rating closes it; a 1 or 2 reopens it instead, as Qlue did."""
    if not 1 <= rating <= 5:
        raise BadUserInput("rating", "`rating` must be between 1 and 5.")
    text = _note(comment, "comment")

    async def plan(report: Report, tx: Tx) -> tuple[ReportStatus, dict[str, Any]]:
        if rating <= 2:
            return S.REOPENED, {"rating": rating, "resolved_at": None}
        return S.CLOSED, {"rating": rating, "closed_at": tx.at}

    return await _move(viewer, report_id, CONFIRM, plan, note=text)


async def reopen(viewer: Viewer | None, report_id: int, reason: str) -> Report:
    text = _note(reason, "reason", required=True)

    async def plan(report: Report, tx: Tx) -> tuple[ReportStatus, dict[str, Any]]:
        return S.REOPENED, {"resolved_at": None}

    return await _move(viewer, report_id, REOPEN, plan, note=text)


AUTO_CLOSE_NOTE = "Ditutup otomatis: pelapor tidak menanggapi dalam {days:g} hari"


async def close_stale(now: datetime, days: float) -> int:
    """Close RESOLVED reports the reporter left unanswered; the system is the actor."""
    cutoff = now - timedelta(days=days)
    ids = await Report.filter(status=S.RESOLVED, resolved_at__lt=cutoff).values_list("id", flat=True)
    closed = 0

    async def plan(report: Report, tx: Tx) -> tuple[ReportStatus, dict[str, Any]]:
        return S.CLOSED, {"closed_at": tx.at}

    for report_id in ids:
        try:
            await _move(None, int(report_id), AUTO_CLOSE, plan, note=AUTO_CLOSE_NOTE.format(days=days))
            closed += 1
        except InvalidTransition:
            pass  # the reporter answered meanwhile, or another process closed it
    return closed


async def note_response(tx: Tx, report_id: int) -> None:
    """An official comment after verification stamps firstResponseAt, once."""
    report = await Report.filter(id=report_id).using_db(tx.conn).select_for_update().first()
    if report is None or not awaits_first_response(report):
        return
    await Report.filter(id=report_id).using_db(tx.conn).update(first_response_at=tx.at)
    before = rollups.Facts.of(report)
    await rollups.move(tx.conn, before, before.changed(before.status, {"first_response_at": tx.at}))


# ---------------------------------------------------------------- work queues


async def moderation_queue(viewer: Viewer | None, first: int, after: str | None) -> Page:
    """SUBMITTED reports, oldest first: moderators and admins only."""
    if viewer is None:
        raise Unauthenticated()
    if viewer.role not in (Role.MODERATOR, Role.ADMIN):
        raise Forbidden("Only moderators see the moderation queue.")
    query = ReportQuery(status=[S.SUBMITTED])
    return await search_reports(viewer, query, Order("created_at", descending=False), first, after, now())


async def my_work(viewer: Viewer | None, first: int, after: str | None) -> Page:
    """Open reports of the officer's unit, most urgent first: ordering by dueAt puts the
    overdue ones (the earliest due) first, then the rest by due date."""
    if viewer is None:
        raise Unauthenticated()
    if viewer.role != Role.OFFICER:
        raise Forbidden("Only officers have a work queue.")
    urgent = Order("due_at", descending=False)
    if viewer.agency_id is None and viewer.region_id is None:
        return Page(rows=[], has_next=False, order=urgent)
    query = ReportQuery(status=list(WITH_OFFICERS), agency_id=viewer.agency_id,
                        region_id=None if viewer.agency_id is not None else viewer.region_id)  # fmt: skip
    return await search_reports(viewer, query, urgent, first, after, now())
