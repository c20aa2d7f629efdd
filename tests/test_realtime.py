"""Subscriptions over real sockets, both subprotocols: filters, visibility, replay, resume,
and a subscriber too slow to keep up."""

from __future__ import annotations

import pytest
import websockets

from tests.conftest import wait_until
from tests.helpers import citizen, ok, report, staff
from tests.ws import LEGACY_WS, TRANSPORT_WS, GraphQLWebSocket, StalledClient

GAMBIR = "31.71.01.1001"
BLOK_M = {"lat": -6.2443, "lng": 106.8005}
CREATED = """subscription($f: FeedFilter) { reportCreated(filter: $f) {
  id description kelurahan { name } author { id } category { code } } }"""
STATUS = """subscription($r: ID, $f: FeedFilter) { reportStatusChanged(reportId: $r, filter: $f) {
  from to note actor { id } report { id status } } }"""
COMMENTS = "subscription($r: ID!) { commentAdded(reportId: $r) { body isOfficial author { id } } }"
EVENTS = """subscription($f: FeedFilter, $after: String) { reportEvents(filter: $f, after: $after) {
  cursor kind occurredAt report { id status voteCount description } statusChange { to } comment { body } } }"""
VERIFY = "mutation($id: ID!) { verifyReport(id: $id) { id } }"
REJECT = 'mutation($id: ID!) { rejectReport(id: $id, reason: "spam") { id } }'
COMMENT = "mutation($r: ID!, $b: String!) { addComment(reportId: $r, body: $b) { id } }"
VOTE = "mutation($r: ID!) { vote(reportId: $r) { id } }"
UNVOTE = "mutation($r: ID!) { unvote(reportId: $r) { id } }"


def hub_of(app):
    return app.state.hub


def region_id(code: str) -> str:
    from domain.catalog import catalog

    return str(catalog().region_by_code[code].id)


@pytest.mark.parametrize("protocol", [TRANSPORT_WS, LEGACY_WS])
async def test_filtered_streams_on_both_protocols(app, client, live_url, protocol):
    reporter, reporter_id = await citizen(client)
    moderator, moderator_id = await staff(client, "MODERATOR")
    lurah, lurah_id = await staff(client, "OFFICER", region_code=GAMBIR)
    url = f"ws://{live_url}/graphql"
    hub = hub_of(app)
    before = hub.subscriber_count
    async with GraphQLWebSocket(url, protocol) as ws:
        created = await ws.subscribe(CREATED, {"f": {"regionId": region_id("31.71")}})  # kota Jakarta Pusat
        await wait_until(lambda: hub.subscriber_count == before + 1)
        inside = await report(client, reporter)  # Monas, Jakarta Pusat
        await report(client, reporter, location=BLOK_M)  # Jakarta Selatan: filtered out
        banjir = await report(client, reporter, category="banjir")
        op, data = await ws.next()
        assert op == created and data["reportCreated"]["id"] == inside["id"]
        assert data["reportCreated"]["kelurahan"]["name"] == "Gambir"
        assert data["reportCreated"]["author"]["id"] == reporter_id
        _, data = await ws.next()
        assert data["reportCreated"]["id"] == banjir["id"]
        await ws.nothing_more()

        status = await ws.subscribe(STATUS, {"r": inside["id"]})
        comments = await ws.subscribe(COMMENTS, {"r": inside["id"]})
        await wait_until(lambda: hub.subscriber_count == before + 3)
        await ok(client, VERIFY, {"id": inside["id"]}, moderator)
        await ok(client, VERIFY, {"id": banjir["id"]}, moderator)  # another report: not streamed
        await ok(client, COMMENT, {"r": inside["id"], "b": "Segera kami tangani"}, lurah)
        got = dict(await ws.take(2))
        assert got[status]["reportStatusChanged"] == {
            "from": "SUBMITTED",
            "to": "VERIFIED",
            "note": None,
            "actor": {"id": moderator_id},
            "report": {"id": inside["id"], "status": "VERIFIED"},
        }
        assert got[comments]["commentAdded"] == {
            "body": "Segera kami tangani",
            "isOfficial": True,
            "author": {"id": lurah_id},
        }
        await ws.nothing_more()
    await wait_until(lambda: hub.subscriber_count == before)  # freed on disconnect


async def test_rejected_reports_stream_only_to_author_and_staff(app, client, live_url):
    reporter, _ = await citizen(client)
    stranger, _ = await citizen(client)
    moderator, _ = await staff(client, "MODERATOR")
    url = f"ws://{live_url}/graphql"
    hub = hub_of(app)
    before = hub.subscriber_count
    async with (
        GraphQLWebSocket(url, TRANSPORT_WS) as anon,
        GraphQLWebSocket(url, TRANSPORT_WS, stranger) as other,
        GraphQLWebSocket(url, LEGACY_WS, reporter) as author,
        GraphQLWebSocket(url, TRANSPORT_WS, moderator) as mod,
    ):
        for ws in (anon, other, author, mod):
            await ws.subscribe(STATUS, {})
        await wait_until(lambda: hub.subscriber_count == before + 4)
        spam = await report(client, reporter)
        await ok(client, REJECT, {"id": spam["id"]}, moderator)
        for ws in (author, mod):
            _, data = await ws.next()
            assert data["reportStatusChanged"]["to"] == "REJECTED"
        for ws in (anon, other):
            await ws.nothing_more()


async def test_bad_token_is_refused_at_connection_init(live_url):
    url = f"ws://{live_url}/graphql"
    with pytest.raises((ConnectionError, websockets.ConnectionClosed)):
        async with GraphQLWebSocket(url, TRANSPORT_WS, "not-a-token") as ws:
            await ws.receive()


async def _event_stream(client, token, n):
    """n events on one report: create, then n-1 vote/unvote changes."""
    r = await report(client, token, description="Lampu jalan mati " + "x" * 1500)
    voter, _ = await citizen(client)
    for i in range(n - 1):
        await ok(client, VOTE if i % 2 == 0 else UNVOTE, {"r": r["id"]}, voter)
    return r


@pytest.mark.parametrize("protocol", [TRANSPORT_WS, LEGACY_WS])
async def test_replay_then_live_and_resume_from_cursor(app, client, live_url, protocol):
    reporter, _ = await citizen(client)
    url = f"ws://{live_url}/graphql"
    hub = hub_of(app)
    # A first client sees everything live and keeps the cursors.
    before = hub.subscriber_count
    async with GraphQLWebSocket(url, protocol) as ws:
        await ws.subscribe(EVENTS, {})
        await wait_until(lambda: hub.subscriber_count == before + 1)
        await _event_stream(client, reporter, 6)
        first = [d["reportEvents"] for _, d in await ws.take(6)]
    assert [e["kind"] for e in first] == ["CREATED"] + ["VOTES_CHANGED"] * 5
    assert first[-1]["report"]["voteCount"] == 1  # the report as it is when delivered
    cursors = [e["cursor"] for e in first]
    assert len(set(cursors)) == 6

    # Disconnected after the third event; meanwhile four more happen.
    missed_report = await report(client, reporter)
    moderator, _ = await staff(client, "MODERATOR")
    await ok(client, VERIFY, {"id": missed_report["id"]}, moderator)
    await ok(client, COMMENT, {"r": missed_report["id"], "b": "halo"}, reporter)
    async with GraphQLWebSocket(url, protocol) as ws:
        await ws.subscribe(EVENTS, {"after": cursors[2]})
        replayed = [d["reportEvents"] for _, d in await ws.take(6)]
        assert [e["cursor"] for e in replayed[:3]] == cursors[3:]
        assert [e["kind"] for e in replayed[3:]] == ["CREATED", "STATUS_CHANGED", "COMMENT_ADDED"]
        assert replayed[4]["statusChange"] == {"to": "VERIFIED"}
        assert replayed[5]["comment"] == {"body": "halo"}
        # ...then live, with no gap and no duplicate at the switch.
        await wait_until(lambda: hub.subscriber_count >= before + 1)
        await ok(client, COMMENT, {"r": missed_report["id"], "b": "lagi"}, reporter)
        _, data = await ws.next()
        assert data["reportEvents"]["comment"] == {"body": "lagi"}
        await ws.nothing_more()
    # Filtered replay: only the region's events.
    async with GraphQLWebSocket(url, protocol) as ws:
        await ws.subscribe(EVENTS, {"after": cursors[0], "f": {"regionId": region_id("31.74")}})
        await ws.nothing_more()


async def test_slow_subscriber_is_bounded_and_catches_up_from_the_log(app, client, live_url, monkeypatch):
    from subscriptions import hub as hub_module

    monkeypatch.setattr(hub_module, "QUEUE_LIMIT", 8)
    reporter, _ = await citizen(client)
    hub = hub_of(app)
    before = hub.subscriber_count
    # Each event carries its kota's boundary (tens of kB), so the kernel's socket buffers fill
    # and the server's writes block, as for a phone that stopped reading.
    heavy = EVENTS.replace("description }", "description kelurahan { parent { parent { boundary } } } }")
    host, port = live_url.split(":")
    stalled = StalledClient(host, int(port))
    await stalled.open(heavy)
    try:
        await wait_until(lambda: hub.subscriber_count == before + 1)
        (sub,) = [s for subs in hub._index.values() for s in subs]
        peak, overflows = 0, 0
        r = await report(client, reporter, description="Lampu jalan mati di gang sempit")
        voter, _ = await citizen(client)
        n = 150
        for i in range(n - 1):
            await ok(client, VOTE if i % 2 == 0 else UNVOTE, {"r": r["id"]}, voter)
            peak = max(peak, sub.queue.qsize())
            overflows += sub.overflowed
        # The client read nothing while 150 heavy events went out: the server kept at most
        # QUEUE_LIMIT of them for it, then dropped its buffer to re-read from the log later.
        assert peak <= 8 + 1
        assert overflows > 0
        events = [d["reportEvents"] for d in await stalled.read(n)]
        assert [e["kind"] for e in events] == ["CREATED"] + ["VOTES_CHANGED"] * (n - 1)
        assert len({e["cursor"] for e in events}) == n
    finally:
        await stalled.close()
