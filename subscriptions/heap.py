"""Short garbage-collector pauses with tens of thousands of open subscriptions.

CPython's full collection walks every live container object; 19,500 subscriptions are about
1.8 GB of them, and a walk took up to 3.2 s here, stalling every delivery meanwhile. Objects
that will live a long while (the start-up state, then each burst of connections) are moved to
the permanent generation (`gc.freeze()`), so automatic full collections only walk what is
newer. Freezing is not periodic: freezing every live object also freezes whatever is garbage
by then but not yet collected (and cyclic garbage formed later among frozen objects), which
stays until the next thaw. So the collector freezes once after start-up, then once after each
burst of new connections has settled (or, while connections keep coming, every
`burst` connections, which bounds what an automatic full collection walks), each time right
after a full collection of the unfrozen objects. Frozen objects are still freed by reference
counting, but cyclic garbage among them only by a thaw, which walks the whole heap (5.4 s at
19,500 connections): so a closed connection leaves no cycle (tests/test_collector.py), and
thaws (every `thaw_every` seconds: a collection at once, then a freeze) are off by default.

Between bursts the open connections keep replacing objects that live for seconds: each
socket's keepalive timer, each stream's pending `asend` and queue future. They outlive the
young collections, so after a freeze they pile up unfrozen in the oldest generation (about 25
per connection, 470,000 at 19,500 connections within 20 s), and an automatic full collection,
which walks them all, took 350-670 ms: the realtime p99's tail. So the survivors of every
automatic full collection are frozen as it ends (the garbage has just been freed; freezing is a
list splice), and the next one walks only what is newer. And a full collection may come after
every young one (CPython's third threshold, 10 by default, is set to 1): it still waits until
what was promoted since the last is a quarter of what that one kept, so each walks little.
With both, the longest automatic pause at 19,500 connections and 20 events/s went from
277-670 ms to 118-175 ms (bench/README.md, session 8).
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

Action = Literal["freeze", "thaw"]
LONG_PAUSE_MS = 50.0  # pauses at least this long are listed (with their time) in /healthz
FULL_AFTER_YOUNG = 1  # young (generation 1) collections before a full one may come


class Timings:
    """Count, total and worst duration of one kind of pause."""

    def __init__(self) -> None:
        self.count = 0
        self.total = 0.0
        self.worst = 0.0
        self.last = 0.0

    def add(self, seconds: float) -> None:
        self.count += 1
        self.total += seconds
        self.worst = max(self.worst, seconds)
        self.last = seconds

    def status(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "total_ms": round(1000 * self.total, 1),
            "max_ms": round(1000 * self.worst, 1),
            "last_ms": round(1000 * self.last, 1),
        }


@dataclass
class FreezePolicy:
    """When to freeze and when to thaw; it only decides (the clock is passed in, so tests
    move it by hand instead of sleeping)."""

    settle: float  # seconds without a new connection before a burst is over
    burst: int  # connections after which a burst still going on is frozen anyway
    thaw_every: float  # 0: never
    clock: Callable[[], float] = time.monotonic
    pending: int = 0  # connections since the last freeze
    last_arrival: float = 0.0
    thawed_at: float = field(default=0.0)

    def __post_init__(self) -> None:
        self.thawed_at = self.clock()

    def connected(self) -> None:
        self.pending += 1
        self.last_arrival = self.clock()

    def due(self) -> Action | None:
        now = self.clock()
        if self.thaw_every > 0 and now - self.thawed_at >= self.thaw_every:
            return "thaw"
        if self.pending and (self.pending >= self.burst or now - self.last_arrival >= self.settle):
            return "freeze"
        return None

    def done(self, action: Action) -> None:
        self.pending = 0
        if action == "thaw":
            self.thawed_at = self.clock()


class Collector:
    """Applies a FreezePolicy to this process's collector and measures every pause: the
    automatic collections by generation (a `gc.callbacks` hook) and its own freezes and thaws.

    `frozen` is the size of the permanent generation, counted without walking it (gc.get_freeze_count()
    walks the whole generation: seconds at 19,500 connections, too slow for /healthz): exactly
    at start-up and at each thaw, then plus the objects each freeze adds. Frozen objects freed
    since (by reference counting) are only taken off at the next thaw."""

    def __init__(self, policy: FreezePolicy, *, young: int, old: int, tick: float = 1.0) -> None:
        """`young`: allocations before a youngest-generation collection; `old`: unfrozen objects
        in the older generations before a full collection freezes its survivors (their
        defaults and why: config.Settings, GC_YOUNG_THRESHOLD and GC_OLD_LIMIT)."""
        self.policy = policy
        self.tick = tick
        self.young = young
        self.old = old
        self.frozen = 0
        self.generations = [Timings() for _ in range(3)]
        self.freezes = Timings()
        self.thaws = Timings()
        self.thaw_collected = 0  # garbage the last thaw's collection freed (it was frozen)
        self.survivors_frozen = 0  # automatic full collections whose survivors were frozen
        self.long_pauses: deque[dict[str, Any]] = deque(maxlen=20)
        self._started = 0.0
        self._own = False  # a collection this object runs is counted as its freeze or thaw
        self._thresholds = gc.get_threshold()

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        if self._own:
            return
        if phase == "start":
            self._started = time.perf_counter()
            return
        if info["generation"] == 2 and self.frozen:  # started: the start-up is frozen
            self.frozen += sum(len(gc.get_objects(generation)) for generation in range(3))
            gc.freeze()
            self.survivors_frozen += 1
        took = time.perf_counter() - self._started  # the freeze is part of the pause
        self.generations[info["generation"]].add(took)
        self._noted(f"gen{info['generation']}", took)

    def _noted(self, kind: str, seconds: float) -> None:
        if 1000 * seconds >= LONG_PAUSE_MS:
            self.long_pauses.append(
                {"kind": kind, "ms": round(1000 * seconds, 1), "at": round(time.time(), 3)}
            )

    def start(self) -> None:
        """Measure collections from now on, and freeze what start-up built (counted exactly:
        the heap is small yet)."""
        if self._on_gc not in gc.callbacks:
            gc.callbacks.append(self._on_gc)
        self._thresholds = gc.get_threshold()
        gc.set_threshold(self.young, self._thresholds[1], FULL_AFTER_YOUNG)
        self.freeze()
        self.frozen = gc.get_freeze_count()

    def stop(self) -> None:
        if self._on_gc in gc.callbacks:
            gc.callbacks.remove(self._on_gc)
        gc.set_threshold(*self._thresholds)
        gc.unfreeze()
        self.frozen = 0

    def connected(self) -> None:
        """A new connection: part of a burst that will be frozen once it has settled."""
        self.policy.connected()

    def step(self) -> Action | None:
        """Freeze or thaw if the policy says it is time; what was done, if anything."""
        action = self.policy.due()
        if action == "thaw":
            self.thaw()
        elif action == "freeze":
            self.freeze()
        return action

    def freeze(self) -> None:
        """Collect the unfrozen objects (the burst's garbage is not frozen with it), then
        freeze the survivors, counting them first (they are few: only what came since the
        last freeze is unfrozen)."""
        with self._own_pause("freeze", self.freezes):
            gc.collect()
            self.frozen += sum(len(gc.get_objects(generation)) for generation in range(3))
            gc.freeze()

    def thaw(self) -> None:
        """Thaw, collect everything at once (cyclic garbage formed among frozen objects is
        freed only here), and freeze the survivors again, counted exactly."""
        with self._own_pause("thaw", self.thaws):
            gc.unfreeze()
            self.thaw_collected = gc.collect()
            gc.freeze()
            self.frozen = gc.get_freeze_count()

    @contextmanager
    def _own_pause(self, action: Action, timings: Timings) -> Iterator[None]:
        """A freeze or thaw: its collections are not counted as automatic ones; it is timed,
        noted if long, and told to the policy."""
        started = time.perf_counter()
        self._own = True
        try:
            yield
        finally:
            self._own = False
        self.policy.done(action)
        took = time.perf_counter() - started
        timings.add(took)
        self._noted(action, took)

    async def run(self) -> None:
        """Ask the policy every `tick` seconds, and keep the unfrozen generations small."""
        while True:
            await asyncio.sleep(self.tick)
            self.step()
            self.collect()

    def collect(self) -> int | None:
        """Collect by the generations' real sizes (a list of each: cheap while they are kept
        small): a full collection once the older two hold more than `old` objects (its
        survivors are frozen by `_on_gc`), else the youngest once it holds more than `young`.
        CPython counts allocations minus deallocations, and a deallocation of any object counts,
        even a frozen one: with connections closing (their frozen state freed), the count stood
        still while 400,000 new objects piled up unwalked, until a freeze's full collection
        walked them (a 500 ms pause every burst, bench/README.md sessions 9 and 10). Which
        generation was collected, if any."""
        if len(gc.get_objects(1)) + len(gc.get_objects(2)) > self.old:
            gc.collect(2)  # timed and noted by the callback, as an automatic one
            return 2
        if len(gc.get_objects(0)) > self.young:
            gc.collect(0)
            return 0
        return None

    def status(self) -> dict[str, Any]:
        """For /healthz: cheap whatever the heap (nothing here walks it)."""
        out: dict[str, Any] = {
            "frozen": self.frozen,
            "pending_connections": self.policy.pending,
            "freezes": self.freezes.status(),
            "thaws": {**self.thaws.status(), "collected": self.thaw_collected},
            "survivors_frozen": self.survivors_frozen,
        }
        for g, timings in enumerate(self.generations):
            out[f"gen{g}"] = timings.status()
        out["long_pauses"] = list(self.long_pauses)
        return out
