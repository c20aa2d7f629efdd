"""Announcements over Redis are shared while one is on its way, and none is answered early."""

from __future__ import annotations

import asyncio
import logging

import pytest

from subscriptions import publish
from subscriptions.bus import Bus, install_bus
from subscriptions.redis_backend import SupervisedRedisBackend


class SlowRedis(SupervisedRedisBackend):
    """The backend's publish, recorded and slow (no Redis needed): each takes one gate."""

    def __init__(self) -> None:
        super().__init__("redis://unused")
        self.sent: list[str] = []
        self.gate: asyncio.Queue[Exception | None] = asyncio.Queue()

    async def publish_counted(self, channel: str, message: str, counter: str) -> None:
        outcome = await self.gate.get()
        if outcome is not None:
            raise outcome
        self.sent.append(message)


def _bus() -> tuple[Bus, SlowRedis]:
    bus = Bus("memory://")
    bus.backend = backend = SlowRedis()
    bus.started = True
    return bus, backend


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_announcements_made_while_one_is_sent_go_out_as_one() -> None:
    bus, redis = _bus()
    first = asyncio.ensure_future(bus.announce(1))
    await _settle()
    later = [asyncio.ensure_future(bus.announce(i)) for i in (5, 3, 9, 7)]
    await _settle()
    assert not first.done() and not any(t.done() for t in later)
    redis.gate.put_nowait(None)  # the first goes out alone: the others came after it left
    await _settle()
    assert first.done() and redis.sent == ["1"]
    assert not any(t.done() for t in later), "answered before an announcement covering it"
    redis.gate.put_nowait(None)
    await asyncio.gather(*later)
    assert redis.sent == ["1", "9"]  # one for the four, carrying the highest id
    assert bus._sender is None and bus._next is None


async def test_a_failed_announcement_is_logged_by_every_caller_and_raises_for_none(
    caplog: pytest.LogCaptureFixture,
) -> None:
    bus, redis = _bus()
    install_bus(bus)
    try:
        calls = [asyncio.ensure_future(publish.publish(i)) for i in (1, 2, 3)]
        await _settle()
        redis.gate.put_nowait(ConnectionError("down"))  # one announcement for the three
        with caplog.at_level(logging.WARNING, logger="warga.events"):
            await asyncio.gather(*calls)  # publish() never raises: the change is committed
        assert len([r for r in caplog.records if "publish of event" in r.message]) == 3
        redis.gate.put_nowait(None)
        await publish.publish(4)  # and the next announcement goes out
        assert redis.sent == ["4"]
    finally:
        install_bus(Bus("memory://"))


async def test_stopping_releases_the_waiting_callers() -> None:
    bus, _ = _bus()
    bus.broadcast.disconnect = _nothing  # type: ignore[method-assign]
    waiting = [asyncio.ensure_future(bus.announce(i)) for i in (1, 2)]
    await _settle()
    await asyncio.wait_for(bus.stop(), 1)
    results = await asyncio.wait_for(asyncio.gather(*waiting, return_exceptions=True), 1)
    assert all(isinstance(r, ConnectionError) for r in results)


async def _nothing() -> None:
    return None
