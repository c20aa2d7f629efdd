"""Who hears what about a change (the top of ../shared/api/notifications.graphql), decided in
the change's own transaction and written to the outbox (the `notification` table), so a
notification exists if and only if its change committed. domain/tx.py runs `decide` as the
last step of every transaction; domain/notifications_sender.py delivers after commit.

- the reporter: every status change of their report, and every official comment on it;
- a follower: the report's status changes;
- an area alert's owner: a report that becomes VERIFIED inside the area;
- never the actor, never about a report the recipient may not see, never naming the author
  of an anonymous report to whom may not know it; one notification per change and user
  whatever the number of reasons; nothing on a channel the user turned off.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient

from config import get_settings
from domain import notifications_areas as areas
from domain.auth import Viewer
from domain.catalog import catalog
from domain.notifications_texts import Facts, render
from domain.visibility import can_see_report, shows_author
from models import Report
from models.enums import EventKind, ReportStatus
from models.sql import execute, fetch, fetch_model, in_list

# Reasons, strongest first: a user with several hears the strongest one's text, once.
REPORTER, FOLLOWER, AREA = "REPORTER", "FOLLOWER", "AREA"
INSERT_CHUNK = 500


@dataclass(frozen=True, slots=True)
class Change:
    """One event row a transaction wrote (what Tx.emit recorded)."""

    kind: EventKind
    report_id: int | None  # None for USER_CHANGED
    status_change_id: int | None = None
    comment_id: int | None = None


class Doorbell:
    """Lets a commit wake this process's sender at once (other processes' senders poll)."""

    def __init__(self) -> None:
        self._event: asyncio.Event | None = None

    def listen(self) -> asyncio.Event:
        self._event = asyncio.Event()
        return self._event

    def ring(self) -> None:
        if self._event is not None:
            self._event.set()


doorbell = Doorbell()


def visibility(viewer: Viewer, report: Report) -> tuple[bool, bool]:
    """Whether the recipient may see the report, and whether a text may name its author
    (domain.visibility, as on every other path): only where anyone who may see the report may
    know them, since the text is delivered later to whoever the recipient is by then (a
    moderator demoted meanwhile was named an anonymous reporter; helper review)."""
    return can_see_report(viewer, report), shows_author(None, report)


async def decide(conn: BaseDBAsyncClient, at: datetime, changes: Sequence[Change]) -> int:
    """Write the outbox rows the transaction's changes cause; the number written. Creations
    and votes notify nobody, so the hottest path (createReport) costs no query here."""
    written = 0
    for change in changes:
        if change.kind == EventKind.STATUS_CHANGED and change.status_change_id is not None:
            written += await _status_changed(conn, at, change.report_id, change.status_change_id)
        elif change.kind == EventKind.COMMENT_ADDED and change.comment_id is not None:
            written += await _comment_added(conn, at, change.report_id, change.comment_id)
    return written


async def _status_changed(conn: BaseDBAsyncClient, at: datetime, report_id: int, change_id: int) -> int:
    rows = await fetch(
        "SELECT from_status, to_status, actor_id, note FROM status_change WHERE id = $1", change_id, conn=conn
    )
    if not rows or rows[0]["from_status"] == rows[0]["to_status"]:
        return 0  # an assignment is a timeline step, not a status change
    sc = rows[0]
    report = await fetch_model(Report, "SELECT * FROM report WHERE id = $1", report_id, conn=conn)
    if report is None:
        return 0
    reasons: dict[int, tuple[str, int | None]] = {report.author_id: (REPORTER, None)}  # type: ignore[attr-defined]
    for r in await fetch("SELECT user_id FROM follow WHERE report_id = $1", report_id, conn=conn):
        reasons.setdefault(r["user_id"], (FOLLOWER, None))
    if sc["to_status"] == ReportStatus.VERIFIED.value:
        index = await areas.current(conn)
        for alert, region_id in index.match(report.lat, report.lng, report.kelurahan_id,  # type: ignore[attr-defined]
                                            report.category_id):  # type: ignore[attr-defined]  # fmt: skip
            reasons.setdefault(alert.user_id, (AREA, region_id))
    reasons.pop(sc["actor_id"], None)
    source = f"sc:{change_id}"
    return await _write(conn, at, report, reasons, source, status=sc["to_status"], note=sc["note"])


async def _comment_added(conn: BaseDBAsyncClient, at: datetime, report_id: int, comment_id: int) -> int:
    rows = await fetch(
        "SELECT author_id, body, is_official FROM comment WHERE id = $1", comment_id, conn=conn
    )
    if not rows or not rows[0]["is_official"]:
        return 0
    report = await fetch_model(Report, "SELECT * FROM report WHERE id = $1", report_id, conn=conn)
    if report is None or report.author_id == rows[0]["author_id"]:  # type: ignore[attr-defined]
        return 0
    reasons: dict[int, tuple[str, int | None]] = {report.author_id: (REPORTER, None)}  # type: ignore[attr-defined]
    return await _write(conn, at, report, reasons, f"c:{comment_id}", excerpt=rows[0]["body"])


async def recipients(conn: BaseDBAsyncClient, user_ids: list[int]) -> list[dict[str, Any]]:
    """Users with their settings (defaults where they have none) and whether they have a device."""
    args: list[Any] = []
    return await fetch(
        "SELECT u.id, u.role, u.region_id, u.agency_id, u.email, u.display_name,"
        " s.push, s.email AS email_on, s.language, s.verified_email,"
        " EXISTS (SELECT 1 FROM push_subscription p WHERE p.user_id = u.id) AS has_device"
        " FROM app_user u LEFT JOIN notify_settings s ON s.user_id = u.id"
        f" WHERE {in_list('u.id', user_ids, args)}",
        *args,
        conn=conn,
    )


def switched_on(value: Any) -> bool:
    """A setting's value as read (SQLite gives 0/1); no row means the default, on."""
    return value is None or bool(value)


def channels(r: dict[str, Any]) -> list[str]:
    """The channels a user hears on: push to a registered device, e-mail to a verified address."""
    out = []
    if switched_on(r["push"]) and r["has_device"]:
        out.append("push")
    if switched_on(r["email_on"]) and r["email"] and r["verified_email"] == r["email"]:
        out.append("email")
    return out


async def _write(
    conn: BaseDBAsyncClient,
    at: datetime,
    report: Report,
    reasons: dict[int, tuple[str, int | None]],
    source: str,
    *,
    status: str | None = None,
    note: str | None = None,
    excerpt: str | None = None,
) -> int:
    if not reasons:
        return 0
    public_url = get_settings().public_url
    author_name: str | None = None
    values: list[tuple[Any, ...]] = []
    for r in await recipients(conn, list(reasons)):
        viewer = Viewer.of_row(r)
        may_see, names_author = visibility(viewer, report)
        wanted = channels(r)
        if not may_see or not wanted:
            continue
        reason, region_id = reasons[r["id"]]
        author = None
        if reason != REPORTER and names_author:
            if author_name is None:
                found = await fetch("SELECT display_name FROM app_user WHERE id = $1",
                                    report.author_id, conn=conn)  # type: ignore[attr-defined]  # fmt: skip
                author_name = found[0]["display_name"] if found else ""
            author = author_name or None
        kind = "AREA" if reason == AREA else ("COMMENT" if excerpt is not None else "STATUS")
        region = catalog().regions.get(region_id) if region_id is not None else None
        facts = Facts(kind=kind, report_id=report.id, category_id=report.category_id,  # type: ignore[attr-defined]
                      kelurahan_id=report.kelurahan_id, status=status, note=note,  # type: ignore[attr-defined]
                      excerpt=excerpt, author=author, area=region.name if region else None)  # fmt: skip
        text = render(r["language"] or "id", facts, public_url)
        payload = json.dumps({"kind": kind, "reportId": str(report.id), **text, "at": at.isoformat()},
                             ensure_ascii=False)  # fmt: skip
        lane = own_lane(report, r["id"])
        values += [(r["id"], report.id, channel, kind, source, payload, at, lane) for channel in wanted]
    for start in range(0, len(values), INSERT_CHUNK):
        await insert(conn, values[start : start + INSERT_CHUNK])
    return len(values)


def own_lane(report: Report, user_id: int) -> str:
    """The outbox lane of a notification to `user_id` about `report` (migration 0018): its own
    for the author of an anonymous report, so that its delivery depends on nothing the author
    is told under their name."""
    anonymous = report.anonymous and report.author_id == user_id  # type: ignore[attr-defined]
    return f"report:{report.id}" if anonymous else ""


async def insert(conn: BaseDBAsyncClient, values: list[tuple[Any, ...]]) -> None:
    """Outbox rows (user, report, channel, kind, source, payload, at, lane), pending from `at`."""
    if not values:
        return
    args: list[Any] = []
    rows = []
    for v in values:
        start = len(args) + 1
        args.extend(v)
        p = [f"${start + i}" for i in range(len(v))]
        rows.append(f"({', '.join(p[:6])}, 'pending', 0, {p[6]}, {p[6]}, '', {p[7]})")
    await execute(
        "INSERT INTO notification (user_id, report_id, channel, kind, source, payload, state, attempts,"
        f" due_at, created_at, done, lane) VALUES {', '.join(rows)} ON CONFLICT DO NOTHING",
        *args,
        conn=conn,
    )
