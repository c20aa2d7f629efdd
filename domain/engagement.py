"""Citizens' voices on a report: comments (officers' marked official) and votes."""

from __future__ import annotations

from tortoise.exceptions import IntegrityError
from tortoise.expressions import F

from domain import validate
from domain.auth import Viewer
from domain.errors import Forbidden, NotFound, Unauthenticated
from domain.lifecycle import note_response
from domain.notifications_follow import follow_on
from domain.officers import responds_for
from domain.pagination import Order, Page, paginate
from domain.tx import atomic
from domain.visibility import COMMENT_CONDITION, can_see_report, wrote_anonymously
from models import Comment, Report, Vote
from models.enums import EventKind, Role


async def _visible_report(viewer: Viewer, report_id: int, field: str) -> Report:
    report = await Report.get_or_none(id=report_id)
    if report is None or not can_see_report(viewer, report):
        raise NotFound(f"No report with id {report_id}.")
    return report


async def add_comment(viewer: Viewer | None, report_id: int, body: str) -> Comment:
    if viewer is None:
        raise Unauthenticated()
    text = validate.text(body, "body", min_len=1, max_len=2000)
    report = await _visible_report(viewer, report_id, "reportId")
    official = responds_for(viewer, report) and not wrote_anonymously(viewer, report)
    async with atomic() as tx:
        comment = await Comment.create(
            report_id=report.id,
            author_id=viewer.id,
            body=text,
            is_official=official,
            created_at=tx.at,
            using_db=tx.conn,
        )
        changes: dict[str, object] = {"comment_count": F("comment_count") + 1, "updated_at": tx.at}
        await Report.filter(id=report.id).using_db(tx.conn).update(**changes)
        if official:
            await note_response(tx, report.id)
        await follow_on(tx.conn, viewer.id, report.id, tx.at, "follow_on_comment")
        await tx.emit(EventKind.COMMENT_ADDED, report.id, comment_id=comment.id)
    return comment


async def delete_comment(viewer: Viewer | None, comment_id: int) -> bool:
    """Its author or a moderator/admin; the row is kept (soft delete) for the event log."""
    if viewer is None:
        raise Unauthenticated()
    comment = await Comment.get_or_none(id=comment_id, deleted_at=None)
    report = await Report.get_or_none(id=comment.report_id) if comment is not None else None  # type: ignore[attr-defined]
    if comment is None or report is None or not can_see_report(viewer, report):
        # A comment on a report this viewer may not see is as missing as one that never was:
        # FORBIDDEN here would confirm that it exists.
        raise NotFound(f"No comment with id {comment_id}.")
    if comment.author_id != viewer.id and viewer.role not in (Role.MODERATOR, Role.ADMIN):  # type: ignore[attr-defined]
        raise Forbidden("Only its author or a moderator can delete a comment.")
    async with atomic() as tx:
        updated = (
            await Comment.filter(id=comment_id, deleted_at=None).using_db(tx.conn).update(deleted_at=tx.at)
        )
        if updated:
            decrement = {"comment_count": F("comment_count") - 1}
            await Report.filter(id=comment.report_id).using_db(tx.conn).update(**decrement)  # type: ignore[attr-defined]
            await tx.emit(EventKind.COMMENT_DELETED, comment.report_id, comment_id=comment_id)  # type: ignore[attr-defined]
    return True


async def set_vote(viewer: Viewer | None, report_id: int, on: bool) -> Report:
    """Idempotent: voting twice is one vote; unvoting a report never voted is a no-op."""
    if viewer is None:
        raise Unauthenticated()
    report = await _visible_report(viewer, report_id, "reportId")
    try:
        async with atomic() as tx:
            if on:
                exists = await Vote.filter(report_id=report.id, user_id=viewer.id).using_db(tx.conn).exists()
                changed = 0
                if not exists:
                    await Vote.create(
                        report_id=report.id, user_id=viewer.id, created_at=tx.at, using_db=tx.conn
                    )
                    changed = 1
                    await follow_on(tx.conn, viewer.id, report.id, tx.at, "follow_on_vote")
            else:
                changed = (
                    -await Vote.filter(report_id=report.id, user_id=viewer.id).using_db(tx.conn).delete()
                )
            if changed:
                await (
                    Report.filter(id=report.id).using_db(tx.conn).update(vote_count=F("vote_count") + changed)
                )
                await tx.emit(EventKind.VOTES_CHANGED, report.id)
    except IntegrityError:
        pass  # a concurrent identical vote won: the vote stands once, as asked
    await report.refresh_from_db()
    return report


async def comments_page(report_id: int, first: int, after: str | None) -> Page:
    """Oldest first, as a conversation reads; deleted comments are left out."""
    conditions = ["report_id = $1", COMMENT_CONDITION]
    return await paginate(Comment, conditions, [report_id], Order("id", descending=False), first, after)
