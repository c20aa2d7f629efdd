"""One hub per process: it reads each new event from the log once and fans it out to the
process's subscribers, indexed by what they listen to, with bounded per-subscriber queues."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field

from models import Comment, Report, StatusChange, User
from models.enums import EventKind
from subscriptions import log
from subscriptions.bus import Bus
from subscriptions.log import LoggedEvent, Position
from telemetry import metrics

logger = logging.getLogger("warga.hub")

_loads = itertools.count(1)  # stamps each loaded Delivery: renderings are shared per load

QUEUE_LIMIT = 256  # deliveries buffered per subscriber before it falls back to the log
BATCH = 500
POLL_CONNECTED = 2.0  # safety net when announcements flow
POLL_DISCONNECTED = 0.25  # while the broadcast is down, the log is the channel


@dataclass(frozen=True)
class Delivery:
    """An event with the rows a subscriber's selection needs, loaded once for everyone.

    `load` tells loads of the same event apart: a rendering is shared by the subscribers
    given this very delivery (the hub's live fan-out), never with a later replay of the event,
    which reads the rows as they are now (a comment deleted since is a tombstone)."""

    event: LoggedEvent
    report: Report
    status_change: StatusChange | None
    comment: Comment | None
    users: dict[int, User]
    load: int = field(default_factory=lambda: next(_loads), compare=False)

    @property
    def position(self) -> Position:
        return self.event.position


OVERFLOW = object()


@dataclass(eq=False)
class Subscriber:
    keys: tuple[Hashable, ...]
    match: Callable[[Delivery], bool]
    queue: asyncio.Queue[object] = field(default_factory=lambda: asyncio.Queue(QUEUE_LIMIT + 1))
    overflowed: bool = False
    user_id: int | None = None  # the signed-in viewer, told when their sight changes
    on_user_changed: Callable[[User], None] | None = None

    def offer(self, delivery: Delivery) -> None:
        if self.overflowed or not self.match(delivery):
            return
        if self.queue.qsize() >= QUEUE_LIMIT:
            # Too slow: drop the buffer and tell the stream to catch up from the log.
            self.overflowed = True
            while not self.queue.empty():
                self.queue.get_nowait()
            self.queue.put_nowait(OVERFLOW)
            return
        self.queue.put_nowait(delivery)


async def load(events: list[LoggedEvent]) -> list[Delivery]:
    """The rows of a batch of report events in four queries, whatever its size."""
    events = [e for e in events if e.report_id is not None]
    if not events:
        return []
    reports = {r.id: r for r in await Report.filter(id__in={e.report_id for e in events})}
    change_ids = {e.status_change_id for e in events if e.status_change_id}
    comment_ids = {e.comment_id for e in events if e.comment_id}
    changes = {c.id: c for c in await StatusChange.filter(id__in=change_ids)} if change_ids else {}
    comments = {c.id: c for c in await Comment.filter(id__in=comment_ids)} if comment_ids else {}
    user_ids: set[int] = set()
    for r in reports.values():
        user_ids.update(x for x in (r.author_id, r.assignee_id) if x)  # type: ignore[attr-defined]
    for c in changes.values():
        if c.actor_id:  # type: ignore[attr-defined]
            user_ids.add(c.actor_id)  # type: ignore[attr-defined]
    for c in comments.values():
        user_ids.add(c.author_id)  # type: ignore[attr-defined]
    users = {u.id: u for u in await User.filter(id__in=user_ids)} if user_ids else {}
    out = []
    for e in events:
        report = reports.get(e.report_id)
        if report is None:
            continue  # deleted since; nothing to show
        out.append(
            Delivery(
                e,
                report,
                changes.get(e.status_change_id) if e.status_change_id else None,
                comments.get(e.comment_id) if e.comment_id else None,
                users,
            )
        )
    return out


class Hub:
    def __init__(self, bus: Bus) -> None:
        self.bus = bus
        self.position = log.START
        self._index: dict[Hashable, set[Subscriber]] = defaultdict(set)
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self.delivered = 0

    @property
    def subscriber_count(self) -> int:
        return len({s for subs in self._index.values() for s in subs})

    async def start(self) -> None:
        self.position = await log.head()
        self._tasks = [
            asyncio.create_task(self._listen(), name="warga-hub-listen"),
            asyncio.create_task(self._run(), name="warga-hub-run"),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    def attach(self, subscriber: Subscriber) -> Position:
        """Register and return the position from which live deliveries will follow; no await
        between the two, so replay up to it plus live after it has no gap and no overlap."""
        for key in _keys(subscriber):
            self._index[key].add(subscriber)
        return self.position

    def detach(self, subscriber: Subscriber) -> None:
        for key in _keys(subscriber):
            subs = self._index.get(key)
            if subs is not None:
                subs.discard(subscriber)
                if not subs:
                    del self._index[key]

    def candidates(self, keys: Iterable[Hashable]) -> set[Subscriber]:
        found: set[Subscriber] = set()
        for key in keys:
            found |= self._index.get(key, set())
        return found

    async def _listen(self) -> None:
        """Announcements only wake the reader; the log is the source of truth."""
        while True:
            try:
                async with self.bus.subscribe() as subscription:
                    async for _ in subscription:
                        self._wake.set()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.warning("broadcast subscription failed; retrying", exc_info=True)
                await asyncio.sleep(0.5)

    async def _run(self) -> None:
        while True:
            timeout = POLL_CONNECTED if self.bus.connected else POLL_DISCONNECTED
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)
            self._wake.clear()
            try:
                await self.catch_up()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("reading the event log failed; retrying")
                await asyncio.sleep(0.5)

    async def catch_up(self) -> None:
        while True:
            events = await log.read_after(self.position, BATCH)
            if not events:
                return
            changed = await _changed_users(events)
            # The rows only for someone to hear them: a process without subscribers reads none.
            # Decided after the last other await, so no one attaches between it and the offers.
            loaded: list[Delivery] | None = None
            while loaded is None and self._index:
                loaded = await load(events)
            by_position = {d.position: d for d in loaded or ()}
            for event in events:  # no await in here: attach() sees a consistent position
                if event.kind == EventKind.USER_CHANGED:
                    self._user_changed(changed.get(event.user_id))  # type: ignore[arg-type]
                    continue
                delivery = by_position.get(event.position)
                if delivery is None:
                    continue
                for sub in self.candidates(routing_keys(delivery)):
                    sub.offer(delivery)
                self.delivered += 1
            self.position = events[-1].position
            metrics.events_delivered(e.created_at for e in events)
            if len(events) < BATCH:
                return


    def _user_changed(self, user: User | None) -> None:
        """A user's role, region or agency changed: their open streams follow it before the
        next event is offered to them."""
        if user is None:
            return
        for sub in self.candidates((("user", user.id),)):
            if sub.on_user_changed is not None:
                sub.on_user_changed(user)


def _keys(subscriber: Subscriber) -> tuple[Hashable, ...]:
    user = (("user", subscriber.user_id),) if subscriber.user_id is not None else ()
    return (*subscriber.keys, *user)


async def _changed_users(events: list[LoggedEvent]) -> dict[int, User]:
    ids = {e.user_id for e in events if e.kind == EventKind.USER_CHANGED and e.user_id is not None}
    return {u.id: u for u in await User.filter(id__in=ids)} if ids else {}


def routing_keys(d: Delivery) -> tuple[Hashable, ...]:
    """Where an event can be heard: everywhere, its report, and each region above it."""
    r = d.report
    return (
        ("all",),
        ("report", r.id),
        ("region", r.kelurahan_id),  # type: ignore[attr-defined]
        ("region", r.kecamatan_id),  # type: ignore[attr-defined]
        ("region", r.kota_id),  # type: ignore[attr-defined]
    )
