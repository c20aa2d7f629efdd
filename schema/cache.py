"""A short-lived cache of read results, versioned by the event log.

Every change a client can see writes an event row, and each process's hub advances its log
position when it reads one; a local commit counter covers this process's own writes at once
(read-your-writes here) and changes that carry no event. A cached result
is served only while both are unchanged and for at most TTL seconds, which also bounds what
depends on the clock alone (`overdue`, "the last 90 days"). Only answers that are the same
for every viewer are cached (anonymous reads, and selections without viewer-specific fields).

Aggregates over months (rankings, stats, heatmap: fields with AGGREGATE metadata) take up to
half a second to compute on a year of data and move little with each new report, while a
city changes every few seconds: a computed one is served as is for AGGREGATE_FRESH seconds,
then, up to AGGREGATE_MAX_STALE seconds old, while one recomputation runs in the background.
Readers never wait for a recomputation once the first is done, and the recomputing load is
bounded by the number of distinct aggregate queries, not by the rate of changes.

Memory: entries are keyed by a SHA-256 of the request (never its text or variables, which a
client may make as large as the body limit allows), and bounded by the bytes of their answers
(as JSON) as well as by their number. One computation serves every request waiting for it: it
runs as a task of its own, so a client that hangs up stops waiting without cancelling it for
the others.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

TTL_SECONDS = 5.0
AGGREGATE_FRESH = 15.0
AGGREGATE_MAX_STALE = 60.0
AGGREGATE = {"fresh_for": AGGREGATE_FRESH, "max_stale": AGGREGATE_MAX_STALE}
MAX_BYTES = 64 << 20
Key = bytes


class ResponseCache:
    def __init__(self, max_entries: int = 2048, ttl: float = TTL_SECONDS, max_bytes: int = MAX_BYTES) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.bytes = 0
        self.ttl = ttl
        self.clock: Callable[[], float] = time.monotonic  # tests move it
        self._entries: OrderedDict[Key, tuple[Any, float, Any, int]] = OrderedDict()
        self.hits = self.misses = self.stale_hits = 0
        self._inflight: dict[tuple[Any, ...], asyncio.Task[Any]] = {}
        self._refreshing: set[Key] = set()
        self.generation = 0  # moved by clear(): part of every version (schema/__init__.py)

    @staticmethod
    def key(query: str, variables: dict[str, Any] | None, operation: str | None, audience: Any = None) -> Key:
        """A digest of the request and of who may share its answer (schema/policy.py)."""
        digest = hashlib.sha256()
        variables_text = json.dumps(variables or {}, sort_keys=True, default=str)
        for part in (query, variables_text, operation or "", repr(audience)):
            encoded = part.encode("utf-8", "surrogatepass")
            digest.update(len(encoded).to_bytes(8, "big"))  # no two requests hash alike by concatenation
            digest.update(encoded)
        return digest.digest()

    def get(self, key: Key, version: Any) -> Any | None:
        entry = self._entries.get(key)
        if entry is not None and entry[0] == version and self.clock() - entry[1] < self.ttl:
            self.hits += 1
            return entry[2]
        self.misses += 1
        return None

    async def get_or_compute(
        self,
        key: Key,
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
        flight = (key, version)
        task = self._inflight.get(flight)
        if task is None:
            task = self._inflight[flight] = asyncio.create_task(self._compute(key, version, compute))
            task.add_done_callback(lambda t: self._landed(flight, t))
        # A waiter that is cancelled (its client hung up) stops waiting; the computation goes
        # on for the others, and its answer is cached.
        return await asyncio.shield(task)

    async def _compute(self, key: Key, version: Any, compute: Callable[[], Awaitable[Any]]) -> Any:
        data = await compute()
        if data is not None:
            self.put(key, version, data)
        return data

    def _landed(self, flight: tuple[Any, ...], task: asyncio.Task[Any]) -> None:
        if self._inflight.get(flight) is task:
            del self._inflight[flight]
        if not task.cancelled():
            task.exception()  # retrieved: the waiters get it, nobody logs it as never retrieved

    async def _refresh(self, key: Key, version: Any, compute: Callable[[], Awaitable[Any]]) -> None:
        data = await compute()
        if data is not None:
            self.put(key, version, data)

    def clear(self) -> None:
        """Forget every answer, and every shared rendering (schema/renderings.py), which the
        version carries this generation of."""
        self._entries.clear()
        self.bytes = 0
        self.generation += 1

    def put(self, key: Key, version: Any, data: Any) -> None:
        size = len(json.dumps(data, default=str)) + len(key)
        if size > self.max_bytes // 8:
            return  # one answer may not take the room of many
        old = self._entries.pop(key, None)
        if old is not None:
            self.bytes -= old[3]
        self._entries[key] = (version, self.clock(), data, size)
        self.bytes += size
        while len(self._entries) > self.max_entries or self.bytes > self.max_bytes:
            _, evicted = self._entries.popitem(last=False)
            self.bytes -= evicted[3]
