"""The report lifecycle: the one state machine of moves, who may make them, and the times
they stamp on the report."""

from __future__ import annotations

from domain.tx import Tx
from models import Report
from models.enums import ReportStatus

RESPONDABLE = (
    ReportStatus.VERIFIED,
    ReportStatus.IN_PROGRESS,
    ReportStatus.REOPENED,
    ReportStatus.RESOLVED,
    ReportStatus.CLOSED,
)


async def note_response(tx: Tx, report_id: int) -> None:
    """The first officer action after verification stamps firstResponseAt, once."""
    await (
        Report.filter(
            id=report_id, first_response_at=None, verified_at__not_isnull=True, status__in=list(RESPONDABLE)
        )
        .using_db(tx.conn)
        .update(first_response_at=tx.at)
    )
