"""A short-lived cache of read results, versioned by the event log.

Every change a client can see writes an event row, and each process's hub advances its log
position when it reads one; a local commit counter covers this process's own writes at once
(read-your-writes here) and changes that carry no event. A cached result
is served only while both are unchanged and for at most TTL seconds, which also bounds what
depends on the clock alone (`overdue`, "the last 90 days"). Only answers that are the same
for every viewer are cached (anonymous reads, and selections without viewer-specific fields).

Aggregates (rankings, stats, heatmap: fields with AGGREGATE metadata) are versioned by a stamp
of every process's commits (subscriptions.bus.Bus.version: with Redis a counter bumped with each
announcement, before the change's client has its answer), so an answer is reused only while no
change has committed since its computation began, and a reader after a change waits for (or
starts) the computation of the newest version. Under a stream of changes each one is
recomputed at most once per AGGREGATE_INTERVAL: readers in between get the latest answer, whose
`asOf` says when it was computed. Whatever changes with the clock alone is noted while an answer
is computed (domain.flips), and the answer is not served past that moment.

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
import math
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson

from domain.flips import watching
from domain.tx import now

TTL_SECONDS = 5.0
AGGREGATE_INTERVAL = 1.0
AGGREGATE = {"min_interval": AGGREGATE_INTERVAL}
MAX_BYTES = 64 << 20
Key = bytes | tuple  # a whole answer's digest, or a shared read's key (schema/context.py)


@dataclass
class Entry:
    version: Any
    started: float  # cache clock when its computation began
    data: Any
    size: int
    expires: float  # cache clock when something in it flips by itself (inf: never)


@dataclass
class Flight:
    version: Any
    started: float
    task: asyncio.Task[Any]


class ResponseCache:
    def __init__(self, max_entries: int = 2048, ttl: float = TTL_SECONDS, max_bytes: int = MAX_BYTES) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.bytes = 0
        self.ttl = ttl
        self.clock: Callable[[], float] = time.monotonic  # tests move it
        self._entries: OrderedDict[Key, Entry] = OrderedDict()
        self.hits = self.misses = self.stale_hits = 0  # whole answers
        self.read_hits = self.read_misses = 0  # reads shared between viewers (pages, callers)
        self._inflight: dict[Key, Flight] = {}
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

    def _valid(self, entry: Entry | None, ttl: float | None) -> bool:
        t = self.clock()
        return entry is not None and t < entry.expires and (ttl is None or t - entry.started < ttl)

    def get(self, key: Key, version: Any, bounded: bool = True) -> Any | None:
        """The answer of this version, if cached (and, if `bounded`, for at most TTL seconds)."""
        entry = self._entries.get(key)
        ttl = self.ttl if bounded else None
        read = isinstance(key, tuple)  # a shared read (schema/context.py), not a whole answer
        if entry is not None and entry.version == version and self._valid(entry, ttl):
            if read:
                self.read_hits += 1
            else:
                self.hits += 1
            return entry.data
        if read:
            self.read_misses += 1
        else:
            self.misses += 1
        return None

    async def get_or_read(self, key: Key, version: Any, read: Callable[[], Awaitable[Any]]) -> Any:
        """The cached data of this version, or this request's own read of it, kept for the next:
        for cheap reads that requests seldom share in flight (a caller's row), without the task
        that get_or_compute starts to share one computation among waiters."""
        if version is None:
            return await read()
        found = self.get(key, version)
        if found is not None:
            return found
        started = self.clock()
        data = await read()
        if data is not None:
            self.put(key, version, data, started)
        return data

    async def get_or_compute(
        self, key: Key, version: Any, compute: Callable[[], Awaitable[Any]], min_interval: float = 0.0
    ) -> Any:
        """The cached data of this version, or compute it once however many identical requests
        arrive together (a burst of misses would otherwise all run the same heavy query). None
        is not cached, nor is anything when the version is unknown (None). With `min_interval`
        (aggregates: no TTL, versions and flips alone end an answer) a computation starts at most
        that often: meanwhile the latest answer is served."""
        if version is None:
            return await compute()
        ttl = None if min_interval else self.ttl
        found = self.get(key, version, bounded=ttl is not None)
        if found is not None:
            return found
        t = self.clock()
        entry = self._entries.get(key)
        usable = entry if self._valid(entry, ttl) else None
        flight = self._inflight.get(key)
        if flight is not None and flight.version != version and t - flight.started < min_interval:
            if usable is not None:  # a newer answer is on its way; this one is the latest yet
                self.stale_hits += 1
                return usable.data
        elif (
            usable is not None
            and t - usable.started < min_interval
            and (flight is None or flight.version != version)
        ):
            self.stale_hits += 1
            return usable.data
        elif flight is None or flight.version != version:
            task = asyncio.create_task(self._compute(key, version, t, compute))
            flight = self._inflight[key] = Flight(version, t, task)
            task.add_done_callback(lambda t, f=flight: self._landed(key, f))
        # A waiter that is cancelled (its client hung up) stops waiting; the computation goes
        # on for the others, and its answer is cached.
        return await asyncio.shield(flight.task)

    async def _compute(
        self, key: Key, version: Any, started: float, compute: Callable[[], Awaitable[Any]]
    ) -> Any:
        with watching() as flips:
            data = await compute()
        if data is not None:
            expires = math.inf
            if flips:
                expires = self.clock() + (min(flips) - now()).total_seconds()
            self.put(key, version, data, started, expires)
        return data

    def _landed(self, key: Key, flight: Flight) -> None:
        if self._inflight.get(key) is flight:
            del self._inflight[key]
        if not flight.task.cancelled():
            flight.task.exception()  # retrieved: the waiters get it, nobody logs it as never retrieved

    def clear(self) -> None:
        """Forget every answer, and every shared rendering (schema/renderings.py), which the
        version carries this generation of."""
        self._entries.clear()
        self.bytes = 0
        self.generation += 1

    def put(
        self, key: Key, version: Any, data: Any, started: float | None = None, expires: float = math.inf
    ) -> None:
        started = self.clock() if started is None else started
        old = self._entries.get(key)
        if old is not None and old.started > started:
            return  # a computation that began later has landed first: keep it
        # An estimate of its size (orjson: the caller rows of every signed-in request land here).
        size = len(orjson.dumps(data, default=str, option=orjson.OPT_NON_STR_KEYS)) + len(key)
        if size > self.max_bytes // 8:
            return  # one answer may not take the room of many
        old = self._entries.pop(key, None)
        if old is not None:
            self.bytes -= old.size
        self._entries[key] = Entry(version, started, data, size, expires)
        self.bytes += size
        while len(self._entries) > self.max_entries or self.bytes > self.max_bytes:
            _, evicted = self._entries.popitem(last=False)
            self.bytes -= evicted.size
