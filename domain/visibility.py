"""Who may see what: the one answer, asked on every path (GraphQL fields and loaders, feeds,
queues, counts, subscriptions and their replay, the CSV export, Open311, notifications).

Each rule has a Python form, for a row already loaded, and where a search needs it an SQL
form, for a WHERE clause; tests/test_visibility.py holds the two against each other on random
data. The rules:

- A REJECTED report is seen only by its author and staff (MODERATOR, OFFICER, ADMIN).
- An anonymous report's author is known only to the author, MODERATOR and ADMIN. Officers do
  not see it: a report may be about the very staff who handle it. The author stays hidden
  wherever they could surface: `author`, the actor of their own timeline moves, their
  comments on that report, their report count, the `authorId` filter. On their own anonymous
  report they act only as its reporter, never as staff: an official comment or a staff move
  whose actor is hidden would tell everyone that the reporter is one of the unit's staff.
- Contact data (e-mail, phone, whether the e-mail is verified) is seen by the user themself
  and ADMIN; notification settings and area alerts by the user alone.
- A deleted comment is seen by nobody: what remains is a tombstone (its id).
- Aggregates (stats, heatmap) count what the public may see, the same for every viewer.

`sight()` is the part of a viewer these rules read; answers may be shared between viewers of
the same sight, never beyond (schema/policy.py).
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any, Protocol

from domain.auth import Viewer
from models.enums import ReportStatus, Role
from models.sql import arg

# Roles that see REJECTED reports, and the smaller set that sees anonymous authors.
SEES_REJECTED = frozenset({Role.MODERATOR, Role.OFFICER, Role.ADMIN})
SEES_ANONYMOUS = frozenset({Role.MODERATOR, Role.ADMIN})
# Statuses counted in public aggregates (stats): a rejected report is not public.
PUBLIC_STATUSES = frozenset(s for s in ReportStatus if s != ReportStatus.REJECTED)


class ReportLike(Protocol):
    id: int
    status: str
    anonymous: bool
    author_id: int


def sight(viewer: Viewer | None) -> Hashable:
    """Everything about a viewer that any rule here reads: two viewers of the same sight are
    shown the same. A role change is a new sight (an open websocket follows it)."""
    if viewer is None:
        return None
    return (viewer.id, viewer.role.value, viewer.region_id, viewer.agency_id)


# ---------------------------------------------------------------- reports


def can_see_report(viewer: Viewer | None, report: ReportLike) -> bool:
    if report.status != ReportStatus.REJECTED:
        return True
    return viewer is not None and (viewer.role in SEES_REJECTED or viewer.id == report.author_id)


def sees_as_public(viewer: Viewer | None, report: ReportLike) -> bool:
    """Whether this viewer is shown what a signed-out viewer is shown of this report and of
    its author (name, counts, contact): true unless the viewer wrote it or holds a role that
    sees more than the public (SEES_REJECTED includes SEES_ANONYMOUS; contact data is the
    user's own or an ADMIN's). Renderings of a report made for the public may then be given to
    this viewer (schema/renderings.py); what is personal (their vote, their follow) is not part
    of it."""
    return viewer is None or (viewer.role not in SEES_REJECTED and viewer.id != report.author_id)


def rows_as_public(viewer: Viewer | None, author_id: int | None, has_hidden_own: bool) -> bool:
    """Whether a search's rows for this viewer are exactly the public's, so that the page may
    be shared with them (schema/context.py): signed out, or no role that sees more, no report
    of their own the public may not see (`has_hidden_own`, see hidden_own_condition), and no
    author filter on themself (where they see their own anonymous reports)."""
    if viewer is None:
        return True
    return viewer.role not in SEES_REJECTED and not has_hidden_own and author_id != viewer.id


def hidden_own_condition(viewer: Viewer, args: list[Any]) -> str:
    """The viewer's own reports the public does not see, as an SQL condition."""
    public = report_condition(None, args)
    return f"author_id = {arg(args, viewer.id)} AND NOT ({public})"


def report_condition(viewer: Viewer | None, args: list[Any]) -> str | None:
    """can_see_report as an SQL condition on `report` rows (None: every row)."""
    if viewer is not None and viewer.role in SEES_REJECTED:
        return None
    shown = f"status <> {arg(args, ReportStatus.REJECTED.value)}"
    return shown if viewer is None else f"({shown} OR author_id = {arg(args, viewer.id)})"


def authors_only(viewer: Viewer | None) -> frozenset[ReportStatus]:
    """The statuses whose reports this viewer sees only if they wrote them (can_see_report by
    status, for counts from rollups that do not know authors)."""
    if viewer is not None and viewer.role in SEES_REJECTED:
        return frozenset()
    return frozenset({ReportStatus.REJECTED})


def shows_author(viewer: Viewer | None, report: ReportLike) -> bool:
    """Whether the viewer may know who wrote the report."""
    if not report.anonymous:
        return True
    return viewer is not None and (viewer.role in SEES_ANONYMOUS or viewer.id == report.author_id)


def attributed_condition(viewer: Viewer | None, args: list[Any]) -> str | None:
    """shows_author as an SQL condition on `report` rows: the reports whose author this viewer
    may know (None: every row)."""
    if viewer is not None and viewer.role in SEES_ANONYMOUS:
        return None
    named = f"anonymous = {arg(args, False)}"
    return named if viewer is None else f"({named} OR author_id = {arg(args, viewer.id)})"


def by_author_condition(viewer: Viewer | None, author_id: int, args: list[Any]) -> str:
    """The `authorId` filter: the reports the viewer may attribute to `author_id`."""
    mine = f"author_id = {arg(args, author_id)}"
    named = attributed_condition(viewer, args)
    return mine if named is None else f"{mine} AND {named}"


def wrote_anonymously(viewer: Viewer | None, report: ReportLike) -> bool:
    """Whether the viewer is the report's anonymous author: on it they act only as its
    reporter (their comments are not official, staff moves are refused to them)."""
    return viewer is not None and bool(report.anonymous) and viewer.id == report.author_id


def hides_user(viewer: Viewer | None, report: ReportLike, user_id: int | None) -> bool:
    """Whether showing `user_id` in the context of this report (as the actor of a timeline
    entry, the author of a comment) would name its anonymous author to this viewer."""
    return user_id is not None and user_id == report.author_id and not shows_author(viewer, report)


# ---------------------------------------------------------------- users and comments


def may_see_contact(viewer: Viewer | None, user_id: int) -> bool:
    """E-mail and phone: only the user themself and ADMIN."""
    return viewer is not None and (viewer.id == user_id or viewer.role == Role.ADMIN)


def may_see_settings(viewer: Viewer | None, user_id: int) -> bool:
    """Notification settings and area alerts: only the user themself."""
    return viewer is not None and viewer.id == user_id


def comment_shown(deleted_at: object) -> bool:
    """A deleted comment's body and author are shown to nobody, live or replayed."""
    return deleted_at is None


COMMENT_CONDITION = "deleted_at IS NULL"  # comment_shown as SQL
