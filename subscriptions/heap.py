"""Short garbage-collector pauses with tens of thousands of open subscriptions.

CPython's full collection walks every live container object; 19,500 subscriptions are about
1.8 GB of them, and a walk took up to 3.2 s here, stalling every delivery meanwhile. Objects
that survive a while (a connection's state) are moved to the permanent generation every
FREEZE_EVERY seconds, so automatic full collections only walk what is newer; cyclic garbage
that forms among frozen objects waits for the next thaw (every THAW_EVERY seconds), when one
full collection walks everything again.
"""

from __future__ import annotations

import asyncio
import gc
import time
from typing import Any

FREEZE_EVERY = 5.0
THAW_EVERY = 3600.0


class Pauses:
    """Collector pauses by generation, for /healthz and the realtime benchmark."""

    def __init__(self) -> None:
        self.frozen = 0  # objects moved to the permanent generation (counted as they are frozen)
        self._started = 0.0
        self.by_generation = [[0, 0.0, 0.0] for _ in range(3)]  # collections, total s, max s

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            return
        took = time.perf_counter() - self._started
        acc = self.by_generation[info["generation"]]
        acc[0] += 1
        acc[1] += took
        acc[2] = max(acc[2], took)

    def status(self) -> dict[str, Any]:
        # Not gc.get_freeze_count(): it walks the whole permanent generation (57 ms for 470,000
        # objects here), and /healthz must stay cheap whatever the heap.
        out: dict[str, Any] = {"frozen": self.frozen}
        for g, (n, total, worst) in enumerate(self.by_generation):
            out[f"gen{g}"] = {
                "collections": n,
                "total_ms": round(1000 * total, 1),
                "max_ms": round(1000 * worst, 1),
            }
        return out


PAUSES = Pauses()
gc.callbacks.append(PAUSES)


def freeze_survivors() -> None:
    gc.collect(1)  # young cyclic garbage is collected first, cheaply
    # What is about to be frozen: the objects of the three generations (few, once the old ones
    # are frozen), counted here once rather than by walking the permanent generation.
    PAUSES.frozen += sum(len(gc.get_objects(generation)) for generation in range(3))
    gc.freeze()


def unfreeze() -> None:
    gc.unfreeze()
    PAUSES.frozen = 0


async def freeze_survivors_forever(every: float = FREEZE_EVERY, thaw_every: float = THAW_EVERY) -> None:
    thawed = time.monotonic()
    while True:
        await asyncio.sleep(every)
        if time.monotonic() - thawed >= thaw_every:
            unfreeze()  # the next full collection frees what died among the frozen
            thawed = time.monotonic()
        else:
            freeze_survivors()
