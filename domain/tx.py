"""One database transaction per mutation, with its event rows, then one publish after commit."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime

from tortoise.backends.base.client import BaseDBAsyncClient

from domain.notifications import Change, decide, doorbell
from models.enums import EventKind
from subscriptions.log import TX_ID as EVENT_TX
from subscriptions.log import append, writing
from subscriptions.publish import committed, publish

_frozen: datetime | None = None
__all__ = ["EVENT_TX", "Tx", "atomic", "now", "set_clock"]


def now() -> datetime:
    """The one clock of the domain; tests freeze and advance it to check SLA arithmetic."""
    return _frozen if _frozen is not None else datetime.now(UTC)


def set_clock(at: datetime | None) -> None:
    global _frozen
    _frozen = at


@dataclass
class Tx:
    conn: BaseDBAsyncClient
    at: datetime = field(default_factory=lambda: now())
    event_ids: list[int] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)
    undone: bool = False

    def rollback(self) -> None:
        """Nothing of this transaction is kept: it is rolled back when its block ends."""
        self.undone = True

    async def emit(
        self,
        kind: EventKind,
        report_id: int | None,
        *,
        status_change_id: int | None = None,
        comment_id: int | None = None,
        user_id: int | None = None,
    ) -> None:
        """Append to the event log inside this transaction, so an event exists iff its change does."""
        event_id = await append(
            self.conn, kind, report_id, status_change_id, comment_id, self.at, user_id, registered=True
        )
        self.logged(event_id, kind, report_id, status_change_id=status_change_id, comment_id=comment_id)

    def logged(
        self,
        event_id: int,
        kind: EventKind,
        report_id: int | None,
        *,
        status_change_id: int | None = None,
        comment_id: int | None = None,
    ) -> None:
        """An event row this transaction wrote (by emit(), or in a statement of its own): it is
        published after commit and decides the notifications."""
        self.event_ids.append(event_id)
        self.changes.append(Change(kind, report_id, status_change_id, comment_id))


class _Undone(Exception):
    """Ends an atomic() block whose Tx.rollback() was called, rolling it back."""


@asynccontextmanager
async def atomic() -> AsyncIterator[Tx]:
    # Marked as a writer before any write: readers wait for this one, never for foreign ones.
    try:
        async with writing() as conn:
            tx = Tx(conn)
            yield tx
            if tx.undone:
                raise _Undone
            # The last step of every change: the notifications it causes, in its own transaction.
            notified = await decide(conn, tx.at, tx.changes) if tx.changes else 0
    except _Undone:
        return
    committed()
    if notified:
        doorbell.ring()
    if tx.event_ids:
        await publish(max(tx.event_ids))
