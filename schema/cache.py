"""A short-lived cache of read results, versioned by the event log.

Every change a client can see writes an event row, and each process's hub advances its log
position when it reads one; a local commit counter covers this process's own writes at once
(read-your-writes here) and changes that carry no event (a deleted comment). A cached result
is served only while both are unchanged and for at most TTL seconds, which also bounds what
depends on the clock alone (`overdue`, "the last 90 days"). Only answers that are the same
for every viewer are cached (anonymous reads, and selections without viewer-specific fields).

Aggregates over months (rankings, stats, heatmap: fields with AGGREGATE metadata) take up to
half a second to compute on a year of data and move little with each new report, while a
city changes every few seconds: a computed one is served as is for AGGREGATE_FRESH seconds,
then, up to AGGREGATE_MAX_STALE seconds old, while one recomputation runs in the background.
Readers never wait for a recomputation once the first is done, and the recomputing load is
bounded by the number of distinct aggregate queries, not by the rate of changes.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

TTL_SECONDS = 5.0
AGGREGATE_FRESH = 15.0
AGGREGATE_MAX_STALE = 60.0
AGGREGATE = {"fresh_for": AGGREGATE_FRESH, "max_stale": AGGREGATE_MAX_STALE}


class ResponseCache:
    def __init__(self, max_entries: int = 2048, ttl: float = TTL_SECONDS) -> None:
        self.max_entries = max_entries
        self.ttl = ttl
        self.clock: Callable[[], float] = time.monotonic  # tests move it
        self._entries: OrderedDict[tuple[str, str, str | None], tuple[Any, float, Any]] = OrderedDict()
        self.hits = self.misses = self.stale_hits = 0
        self._inflight: dict[tuple[Any, ...], asyncio.Future[Any]] = {}
        self._refreshing: set[tuple[str, str, str | None]] = set()

    @staticmethod
    def key(
        query: str, variables: dict[str, Any] | None, operation: str | None
    ) -> tuple[str, str, str | None]:
        return query, json.dumps(variables or {}, sort_keys=True, default=str), operation

    def get(self, key: tuple[str, str, str | None], version: Any) -> Any | None:
        entry = self._entries.get(key)
        if entry is not None and entry[0] == version and self.clock() - entry[1] < self.ttl:
            self.hits += 1
            return entry[2]
        self.misses += 1
        return None

    async def get_or_compute(
        self,
        key: tuple[str, str, str | None],
        version: Any,
        compute: Callable[[], Awaitable[Any]],
        fresh_for: float = 0.0,
        max_stale: float = 0.0,
    ) -> Any:
        """The cached data, or compute it once however many identical requests arrive together
        (a burst of misses would otherwise all run the same heavy query). None is not cached.
        Without `fresh_for` and `max_stale`, only an answer of the current version is served."""
        found = self.get(key, version)
        if found is not None:
            return found
        entry = self._entries.get(key)
        age = self.clock() - entry[1] if entry is not None else None
        if entry is not None and age is not None and age < fresh_for:
            self.hits += 1
            return entry[2]
        if entry is not None and age is not None and age < max_stale:
            self.stale_hits += 1
            if key not in self._refreshing:
                self._refreshing.add(key)
                task = asyncio.create_task(self._refresh(key, version, compute))
                task.add_done_callback(lambda _: self._refreshing.discard(key))
            return entry[2]
        flight = (*key, version)
        waiting = self._inflight.get(flight)
        if waiting is not None:
            return await asyncio.shield(waiting)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._inflight[flight] = future
        try:
            data = await compute()
            future.set_result(data)
            if data is not None:
                self.put(key, version, data)
            return data
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: waiters get it, nobody logs it as unhandled
            raise
        finally:
            del self._inflight[flight]

    async def _refresh(
        self, key: tuple[str, str, str | None], version: Any, compute: Callable[[], Awaitable[Any]]
    ) -> None:
        data = await compute()
        if data is not None:
            self.put(key, version, data)

    def clear(self) -> None:
        self._entries.clear()

    def put(self, key: tuple[str, str, str | None], version: Any, data: Any) -> None:
        self._entries[key] = (version, self.clock(), data)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)
