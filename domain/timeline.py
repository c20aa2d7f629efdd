"""A report's timeline: one StatusChange per move, written in the move's transaction."""

from __future__ import annotations

from typing import TYPE_CHECKING

from models import Report, StatusChange
from models.enums import ReportStatus

if TYPE_CHECKING:
    from domain.tx import Tx


async def record(
    tx: Tx,
    report: Report,
    from_status: ReportStatus | None,
    to_status: ReportStatus,
    actor_id: int | None,
    note: str | None,
) -> StatusChange:
    return await StatusChange.create(
        report_id=report.id,
        from_status=from_status,
        to_status=to_status,
        actor_id=actor_id,
        note=note,
        created_at=tx.at,
        using_db=tx.conn,
    )
