"""The process's connection to the broadcast channel (broadcaster's `Broadcast` API)."""

from __future__ import annotations

from collections.abc import Hashable
from contextlib import AbstractAsyncContextManager
from typing import Any

from broadcaster import Broadcast
from broadcaster._backends.memory import MemoryBackend

from subscriptions.redis_backend import SupervisedRedisBackend

CHANNEL = "warga.events"
COMMITS = "warga.commits"  # Redis counter: one more with every announcement, from any process


class Bus:
    def __init__(self, url: str) -> None:
        self.url = url
        if url.startswith(("redis://", "rediss://")):
            self.backend: Any = SupervisedRedisBackend(url)
        elif url.startswith("memory://"):
            self.backend = MemoryBackend(url)
        else:
            raise ValueError(f"BROADCAST_URL must be memory:// or redis://..., not {url!r}")
        self.broadcast = Broadcast(backend=self.backend)
        self.started = False
        self.announced = 0

    async def start(self) -> None:
        await self.broadcast.connect()
        self.started = True

    async def stop(self) -> None:
        if self.started:
            self.started = False
            await self.broadcast.disconnect()

    async def announce(self, event_id: int) -> None:
        if self.started:
            self.announced += 1
            if isinstance(self.backend, SupervisedRedisBackend):
                await self.backend.publish_counted(CHANNEL, str(event_id), COMMITS)
            else:
                await self.broadcast.publish(CHANNEL, str(event_id))

    async def version(self) -> Hashable | None:
        """A stamp that changes once any process sharing this bus has committed and announced a
        change (announced before the change's client gets its answer), or None when it cannot be
        known (Redis unreachable: then nothing may be reused). With Redis the shared counter,
        and the listener's reconnections, as announcements lost meanwhile were not counted;
        with the in-memory bus, this process's announcements (it is the only writer)."""
        if isinstance(self.backend, SupervisedRedisBackend):
            try:
                return ("redis", await self.backend.counter(COMMITS), self.backend.reconnects)
            except Exception:
                return None
        return ("memory", self.announced)

    def subscribe(self) -> AbstractAsyncContextManager[Any]:
        return self.broadcast.subscribe(CHANNEL)

    @property
    def connected(self) -> bool:
        return self.started and bool(getattr(self.backend, "connected", True))

    def status(self) -> dict[str, Any]:
        kind = "redis" if isinstance(self.backend, SupervisedRedisBackend) else "memory"
        state: dict[str, Any] = {"backend": kind, "connected": self.connected}
        if isinstance(self.backend, SupervisedRedisBackend):
            state["reconnects"] = self.backend.reconnects
            state["lastError"] = self.backend.last_error
        return state


_bus: Bus | None = None


def bus() -> Bus:
    global _bus
    if _bus is None:
        _bus = Bus("memory://")
    return _bus


def install_bus(instance: Bus) -> Bus:
    global _bus
    _bus = instance
    return instance
