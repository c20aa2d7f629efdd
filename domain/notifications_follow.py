"""What a user listens to: reports they follow (explicitly, or by voting and commenting unless
their settings say no) and area alerts (a region of any level or a circle, optionally only
some categories)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient

from domain import notifications_areas as areas
from domain import validate
from domain.auth import Viewer
from domain.catalog import catalog
from domain.errors import BadUserInput, NotFound, Unauthenticated
from domain.notifications import visibility
from domain.tx import atomic
from models import AreaAlert, Report
from models.sql import execute, fetch, fetch_model, fetch_models, in_list, is_postgres

MAX_ALERTS = 20
MIN_RADIUS, MAX_RADIUS = 50, 5_000
MAX_CATEGORIES = 50


async def _visible_report(viewer: Viewer, report_id: int) -> Report:
    report = await fetch_model(Report, "SELECT * FROM report WHERE id = $1", report_id)
    if report is None or not visibility(viewer, report)[0]:
        raise NotFound(f"No report with id {report_id}.")
    return report


async def _add(conn: BaseDBAsyncClient, user_id: int, report_id: int, at: Any) -> None:
    await execute(
        "INSERT INTO follow (report_id, user_id, created_at) VALUES ($1, $2, $3)"
        " ON CONFLICT (report_id, user_id) DO NOTHING",
        report_id, user_id, at,
        conn=conn,
    )  # fmt: skip


async def follow(viewer: Viewer | None, report_id: int, on: bool) -> Report:
    """Idempotent both ways."""
    if viewer is None:
        raise Unauthenticated()
    report = await _visible_report(viewer, report_id)
    async with atomic() as tx:
        if on:
            await _add(tx.conn, viewer.id, report.id, tx.at)
        else:
            await execute("DELETE FROM follow WHERE report_id = $1 AND user_id = $2", report.id, viewer.id,
                          conn=tx.conn)  # fmt: skip
    return report


async def follow_on(conn: BaseDBAsyncClient, user_id: int, report_id: int, at: Any, setting: str) -> None:
    """Voting (`follow_on_vote`) or commenting (`follow_on_comment`) follows the report, in the
    vote's or comment's transaction, unless the user turned it off."""
    assert setting in ("follow_on_vote", "follow_on_comment")
    rows = await fetch(
        f"SELECT {setting} AS wanted FROM notify_settings WHERE user_id = $1", user_id, conn=conn
    )
    if rows and rows[0]["wanted"] is not None and not rows[0]["wanted"]:
        return
    await _add(conn, user_id, report_id, at)


async def follower_counts(report_ids: list[int]) -> dict[int, int]:
    args: list[Any] = []
    rows = await fetch(
        f"SELECT report_id, COUNT(*) AS n FROM follow WHERE {in_list('report_id', report_ids, args)}"
        " GROUP BY report_id",
        *args,
    )
    return {r["report_id"]: int(r["n"]) for r in rows}


# ---------------------------------------------------------------- area alerts


@dataclass(frozen=True)
class NewAlert:
    region_id: int | None = None
    lat: float | None = None
    lng: float | None = None
    radius_m: int | None = None
    category_ids: list[int] | None = None


def _check(alert: NewAlert) -> tuple[str, list[int]]:
    circle = alert.lat is not None or alert.lng is not None
    if (alert.region_id is None) == (not circle):
        raise BadUserInput("input", "Give either `regionId` or `center` with `radiusMeters`.")
    if alert.region_id is not None:
        catalog().region(alert.region_id, "input.regionId")
        if alert.radius_m is not None:
            raise BadUserInput("input.radiusMeters", "`radiusMeters` goes with `center`, not `regionId`.")
    else:
        validate.lat_lng(alert.lat, alert.lng, "input.center")  # type: ignore[arg-type]
        if alert.radius_m is None or not MIN_RADIUS <= alert.radius_m <= MAX_RADIUS:
            raise BadUserInput(
                "input.radiusMeters", f"`radiusMeters` must be between {MIN_RADIUS} and {MAX_RADIUS}."
            )
    ids = list(dict.fromkeys(alert.category_ids or []))
    if len(ids) > MAX_CATEGORIES:
        raise BadUserInput("input.categoryIds", f"At most {MAX_CATEGORIES} categories.")
    for category_id in ids:
        catalog().category(category_id, "input.categoryIds")
    return ",".join(map(str, ids)), ids


async def create_alert(viewer: Viewer | None, alert: NewAlert) -> AreaAlert:
    """At most MAX_ALERTS per user (counted under a lock on the user's row, so two at once
    cannot both pass)."""
    if viewer is None:
        raise Unauthenticated()
    categories, _ = _check(alert)
    async with atomic() as tx:
        if is_postgres(tx.conn):
            await fetch("SELECT id FROM app_user WHERE id = $1 FOR UPDATE", viewer.id, conn=tx.conn)
        count = await fetch(
            "SELECT COUNT(*) AS n FROM area_alert WHERE user_id = $1", viewer.id, conn=tx.conn
        )
        if int(count[0]["n"]) >= MAX_ALERTS:
            raise BadUserInput("input", f"At most {MAX_ALERTS} area alerts per user; delete one first.")
        row = await AreaAlert.create(
            user_id=viewer.id, region_id=alert.region_id, lat=alert.lat, lng=alert.lng,
            radius_m=alert.radius_m,
            category_ids=categories, created_at=tx.at, using_db=tx.conn,
        )  # fmt: skip
        await areas.changed(tx.conn)
    return row


async def delete_alert(viewer: Viewer | None, alert_id: int) -> bool:
    if viewer is None:
        raise Unauthenticated()
    async with atomic() as tx:
        n = await execute("DELETE FROM area_alert WHERE id = $1 AND user_id = $2", alert_id, viewer.id,
                          conn=tx.conn)  # fmt: skip
        if n == 0:
            raise NotFound(f"No area alert with id {alert_id}.")
        await areas.changed(tx.conn)
    return True


async def alerts_of(user_id: int) -> list[AreaAlert]:
    return await fetch_models(AreaAlert, "SELECT * FROM area_alert WHERE user_id = $1 ORDER BY id", user_id)
