"""A broadcaster backend on redis.asyncio pub/sub that survives Redis restarts.

broadcaster's own Redis backend delivers nothing with redis-py 8 and its listener dies for
good when Redis restarts (see README). This one keeps a supervised listener: on any error it
reconnects with capped exponential backoff and resubscribes every channel, and it exposes
`connected` and `reconnects` so the hub can fall back to polling the event log meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import redis.asyncio as aioredis
from broadcaster import Event
from broadcaster._backends.base import BroadcastBackend

log = logging.getLogger("warga.broadcast")

BACKOFF_START = 0.05
BACKOFF_CAP = 1.0


class SupervisedRedisBackend(BroadcastBackend):
    def __init__(self, url: str) -> None:
        self.url = url
        self.connected = False
        self.reconnects = 0
        self.last_error: str | None = None
        self._channels: set[str] = set()
        self._queue: asyncio.Queue[Event] = asyncio.Queue()
        self._publisher: aioredis.Redis | None = None
        self._pubsub: Any = None
        self._task: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()

    async def connect(self) -> None:
        self._publisher = aioredis.from_url(
            self.url, socket_connect_timeout=1.0, socket_timeout=2.0, retry_on_timeout=False
        )
        self._task = asyncio.create_task(self._supervise(), name="warga-redis-listener")

    async def disconnect(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        await self._close_pubsub()
        if self._publisher is not None:
            await self._publisher.aclose()
        self.connected = False

    async def subscribe(self, channel: str) -> None:
        self._channels.add(channel)
        if self._pubsub is not None and self.connected:
            with contextlib.suppress(Exception):
                await self._pubsub.subscribe(channel)
        self._changed.set()

    async def unsubscribe(self, channel: str) -> None:
        self._channels.discard(channel)
        if self._pubsub is not None and self.connected:
            with contextlib.suppress(Exception):
                await self._pubsub.unsubscribe(channel)

    async def publish(self, channel: str, message: Any) -> None:
        assert self._publisher is not None, "connect() first"
        await self._publisher.publish(channel, message)

    async def publish_counted(self, channel: str, message: Any, counter: str) -> None:
        """Publish and count it in one round trip: the counter is the cluster's commit stamp."""
        assert self._publisher is not None, "connect() first"
        async with self._publisher.pipeline(transaction=False) as pipe:
            pipe.incr(counter)
            pipe.publish(channel, message)
            await pipe.execute()

    async def counter(self, key: str) -> int:
        assert self._publisher is not None, "connect() first"
        return int(await self._publisher.get(key) or 0)

    async def next_published(self) -> Event:
        return await self._queue.get()

    async def _close_pubsub(self) -> None:
        pubsub, self._pubsub = self._pubsub, None
        if pubsub is not None:
            with contextlib.suppress(Exception):
                await pubsub.aclose()
            with contextlib.suppress(Exception):
                await pubsub.connection_pool.disconnect()

    async def _supervise(self) -> None:
        backoff = BACKOFF_START
        first = True
        while True:
            try:
                # No socket timeout on the listening connection: a quiet channel is not an error.
                client = aioredis.from_url(
                    self.url, socket_connect_timeout=1.0, socket_timeout=None, health_check_interval=5
                )
                self._pubsub = client.pubsub(ignore_subscribe_messages=True)
                await self._pubsub.ping()
                if self._channels:
                    await self._pubsub.subscribe(*self._channels)
                else:
                    await self._changed.wait()
                    await self._pubsub.subscribe(*self._channels)
                if not first:
                    self.reconnects += 1
                first = False
                self.connected = True
                self.last_error = None
                backoff = BACKOFF_START
                log.info("redis listener connected (%s reconnects)", self.reconnects)
                while True:
                    message = await self._pubsub.get_message(timeout=5.0)
                    if message is None:
                        await self._pubsub.ping()  # detects a dead server on a silent channel
                        continue
                    if message.get("type") == "message":
                        data = message["data"]
                        channel = message["channel"]
                        await self._queue.put(
                            Event(
                                channel=channel.decode() if isinstance(channel, bytes) else channel,
                                message=data.decode() if isinstance(data, bytes) else data,
                            )
                        )
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if self.connected:
                    log.warning("redis listener lost: %s; reconnecting", exc)
                self.connected = False
                self.last_error = str(exc) or type(exc).__name__
                await self._close_pubsub()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, BACKOFF_CAP)
