"""The privacy issue's findings, one regression test each, over HTTP and over both websocket
subprotocols (tests/test_privacy.py holds the rules as a property on random cities)."""

from __future__ import annotations

import pytest

from tests.conftest import hub_idle, wait_until
from tests.helpers import citizen, error, ok, report, staff
from tests.ws import LEGACY_WS, TRANSPORT_WS, GraphQLWebSocket

GAMBIR = "31.71.01.1001"
PROTOCOLS = pytest.mark.parametrize("protocol", [TRANSPORT_WS, LEGACY_WS])
REPORT = """query($id: ID!) { report(id: $id) { anonymous author { id handle displayName reportsCount }
  timeline { to actor { id handle displayName } }
  comments { edges { node { body author { id handle displayName } } } } } }"""
VERIFY = "mutation($id: ID!) { verifyReport(id: $id) { id } }"
REJECT = 'mutation($id: ID!, $r: String! = "spam berulang") { rejectReport(id: $id, reason: $r) { id } }'
DUPLICATE = "mutation($id: ID!, $of: ID!) { markDuplicate(id: $id, duplicateOfId: $of) { id } }"
RESOLVE = 'mutation($id: ID!) { resolveReport(id: $id, note: "Sudah diangkut") { id } }'
REOPEN = 'mutation($id: ID!) { reopenReport(id: $id, reason: "Masih ada") { id } }'
COMMENT = "mutation($r: ID!, $b: String!) { addComment(reportId: $r, body: $b) { id } }"
DELETE = "mutation($id: ID!) { deleteComment(id: $id) }"
SET_ROLE = "mutation($u: ID!, $role: Role!) { setUserRole(userId: $u, role: $role) { id role } }"
EVENTS = """subscription($after: String) { reportEvents(after: $after) { cursor kind
  report { id status description author { id } }
  statusChange { to note actor { id handle } } comment { id body author { id handle displayName } } } }"""
STATUS = "subscription { reportStatusChanged { to actor { id handle } report { id author { id } } } }"


async def _next_of_kind(ws, kind):
    """The next reportEvents event of a kind (an earlier event may still arrive live first)."""
    while True:
        _, data = await ws.next()
        if data["reportEvents"]["kind"] == kind:
            return data["reportEvents"]


async def _anonymous_city(client):
    """An anonymous report by a citizen, verified, resolved and reopened by its reporter, with
    a comment of the reporter's own."""
    reporter, reporter_id = await citizen(client)
    moderator, _ = await staff(client, "MODERATOR")
    lurah, _ = await staff(client, "OFFICER", region_code=GAMBIR)
    r = await report(client, reporter, anonymous=True)
    await ok(client, VERIFY, {"id": r["id"]}, moderator)
    await ok(client, RESOLVE, {"id": r["id"]}, lurah)
    await ok(client, REOPEN, {"id": r["id"]}, reporter)
    await ok(client, COMMENT, {"r": r["id"], "b": "Saya yang melapor, masih ada"}, reporter)
    return r["id"], reporter, reporter_id, moderator, lurah


async def test_an_anonymous_reporter_is_named_nowhere_over_http(client):
    rid, reporter, reporter_id, moderator, lurah = await _anonymous_city(client)
    other, _ = await citizen(client)
    admin, _ = await staff(client, "ADMIN")
    for who in (None, other, lurah):  # the public, another citizen, the officer it is about
        data = (await ok(client, REPORT, {"id": rid}, who))["report"]
        assert data["anonymous"] is True and data["author"] is None
        assert [e["actor"] for e in data["timeline"] if e["to"] in ("SUBMITTED", "REOPENED")] == [None, None]
        assert all(e["actor"] is None or e["actor"]["id"] != reporter_id for e in data["timeline"])
        (comment,) = [e["node"] for e in data["comments"]["edges"]]
        assert comment["author"]["id"] != reporter_id and comment["author"]["displayName"] == "Anonim"
        # The authorId filter does not find the anonymous report for them either.
        by_author = "query($a: ID!) { reports(filter: {authorId: $a}) { totalCount } }"
        found = await ok(client, by_author, {"a": reporter_id}, who)
        assert found["reports"]["totalCount"] == 0
    for who in (reporter, moderator, admin):  # the author, MODERATOR and ADMIN know
        data = (await ok(client, REPORT, {"id": rid}, who))["report"]
        assert data["author"]["id"] == reporter_id
        assert data["timeline"][0]["actor"]["id"] == reporter_id
        assert data["comments"]["edges"][0]["node"]["author"]["id"] == reporter_id


async def test_posting_anonymously_does_not_show_on_the_public_report_count(client):
    reporter, _ = await citizen(client)
    named = await report(client, reporter)
    await report(client, reporter, anonymous=True)
    query = "query($id: ID!) { report(id: $id) { author { reportsCount } } }"
    onlooker, _ = await citizen(client)
    lurah, _ = await staff(client, "OFFICER", region_code=GAMBIR)
    for who in (None, onlooker, lurah):
        assert (await ok(client, query, {"id": named["id"]}, who))["report"]["author"]["reportsCount"] == 1
    moderator, _ = await staff(client, "MODERATOR")
    for who in (reporter, moderator):
        assert (await ok(client, query, {"id": named["id"]}, who))["report"]["author"]["reportsCount"] == 2


async def test_a_rejected_report_is_not_reached_through_duplicate_of_comments_or_timeline(client):
    reporter, _ = await citizen(client)
    moderator, _ = await staff(client, "MODERATOR")
    original = await report(client, reporter, description="Laporan asli yang nanti ditolak")
    dup = await report(client, reporter)
    await ok(client, DUPLICATE, {"id": dup["id"], "of": original["id"]}, moderator)
    await ok(client, COMMENT, {"r": original["id"], "b": "komentar di laporan asli"}, reporter)
    await ok(client, REJECT, {"id": original["id"], "r": "alasan penolakan rahasia"}, moderator)
    query = """query($id: ID!) { report(id: $id) { duplicateOf { status description timeline { note } } } }"""
    for who in (None, (await citizen(client))[0]):
        data = await ok(client, query, {"id": dup["id"]}, who)
        assert data["report"]["duplicateOf"] is None
        assert (await ok(client, query, {"id": original["id"]}, who))["report"] is None
    for who in (reporter, moderator):
        data = await ok(client, query, {"id": dup["id"]}, who)
        assert data["report"]["duplicateOf"]["status"] == "REJECTED"
        assert data["report"]["duplicateOf"]["timeline"][-1]["note"] == "alasan penolakan rahasia"


@PROTOCOLS
async def test_an_anonymous_reporter_is_named_by_no_event_nor_replay(app, client, live_url, protocol):
    from subscriptions.log import START

    rid, reporter, reporter_id, moderator, lurah = await _anonymous_city(client)
    for who, knows in ((None, False), (lurah, False), (reporter, True), (moderator, True)):
        async with GraphQLWebSocket(f"ws://{live_url}/graphql", protocol, who) as ws:
            await ws.subscribe(EVENTS, {"after": START.encode()})
            events = [d["reportEvents"] for _, d in await ws.take(5)]
        assert [e["kind"] for e in events] == ["CREATED", "STATUS_CHANGED", "STATUS_CHANGED", "STATUS_CHANGED",
                                               "COMMENT_ADDED"]  # fmt: skip
        mine = [events[0]["report"]["author"], events[3]["statusChange"]["actor"], events[4]["comment"]["author"]]
        if knows:
            assert [x["id"] for x in mine] == [reporter_id] * 3
        else:
            assert mine[0] is None and mine[1] is None and mine[2]["id"] != reporter_id
    # Live too: the reporter's own move, to a live subscriber who may not know them.
    hub = app.state.hub
    async with GraphQLWebSocket(f"ws://{live_url}/graphql", protocol, lurah) as ws:
        before = hub.subscriber_count
        await ws.subscribe(STATUS)
        await wait_until(lambda: hub.subscriber_count == before + 1)
        await ok(client, RESOLVE, {"id": rid}, lurah)
        await ok(client, REOPEN, {"id": rid}, reporter)
        moves = [d["reportStatusChanged"] for _, d in await ws.take(2)]
    assert moves[0]["actor"] is not None and moves[1]["to"] == "REOPENED" and moves[1]["actor"] is None
    assert all(m["report"]["author"] is None for m in moves)


@PROTOCOLS
async def test_a_deleted_comment_is_a_tombstone_live_and_replayed(app, client, live_url, protocol):
    reporter, reporter_id = await citizen(client)
    r = await report(client, reporter)
    hub = app.state.hub
    async with GraphQLWebSocket(f"ws://{live_url}/graphql", protocol) as ws:
        before = hub.subscriber_count
        await ws.subscribe(EVENTS, {})
        await wait_until(lambda: hub.subscriber_count == before + 1)
        cid = (await ok(client, COMMENT, {"r": r["id"], "b": "rahasia yang disesali"}, reporter))["addComment"]["id"]
        added = await _next_of_kind(ws, "COMMENT_ADDED")
        assert added["comment"]["body"] == "rahasia yang disesali"  # live, before the deletion
        assert await ok(client, DELETE, {"id": cid}, reporter) == {"deleteComment": True}
        deleted = await _next_of_kind(ws, "COMMENT_DELETED")
    assert deleted["kind"] == "COMMENT_DELETED" and deleted["comment"]["id"] == cid
    assert deleted["comment"]["body"] == "" and deleted["comment"]["author"]["id"] != reporter_id
    # A replay from before the comment carries no body or author of it.
    from subscriptions.log import START

    async with GraphQLWebSocket(f"ws://{live_url}/graphql", protocol, reporter) as ws:
        await ws.subscribe(EVENTS, {"after": START.encode()})
        replay = [d["reportEvents"] for _, d in await ws.take(3)]
    assert [e["kind"] for e in replay] == ["CREATED", "COMMENT_ADDED", "COMMENT_DELETED"]
    assert "rahasia" not in str(replay)
    assert [e["comment"]["author"]["displayName"] for e in replay[1:]] == ["Anonim", "Anonim"]
    assert all(e["comment"]["author"]["id"] != reporter_id for e in replay[1:])
    listed = await ok(client, REPORT, {"id": r["id"]}, reporter)
    assert listed["report"]["comments"]["edges"] == []


async def test_the_csv_export_gives_a_partner_no_rejected_report(client):
    reporter, _ = await citizen(client)
    moderator, _ = await staff(client, "MODERATOR")
    kept = await report(client, reporter, description="Laporan yang tetap ada")
    gone = await report(client, reporter, description="Laporan yang ditolak moderator")
    await ok(client, REJECT, {"id": gone["id"]}, moderator)
    partner, _ = await staff(client, "AGENCY_PARTNER")
    admin, _ = await staff(client, "ADMIN")
    for token, sees_rejected in ((partner, False), (admin, True)):
        csv = await client.get("/exports/reports.csv", headers={"Authorization": f"Bearer {token}"})
        assert csv.status_code == 200
        assert kept["description"] in csv.text
        assert ("ditolak moderator" in csv.text) == sees_rejected
        graphql = await ok(client, "{ reports(first: 100) { edges { node { id } } } }", token=token)
        ids = {e["node"]["id"] for e in graphql["reports"]["edges"]}
        assert (gone["id"] in ids) == sees_rejected  # the same answer as GraphQL's


@PROTOCOLS
async def test_a_demoted_moderator_loses_staff_sight_on_an_open_socket(app, client, live_url, protocol):
    reporter, reporter_id = await citizen(client)
    moderator, moderator_id = await staff(client, "MODERATOR")
    admin, _ = await staff(client, "ADMIN")
    hub = app.state.hub
    async with GraphQLWebSocket(f"ws://{live_url}/graphql", protocol, moderator) as ws:
        before = hub.subscriber_count
        await ws.subscribe(EVENTS, {})
        await wait_until(lambda: hub.subscriber_count == before + 1)
        first = await report(client, reporter, anonymous=True)
        pending = await report(client, reporter, anonymous=True)
        created = [d["reportEvents"] for _, d in await ws.take(2)]
        assert [e["report"]["author"]["id"] for e in created] == [reporter_id] * 2  # staff sight
        await ok(client, REJECT, {"id": first["id"]}, moderator)
        (_, data), = await ws.take(1)
        assert data["reportEvents"]["report"]["status"] == "REJECTED"

        demoted = await ok(client, SET_ROLE, {"u": moderator_id, "role": "CITIZEN"}, admin)
        assert demoted["setUserRole"]["role"] == "CITIZEN"
        await ok(client, REJECT, {"id": pending["id"]}, admin)  # no longer theirs to see
        shown = await report(client, reporter, anonymous=True)
        (_, data), = await ws.take(1)
        await ws.nothing_more()
    event = data["reportEvents"]
    assert event["report"]["id"] == shown["id"] and event["report"]["author"] is None  # a citizen's sight
    # Over HTTP at once as well.
    await error(client, "{ moderationQueue { totalCount } }", token=moderator)


async def test_only_an_admin_changes_roles_and_with_a_valid_placement(client):
    moderator, moderator_id = await staff(client, "MODERATOR")
    admin, _ = await staff(client, "ADMIN")
    err = await error(client, SET_ROLE, {"u": moderator_id, "role": "CITIZEN"}, moderator)
    assert err["extensions"]["code"] == "FORBIDDEN"
    err = await error(client, SET_ROLE, {"u": moderator_id, "role": "OFFICER"}, admin)
    assert err["extensions"]["code"] == "BAD_USER_INPUT" and err["extensions"]["field"] == "regionId"
    err = await error(client, SET_ROLE, {"u": "999999", "role": "CITIZEN"}, admin)
    assert err["extensions"]["code"] == "NOT_FOUND"


# A subscription selection without viewer-specific fields: its renderings are shared by all.
PUBLIC_EVENTS = """subscription($after: String) { reportEvents(after: $after) { cursor kind
  report { id } comment { id body } } }"""


@PROTOCOLS
async def test_a_replay_is_not_served_a_rendering_made_before_a_deletion(app, client, live_url, protocol):
    """Renderings were shared by log position alone: a replay after the deletion was given the
    live rendering of COMMENT_ADDED, body included."""
    from subscriptions.log import START

    reporter, _ = await citizen(client)
    r = await report(client, reporter)
    hub = app.state.hub
    async with GraphQLWebSocket(f"ws://{live_url}/graphql", protocol) as ws:
        before = hub.subscriber_count
        await ws.subscribe(PUBLIC_EVENTS, {})
        await wait_until(lambda: hub.subscriber_count == before + 1)
        cid = (await ok(client, COMMENT, {"r": r["id"], "b": "rahasia yang disesali"}, reporter))["addComment"]["id"]
        live = await _next_of_kind(ws, "COMMENT_ADDED")
        assert live["comment"]["body"] == "rahasia yang disesali"
        await ok(client, DELETE, {"id": cid}, reporter)
        await _next_of_kind(ws, "COMMENT_DELETED")
    for who in (None, (await citizen(client))[0]):  # the same document, later, from the start
        async with GraphQLWebSocket(f"ws://{live_url}/graphql", protocol, who) as ws:
            await ws.subscribe(PUBLIC_EVENTS, {"after": START.encode()})
            replay = [d["reportEvents"] for _, d in await ws.take(3)]
        assert [e["kind"] for e in replay] == ["CREATED", "COMMENT_ADDED", "COMMENT_DELETED"]
        assert "rahasia" not in str(replay) and replay[1]["comment"] == {"id": cid, "body": ""}


@PROTOCOLS
async def test_a_moderator_demoted_with_no_subscription_open_has_a_citizens_sight_on_the_socket(
    app, client, live_url, protocol
):
    """The hub tells only open subscriptions of a role change: a socket with none kept the
    role of its connection_init for every later operation (a replay from the start named
    anonymous reporters and showed rejected reports and their reasons)."""
    from subscriptions.log import START

    reporter, reporter_id = await citizen(client)
    moderator, moderator_id = await staff(client, "MODERATOR")
    admin, _ = await staff(client, "ADMIN")
    anon = await report(client, reporter, anonymous=True, description="Laporan anonim tentang pak lurah")
    gone = await report(client, reporter, description="Laporan yang ditolak moderator")
    await ok(client, REJECT, {"id": gone["id"], "r": "alasan penolakan rahasia"}, admin)
    async with GraphQLWebSocket(f"ws://{live_url}/graphql", protocol, moderator) as ws:
        await ok(client, SET_ROLE, {"u": moderator_id, "role": "CITIZEN"}, admin)
        await hub_idle(app)  # the hub has read the change, with no subscription here to tell
        await ws.subscribe(EVENTS, {"after": START.encode()})
        (_, data), = await ws.take(1)
        await ws.nothing_more()
        event = data["reportEvents"]
        assert event["report"]["description"] == "Laporan anonim tentang pak lurah"
        assert event["report"]["author"] is None and event["statusChange"]["actor"] is None
        if protocol == TRANSPORT_WS:  # queries and mutations over the socket, too
            await ws.subscribe("query($id: ID!) { report(id: $id) { description } }", {"id": gone["id"]})
            (_, data), = await ws.take(1)
            assert data == {"report": None}
            await ws.receive()  # complete
            await ws.subscribe(VERIFY, {"id": anon["id"]})  # a moderator's move
            refused = await ws.receive()
            assert refused["payload"]["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert reporter_id  # named nowhere above: the anonymous report's author is null


@PROTOCOLS
async def test_a_websocket_is_closed_when_its_token_expires(client, live_url, protocol):
    """A signed-in socket lives no longer than its token: at expiry it is closed with 4401,
    subscribed or not; a socket signed in with a fresh token goes on."""
    import asyncio

    import websockets

    from config import get_settings
    from domain.auth import issue_token

    _, user_id = await citizen(client)
    short = issue_token(int(user_id), get_settings().secret_key, 6 / 3600)  # 6 s
    long_token, _ = await citizen(client)
    url = f"ws://{live_url}/graphql"
    async with GraphQLWebSocket(url, protocol, short) as ws, \
            GraphQLWebSocket(url, protocol, long_token) as other:  # fmt: skip
        await ws.subscribe(STATUS)
        await other.subscribe(STATUS)
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await ws.receive(timeout=30)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
        await asyncio.sleep(0.2)
        await other.nothing_more(0.2)  # still open: receiving nothing is not a close
        assert other.ws.close_code is None


async def test_healthz_shows_no_counter_that_moves_with_one_user_to_anyone_but_operators(app, client):
    """The sender's count on a public /healthz told an officer, who could push to any suspect,
    whose push was held back, i.e. who wrote an anonymous report (a review, session 16). Anyone
    learns only whether the database and the broadcast answer, and which regions are loaded;
    the counters (notifications, subscribers, the collector, the fast path) need the
    operators' token, as /metrics does."""
    from tests.helpers import as_operator

    public = (await client.get("/healthz")).json()
    assert set(public) == {"status", "database", "broadcast", "regions"}, public
    assert set(public["broadcast"]) == {"backend", "connected"} and public["status"] == "ok"
    wrong = (await client.get("/healthz", headers={"Authorization": "Bearer guess"})).json()
    assert set(wrong) == set(public)
    with as_operator(app) as header:
        assert set((await client.get("/healthz", headers={"Authorization": "Bearer guess"})).json()) == set(public)
        full = (await client.get("/healthz", headers=header)).json()
    assert {"gc", "notifications", "fast_path"} <= set(full) and "subscribers" in full["broadcast"], full


SEEN_OFFICIAL = """query($id: ID!) { report(id: $id) { firstResponseAt timeline { to actor { id } }
  comments { edges { node { isOfficial author { displayName } } } } } }"""
START = "mutation($id: ID!) { startProgress(id: $id) { status } }"


async def test_an_officer_reporting_anonymously_on_their_own_unit_is_only_its_reporter(client):
    """An officer who reports anonymously about their own kelurahan: their comment is no
    official answer (an 'Anonim' comment marked official, or a first response stamped by it,
    told everyone that the reporter is one of the unit's few officers; helper review), and staff
    moves are refused to them (their hidden actor told the same); a colleague acts instead."""
    whistle, _ = await staff(client, "OFFICER", region_code=GAMBIR)
    colleague, _ = await staff(client, "OFFICER", region_code=GAMBIR)
    moderator, _ = await staff(client, "MODERATOR")
    r = await report(client, whistle, anonymous=True)
    await ok(client, VERIFY, {"id": r["id"]}, moderator)
    await ok(client, COMMENT, {"r": r["id"], "b": "Fakta tambahan dari saya"}, whistle)
    for move in (START, RESOLVE):
        assert (await error(client, move, {"id": r["id"]}, whistle))["extensions"]["code"] == "FORBIDDEN"
    for who in (None, (await citizen(client))[0], colleague, moderator):
        seen = (await ok(client, SEEN_OFFICIAL, {"id": r["id"]}, who))["report"]
        (node,) = [e["node"] for e in seen["comments"]["edges"]]
        assert node["isOfficial"] is False and seen["firstResponseAt"] is None, who
        assert [step["to"] for step in seen["timeline"]] == ["SUBMITTED", "VERIFIED"]
    assert (await ok(client, START, {"id": r["id"]}, colleague))["startProgress"]["status"] == "IN_PROGRESS"
    named = await report(client, whistle)  # under their name, an officer acts on their own report
    await ok(client, VERIFY, {"id": named["id"]}, moderator)
    assert (await ok(client, START, {"id": named["id"]}, whistle))["startProgress"]["status"] == "IN_PROGRESS"


async def test_a_moderator_does_not_verify_their_own_anonymous_report(client):
    """The same for a moderator: a verification by a hidden actor tells that the reporter is a
    moderator."""
    moderator, _ = await staff(client, "MODERATOR")
    other, _ = await staff(client, "MODERATOR")
    r = await report(client, moderator, anonymous=True)
    for move in (VERIFY, REJECT):
        assert (await error(client, move, {"id": r["id"]}, moderator))["extensions"]["code"] == "FORBIDDEN"
    await ok(client, VERIFY, {"id": r["id"]}, other)


async def test_a_login_answers_as_the_user_it_signs_in(client):
    """The payload of `login` is the signed-in user's own: their count holds their anonymous
    reports (it was counted as the caller before the login, a signed-out one; helper review)."""
    token, _ = await citizen(client, "masuk_anonim")
    await report(client, token, anonymous=True)
    named = await report(client, token)
    login = """mutation($input: LoginInput!) { login(input: $input) { user { reportsCount email } } }"""
    data = await ok(client, login, {"input": {"login": "masuk_anonim", "password": "rahasia-123"}})
    assert data["login"]["user"] == {"reportsCount": 2, "email": "masuk_anonim@example.id"}
    public = await ok(client, "query($id: ID!) { report(id: $id) { author { reportsCount } } }", {"id": named["id"]})
    assert public["report"]["author"]["reportsCount"] == 1  # to anyone else, the named one alone
