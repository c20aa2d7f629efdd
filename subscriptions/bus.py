"""The process's connection to the broadcast channel (broadcaster's `Broadcast` API)."""

from __future__ import annotations

import asyncio
import contextlib
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
        # Redis: the announcement waiting for the one on its way to go out (see announce).
        self._latest = 0
        self._next: asyncio.Future[None] | None = None
        self._sender: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.broadcast.connect()
        self.started = True

    async def stop(self) -> None:
        if self.started:
            self.started = False
            if self._sender is not None:
                self._sender.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._sender
            await self.broadcast.disconnect()

    async def announce(self, event_id: int) -> None:
        """Tell every process the log holds events up to `event_id`; returns once an
        announcement covering it is counted (before the change's client gets its answer).
        With Redis, the commits made while one announcement is on its way go out together as
        the next one, as soon as it is back: the first of a quiet moment goes at once, and
        under hundreds of commits a second the round trips (and every process's wake-ups)
        are shared. The hubs read the log from their own position, so one announcement of
        the highest id stands for all."""
        if not self.started:
            return
        self.announced += 1
        if not isinstance(self.backend, SupervisedRedisBackend):
            await self.broadcast.publish(CHANNEL, str(event_id))
            return
        self._latest = max(self._latest, event_id)
        if self._next is None:
            self._next = asyncio.get_running_loop().create_future()
            self._next.add_done_callback(_retrieved)
            if self._sender is None:
                self._sender = asyncio.ensure_future(self._send())
        await asyncio.shield(self._next)

    async def _send(self) -> None:
        """Send the waiting announcement, until none is waiting."""
        done: asyncio.Future[None] | None = None
        try:
            while self._next is not None:
                done, self._next = self._next, None
                try:
                    await self.backend.publish_counted(CHANNEL, str(self._latest), COMMITS)
                except Exception as exc:
                    done.set_exception(exc)
                else:
                    done.set_result(None)
        finally:
            self._sender = None
            for waiting in (done, self._next):  # stopped meanwhile: publish() logs it as lost
                if waiting is not None and not waiting.done():
                    waiting.set_exception(ConnectionError("the bus stopped before announcing"))
            self._next = None

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


def _retrieved(future: asyncio.Future[None]) -> None:
    """A failed announcement whose callers are gone is not an "exception never retrieved":
    publish() logs the failure for each caller still waiting."""
    if not future.cancelled():
        future.exception()


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
