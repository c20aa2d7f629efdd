"""The garbage-collector policy through the service: start-up is frozen, a burst of websocket
connections (either subprotocol) is frozen once after it settles and not again while nothing
new comes, a long burst is frozen every `burst` connections, and a thaw is followed by a
collection that frees what died among frozen objects. /healthz shows the frozen count.

The session app's policy runs on a hand-moved clock (tests/conftest.py); a test moves it and
asks the collector for its next step, as its background loop does every second."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import weakref
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from typing import Any

import httpx
import pytest

from tests.conftest import wait_until
from tests.helpers import OPERATOR, as_operator, citizen, ok, report
from tests.ws import LEGACY_WS, TRANSPORT_WS, GraphQLWebSocket


@pytest.fixture(autouse=True)
def operator_token(app: Any) -> Iterator[None]:
    """/healthz shows the collector to operators only."""
    with as_operator(app):
        yield


async def collector_health(client: httpx.AsyncClient) -> dict[str, Any]:
    return (await client.get("/healthz", headers=OPERATOR)).json()["gc"]


def settled(app: Any) -> Any:
    """The app's collector with whatever earlier tests left pending frozen: a clean start."""
    collector = app.state.collector
    collector.policy.clock.advance(collector.policy.settle)
    collector.step()
    return collector


async def test_start_up_is_frozen_and_healthz_shows_the_count(app, client):
    status = await collector_health(client)
    assert status["freezes"]["count"] >= 1  # the one after start-up, at least
    assert status["frozen"] > 1000  # the modules, the schema, the catalog
    assert gc.get_freeze_count() > 0
    assert set(status) >= {"pending_connections", "thaws", "gen0", "gen1", "gen2", "long_pauses"}


async def test_a_burst_of_connections_is_frozen_once_after_it_settles(app, client, live_url):
    collector = settled(app)
    clock, settle = collector.policy.clock, collector.policy.settle
    before = await collector_health(client)
    assert before["pending_connections"] == 0
    async with AsyncExitStack() as sockets:
        for protocol in (TRANSPORT_WS, LEGACY_WS, TRANSPORT_WS):
            await sockets.enter_async_context(GraphQLWebSocket(f"ws://{live_url}/graphql", protocol))
            clock.advance(settle / 2)
            assert collector.step() is None  # connections still arriving: not yet
        during = await collector_health(client)
        assert during["pending_connections"] == 3
        assert during["freezes"]["count"] == before["freezes"]["count"]

        clock.advance(settle / 2)  # `settle` seconds without a new connection
        assert collector.step() == "freeze"
        after = await collector_health(client)
        assert after["freezes"]["count"] == before["freezes"]["count"] + 1
        assert after["pending_connections"] == 0
        assert after["frozen"] > before["frozen"]  # the three connections' state

        for _ in range(5):  # nothing new: no periodic freezing
            clock.advance(10 * settle)
            assert collector.step() is None
        assert (await collector_health(client))["freezes"]["count"] == after["freezes"]["count"]


async def test_a_long_burst_is_frozen_every_burst_connections(app, client, live_url):
    collector = settled(app)
    burst = collector.policy.burst
    before = await collector_health(client)
    async with AsyncExitStack() as sockets:
        for i in range(burst):
            await sockets.enter_async_context(GraphQLWebSocket(f"ws://{live_url}/graphql", TRANSPORT_WS))
            if i < burst - 1:
                assert collector.step() is None
        assert collector.step() == "freeze"  # the clock has not moved: the count did it
    after = await collector_health(client)
    assert after["freezes"]["count"] == before["freezes"]["count"] + 1


class Node:
    """Cyclic garbage: reference counting alone never frees it."""

    def __init__(self) -> None:
        self.me = self


async def test_a_thaw_is_followed_by_a_collection(app, client, live_url):
    collector = settled(app)
    clock = collector.policy.clock
    node = Node()
    dead = weakref.ref(node)
    async with GraphQLWebSocket(f"ws://{live_url}/graphql", TRANSPORT_WS):
        clock.advance(collector.policy.settle)
        assert collector.step() == "freeze"  # the node too: it was alive then
    del node
    gc.collect()
    assert dead() is not None  # garbage among frozen objects outlives full collections...
    before = await collector_health(client)

    clock.advance(collector.policy.thaw_every)
    assert collector.step() == "thaw"
    assert dead() is None  # ...until the thaw, which collects at once
    after = await collector_health(client)
    assert after["thaws"]["count"] == before["thaws"]["count"] + 1
    assert after["thaws"]["collected"] >= 1
    # Counted exactly at the thaw (everything alive is frozen again); frozen objects freed since
    # can only lower the real count.
    assert 0.9 * after["frozen"] <= gc.get_freeze_count() <= after["frozen"]
    assert collector.step() is None  # the next thaw is `thaw_every` away


async def test_survivors_of_an_automatic_full_collection_are_frozen(app, client):
    """What lives on after an automatic full collection is frozen as it ends (the next walks
    only what is newer); what it found dead is freed, not frozen."""
    settled(app)
    before = await collector_health(client)
    alive = [Node() for _ in range(100)]
    dead = weakref.ref(Node())  # cyclic garbage, not yet collected
    thresholds = gc.get_threshold()
    assert thresholds[2] == 1  # the collector's: a full collection may follow any young one
    assert thresholds[0] == app.state.collector.young == 20_000  # deliveries' garbage dies young
    assert app.state.collector.old == 100_000  # the older generations walked 100,000 at a time
    gc.set_threshold(10, 1, 1)  # automatic collections come quickly
    try:
        grown: list[list[int]] = []
        while (await collector_health(client))["survivors_frozen"] == before["survivors_frozen"]:
            grown.extend([i] for i in range(10_000))  # promoted survivors, until a full one runs
            assert len(grown) < 10_000_000, "no automatic full collection came"
    finally:
        gc.set_threshold(*thresholds)
    assert dead() is None
    unfrozen = {id(o) for generation in range(3) for o in gc.get_objects(generation)}
    assert not any(id(node) in unfrozen for node in alive)
    after = await collector_health(client)
    assert after["frozen"] > before["frozen"]
    assert after["gen2"]["count"] > before["gen2"]["count"]


# Objects of the service's own making, by the module of their type or of their code.
SERVER_SIDE = ("schema", "subscriptions", "resolvers", "domain", "models", "server", "strawberry",
               "starlette", "uvicorn", "graphql")  # fmt: skip


def _server_side(obj: Any) -> str | None:
    code = getattr(obj, "f_code", None) or getattr(obj, "cr_code", None) or getattr(obj, "ag_code", None)
    where = code.co_filename if code is not None else (getattr(type(obj), "__module__", None) or "")
    for package in SERVER_SIDE:
        if where.startswith(package) or f"/{package}/" in where or where.endswith(f"/{package}.py"):
            return f"{type(obj).__qualname__}:{getattr(code, 'co_qualname', '')}" if code else type(obj).__qualname__
    return None


@contextlib.asynccontextmanager
async def cyclic_garbage(app: Any) -> AsyncIterator[list[str]]:
    """What the block leaves as cyclic garbage of the service's own (reference counting cannot
    free it): the collector is stopped (nothing frozen, no automatic collection) meanwhile.
    What lived before the block is held meanwhile: an earlier test's connection that the
    session's server closes now (its keep-alive timeout) is not the block's garbage."""
    collector = app.state.collector
    collector.stop()
    gc.collect()
    gc.disable()
    earlier = gc.get_objects()
    found: list[str] = []
    try:
        yield found
        gc.set_debug(gc.DEBUG_SAVEALL)
        gc.collect()
        found.extend(name for name in map(_server_side, gc.garbage) if name)
    finally:
        del earlier
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
        collector.start()


@pytest.mark.parametrize("protocol", [TRANSPORT_WS, LEGACY_WS])
@pytest.mark.parametrize("ending", ["close", "complete", "abort"])
async def test_a_closed_subscription_leaves_no_cyclic_garbage(app, client, live_url, protocol, ending):
    """A closed connection's state is freed by reference counting, not left for a collection:
    it was frozen with its burst, and cyclic garbage among frozen objects stays until a thaw,
    which walks the whole heap (5.4 s at 19,500 connections, bench/README.md session 9)."""
    token, _ = await citizen(client)
    hub = app.state.hub
    idle = hub.subscriber_count
    async with cyclic_garbage(app) as found:
        ws = GraphQLWebSocket(f"ws://{live_url}/graphql", protocol, token)
        await ws.__aenter__()
        op = await ws.subscribe("subscription { reportCreated { id description kelurahan { name } } }")
        await wait_until(lambda: hub.subscriber_count == idle + 1)
        made = await report(client, token)
        assert (await ws.next())[1]["reportCreated"]["id"] == made["id"]
        await ok(client, "{ reports(first: 5) { edges { node { id status } } } }", token=token)
        gc.collect()  # as a freeze does first: what died before it is not frozen (an upgraded
        # socket's HTTP protocol, a new document's validation); what lives now is
        if ending == "complete":
            await ws.send({"id": op, "type": "complete" if protocol == TRANSPORT_WS else "stop"})
        if ending == "abort":
            ws.ws.transport.abort()
        else:
            await ws.ws.close()
        await wait_until(lambda: hub.subscriber_count == idle)
        await asyncio.sleep(0.2)  # the handler's own ending after the hub let go
    assert not found, Counter(found).most_common(10)


async def test_a_closed_http_connection_leaves_no_cyclic_garbage(app, client, live_url):
    """The same for a keep-alive HTTP connection open across a freeze (an automatic full
    collection's survivors are frozen: whatever is open then)."""
    token, _ = await citizen(client)
    feed = "{ reports(first: 5) { edges { node { id status category { name } } } } }"
    async with cyclic_garbage(app) as found:
        async with httpx.AsyncClient(base_url=f"http://{live_url}") as c:
            await ok(c, feed, token=token)
            await report(c, token)
            gc.collect()  # as a freeze does first
            await ok(c, feed, token=token)  # now every document is known
            await report(c, token)
        await asyncio.sleep(0.2)  # the server sees the connection end
    assert not found, Counter(found).most_common(10)
