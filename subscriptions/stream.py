"""A subscriber's stream: replay from its cursor out of the log, then live from the hub,
with no gap and no duplicate across the switch (and again after falling behind)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Hashable
from dataclasses import dataclass
from typing import Protocol

from domain.auth import Viewer
from domain.catalog import catalog
from domain.visibility import can_see_report
from models import User
from models.enums import EventKind, RegionLevel
from subscriptions import log
from subscriptions.hub import OVERFLOW, Delivery, Hub, Subscriber, load
from subscriptions.log import Position

REPLAY_BATCH = 200


@dataclass(frozen=True)
class Feed:
    """What a subscriber listens to: a region (any level), categories, a bbox, a report."""

    region_id: int | None = None
    category_ids: frozenset[int] | None = None
    bbox: tuple[float, float, float, float] | None = None
    report_id: int | None = None

    def keys(self) -> tuple[Hashable, ...]:
        if self.report_id is not None:
            return (("report", self.report_id),)
        if self.region_id is not None:
            region = catalog().region(self.region_id, "filter.regionId")
            if region.level != RegionLevel.PROVINSI:
                return (("region", region.id),)
        return (("all",),)

    def matches(self, d: Delivery) -> bool:
        """The whole filter, also on replay (live deliveries are pre-routed by keys())."""
        r = d.report
        if self.report_id is not None and r.id != self.report_id:
            return False
        if self.region_id is not None and self.region_id not in (
            r.kelurahan_id,  # type: ignore[attr-defined]
            r.kecamatan_id,  # type: ignore[attr-defined]
            r.kota_id,  # type: ignore[attr-defined]
        ):
            return catalog().regions[self.region_id].level == RegionLevel.PROVINSI
        if self.category_ids and r.category_id not in self.category_ids:  # type: ignore[attr-defined]
            return False
        if self.bbox is not None:
            south, west, north, east = self.bbox
            if not (south <= r.lat <= north and west <= r.lng <= east):
                return False
        return True


class Watcher(Protocol):
    """Whoever holds the subscriber's viewer (the connection's context): read at every event,
    and told when the user's role, region or agency changes."""

    viewer: Viewer | None

    def user_changed(self, user: User) -> None: ...

    async def refresh(self) -> None: ...


async def stream(
    hub: Hub,
    watcher: Watcher,
    feed: Feed,
    kinds: frozenset[EventKind],
    after: Position | None,
) -> AsyncIterator[Delivery]:
    def match(d: Delivery) -> bool:
        return d.event.kind in kinds and feed.matches(d) and can_see_report(watcher.viewer, d.report)

    viewer = watcher.viewer
    sub = Subscriber(feed.keys(), match, user_id=viewer.id if viewer else None,
                     on_user_changed=watcher.user_changed)  # fmt: skip
    live_from = hub.attach(sub)
    # Attached, the hub tells of any later role change; one made before is read here.
    await watcher.refresh()
    cursor = after if after is not None else live_from
    try:
        while True:
            # Replay (cursor, live_from] from the log; the hub queues what follows.
            while cursor < live_from:
                events = await log.read_after(cursor, REPLAY_BATCH, upto=live_from)
                if not events:
                    break
                for d in await load(events):
                    if match(d):
                        yield d
                cursor = max(cursor, events[-1].position)
            cursor = max(cursor, live_from)
            while True:
                item = await sub.queue.get()
                if item is OVERFLOW:
                    # Fell behind: re-attach (queue cleared) and catch up from the log.
                    hub.detach(sub)
                    sub.overflowed = False
                    live_from = hub.attach(sub)
                    break
                assert isinstance(item, Delivery)
                if item.position <= cursor:
                    continue
                cursor = item.position
                if match(item):  # again: the viewer's sight may have changed since it was queued
                    yield item
    finally:
        hub.detach(sub)
