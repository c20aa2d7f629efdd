"""PostgreSQL + Redis only: a server process killed after it claimed a notification and before
the push service acknowledged it; the other process delivers it, exactly once. (Collected only
when WARGA_TEST_BACKEND=postgres; see conftest.collect_ignore.)"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from tests.helpers import MONAS, citizen, ok, report, staff
from tests.notify_receivers import PushReceiver, until
from tests.test_cluster_pg import RedisServer, ServerProcess

REGISTER_PUSH = """mutation($input: PushSubscriptionInput!) { registerPushSubscription(input: $input) { id } }"""
VERIFY = "mutation($id: ID!) { verifyReport(id: $id) { id status } }"


@pytest.fixture
async def two_senders(app, monkeypatch) -> AsyncIterator[tuple[ServerProcess, ServerProcess]]:
    """Two server processes, and this process's own sender paused so only they deliver."""
    monkeypatch.setenv("NOTIFY_POLL_SECONDS", "0.3")
    monkeypatch.setenv("NOTIFY_LEASE_SECONDS", "3")
    monkeypatch.setenv("NOTIFY_BATCH_SECONDS", "0")
    await app.state.sender.stop()
    redis = RedisServer()
    redis.start()
    a, b = ServerProcess(redis.port), ServerProcess(redis.port)
    try:
        await asyncio.gather(a.ready(), b.ready())
        yield a, b
    finally:
        a.stop()
        b.stop()
        redis.stop()
        await app.state.sender.start()


async def _in_flight(server: ServerProcess) -> int:
    try:
        return (await server.health())["notifications"]["in_flight"]
    except (httpx.HTTPError, KeyError):
        return 0


async def test_a_process_killed_mid_delivery_leaves_it_to_the_other_exactly_once(app, client, two_senders):
    from models import Notification

    a, b = two_senders
    receiver = await PushReceiver().start()
    try:
        reporter, _ = await citizen(client)
        moderator, _ = await staff(client, "MODERATOR")
        await ok(client, REGISTER_PUSH, {"input": receiver.device("phone").subscription()}, reporter)
        r = await report(client, reporter, location=MONAS)
        receiver.hold = asyncio.Event()  # the push service takes the request and never answers
        async with httpx.AsyncClient(base_url=a.url) as c:
            resp = await c.post("/graphql", json={"query": VERIFY, "variables": {"id": r["id"]}},
                                headers={"Authorization": f"Bearer {moderator}"})  # fmt: skip
            assert resp.json()["data"]["verifyReport"]["status"] == "VERIFIED"
        await until(lambda: receiver.held == 1, what="the first delivery attempt")
        holder = None
        for _ in range(50):
            flights = await asyncio.gather(_in_flight(a), _in_flight(b))
            if any(flights):
                holder, other = (a, b) if flights[0] else (b, a)
                break
            await asyncio.sleep(0.05)
        assert holder is not None, "no process holds the notification"
        holder.proc.kill()  # SIGKILL: no cleanup, its claim stays until the lease runs out
        holder.proc.wait()
        held = receiver.hold
        receiver.hold = None
        held.set()  # the dead process's request is answered 503: never delivered
        await until(lambda: receiver.items("phone"), timeout=20, what="delivery by the other process")
        assert (await other.health())["notifications"]["sent"] == 1
        await asyncio.sleep(4)  # longer than a lease: nothing else comes
        assert len(receiver.items("phone")) == 1
        (row,) = await Notification.filter(report_id=int(r["id"])).all()
        assert row.state == "sent" and row.attempts == 2
        (item,) = receiver.items("phone")
        assert item["title"] == f"Laporan #{r['id']}: Terverifikasi" and item["id"] == str(row.id)
    finally:
        await receiver.stop()
    assert not receiver.problems, receiver.problems
