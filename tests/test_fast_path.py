"""The compiled fast path answers read queries exactly as graphql-core does, and falls back to
it for what it does not cover (errors included)."""

from __future__ import annotations

import time

import strawberry

from tests.conftest import hub_idle
from tests.helpers import as_operator, citizen, gql, ok, report, staff

QUERIES = [
    (
        """{ reports(first: 5) { totalCount pageInfo { hasNextPage endCursor } edges { cursor node {
        id description status createdAt voteCount commentCount viewerHasVoted overdue anonymous
        category { id code name agency { code categories { code } } } location { lat lng }
        kelurahan { id name code level parent { id name parent { name } } } author { id handle email }
        assignee { id } media { url } rating duplicateOf { id } } } } }""",
        {},
    ),
    (
        """query($id: ID!) { report(id: $id) { id __typename
        comments(first: 2) { totalCount edges { cursor node { body isOfficial author { handle } } } }
        timeline { from to note createdAt actor { handle } media { id } } } }""",
        "ID",
    ),
    (
        """query($s: Boolean!, $i: Boolean!) { me { handle email phone role region { name } }
        categories { ...C } a: agencies { code } regions(level: KOTA) { name children { code } }
        skipped: categories @skip(if: $s) { code } included: agencies @include(if: $i) { code } }
        fragment C on Category { code slaHours nameEn ... on Category { name } }""",
        {"s": True, "i": False},
    ),
    (
        """{ rankings(level: KOTA) { rank unitName level region { name } score averageRating }
        stats { total byStatus { status count } daily { date created } } }""",
        {},
    ),
    ("""{ locate(lat: -6.1754, lng: 106.8272) { name } nothing: locate(lat: 0, lng: 0) { name } }""", {}),
]


async def test_fast_path_matches_graphql_core(app, client):
    from schema import schema
    from schema.context import Context

    token, _ = await citizen(client)
    moderator, _ = await staff(client, "MODERATOR")
    r = await report(client, token, anonymous=True)
    await ok(
        client, 'mutation($r: ID!) { addComment(reportId: $r, body: "halo") { id } }', {"r": r["id"]}, token
    )
    await ok(client, "mutation($id: ID!) { verifyReport(id: $id) { id } }", {"id": r["id"]}, moderator)
    await report(client, token)
    for viewer_token in (None, token, moderator):
        for query, variables in QUERIES:
            if variables == "ID":
                variables = {"id": r["id"]}
            contexts = []
            for _ in range(2):
                ctx = Context(request=None)
                await ctx.authenticate(f"Bearer {viewer_token}" if viewer_token else None)
                contexts.append(ctx)
            fast = await schema.fast.try_execute(query, variables, contexts[0], None)
            slow = await strawberry.Schema.execute(schema, query, variables, contexts[1])
            assert fast is not None, query
            assert slow.errors is None, slow.errors
            assert fast.data == slow.data, query


async def test_fast_path_falls_back_for_what_it_does_not_cover(app, client):
    from schema import schema
    from schema.context import Context

    ctx = Context(request=None)
    for query in (
        "{ reports(first: 101) { totalCount } }",  # a resolver error: graphql-core reports it
        "{ reports { nope } }",  # invalid document
        "mutation { vote(reportId: 1) { id } }",  # not a query
        "{ __schema { types { name } } }",  # introspection
        "{ categories { code } categories { name } }",  # merged duplicate fields
    ):
        assert await schema.fast.try_execute(query, {}, ctx, None) is None, query
    body = await client.post("/graphql", json={"query": "{ reports(first: 101) { totalCount } }"})
    assert body.json()["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "first"}


async def test_every_fallback_is_counted_by_reason_in_healthz(app, client):
    async def fallbacks() -> dict[str, int]:
        with as_operator(app) as header:
            body = (await client.get("/healthz", headers=header)).json()["fast_path"]
        assert body["enabled"] is True and body["info_attributes_missing"] == {}
        return body["fallbacks"]

    token, _ = await citizen(client)
    before = await fallbacks()
    assert (await gql(client, "{ reports(first: 101) { totalCount } }", token=token))["errors"]
    await ok(client, "{ categories { code } categories { code } }")
    await ok(client, "{ __schema { queryType { name } } }")
    await ok(client, "{ reports { totalCount } }", token=token)  # covered: no fallback
    await report(client, token)
    paged = await ok(client, "{ reports { edges { cursor } pageInfo { endCursor } } }", token=token)
    assert paged["reports"]["edges"][-1]["cursor"] == paged["reports"]["pageInfo"]["endCursor"]
    after = await fallbacks()
    grown = {reason: n - before.get(reason, 0) for reason, n in after.items() if n != before.get(reason, 0)}
    assert grown == {"run: field error": 1, "compile: merged fields": 1, "compile: introspection": 1}


async def test_anonymous_reads_are_cached_until_the_next_change(app, client):
    from schema import schema

    token, _ = await citizen(client)
    query = "{ reports { totalCount edges { node { id voteCount } } } }"
    first = await report(client, token)
    await hub_idle(app)  # the hub has read the CREATED event: the version is settled
    hits = schema.cache.hits
    assert (await ok(client, query))["reports"]["totalCount"] == 1
    assert (await ok(client, query))["reports"]["totalCount"] == 1
    assert schema.cache.hits == hits + 1  # the second read came from the cache
    # A change in this process is seen by the very next read (read-your-writes).
    await ok(client, "mutation($r: ID!) { vote(reportId: $r) { id } }", {"r": first["id"]}, token)
    data = await ok(client, query)
    assert data["reports"]["edges"][0]["node"]["voteCount"] == 1
    await report(client, token)
    assert (await ok(client, query))["reports"]["totalCount"] == 2
    # A signed-in viewer is never given a cached whole answer (what they see depends on who
    # they are: their own marks), though the page itself may be shared (test_shared_pages.py).
    marks = "{ reports { edges { node { id viewerHasVoted } } } }"
    assert (await ok(client, marks))["reports"]["edges"][1]["node"]["viewerHasVoted"] is False
    for _ in range(2):
        edges = (await ok(client, marks, token=token))["reports"]["edges"]
        assert [e["node"]["viewerHasVoted"] for e in edges] == [False, True]


PER_VIEWER = """subscription($f: FeedFilter) { reportCreated(filter: $f) {
  id status anonymous viewerHasVoted overdue author { handle email } kelurahan { name parent { name } } } }"""
SHARED_SELECTION = """subscription($f: FeedFilter) { reportCreated(filter: $f) {
  id status overdue category { code agency { code } } kelurahan { name } assignee { handle } timeline { to } } }"""
MERGED = "subscription { reportCreated { id id kelurahan { name } } }"  # not covered: graphql-core


async def test_subscription_events_render_once_per_selection_and_audience(app, client, live_url):
    """Every subscriber receives what graphql-core would have sent it, but an event is rendered
    once per selection, and once per viewer only where the selection shows viewer-specific
    fields."""
    from schema import schema
    from tests.test_realtime import GAMBIR, region_id
    from tests.ws import TRANSPORT_WS, GraphQLWebSocket

    reporter, _ = await citizen(client)
    stranger, _ = await citizen(client)
    moderator, _ = await staff(client, "MODERATOR")
    viewers = {"anonymous-1": None, "anonymous-2": None, "stranger": stranger, "moderator": moderator,
               "reporter": reporter}  # fmt: skip
    fast = schema.fast
    hub = app.state.hub
    url = f"ws://{live_url}/graphql"
    kelurahan = {"f": {"regionId": region_id(GAMBIR)}}

    async def received() -> tuple[dict[tuple[str, str], dict], int]:
        renders = fast.sharing.renders
        sockets = {name: GraphQLWebSocket(url, TRANSPORT_WS, token) for name, token in viewers.items()}
        got: dict[tuple[str, str], dict] = {}
        before = hub.subscriber_count
        try:
            for ws in sockets.values():
                await ws.__aenter__()
            ops = {}
            for name, ws in sockets.items():
                for label, query, variables in (("per-viewer", PER_VIEWER, kelurahan),
                                                ("shared", SHARED_SELECTION, {}), ("merged", MERGED, None)):  # fmt: skip
                    ops[(name, await ws.subscribe(query, variables))] = label
            await wait_subscribers(hub, before + 3 * len(sockets))
            await report(client, reporter, anonymous=True)  # Monas: kelurahan Gambir
            for name, ws in sockets.items():
                for op, data in await ws.take(3):
                    got[(name, ops[(name, op)])] = data["reportCreated"]
                await ws.nothing_more()
        finally:
            for ws in sockets.values():
                await ws.__aexit__(None, None, None)
        return got, fast.sharing.renders - renders

    with_plans, renders = await received()
    # Five subscribers with the viewer-free selection: one rendering. With viewer-specific
    # fields: one for both anonymous subscribers, one each for the three signed-in viewers.
    assert renders == 1 + 4
    assert with_plans[("anonymous-1", "per-viewer")]["author"] is None
    assert with_plans[("stranger", "per-viewer")]["author"] is None
    assert with_plans[("moderator", "per-viewer")]["author"]["email"] is None  # staff: author, no contact
    assert with_plans[("reporter", "per-viewer")]["author"]["email"].endswith("@example.id")
    assert with_plans[("reporter", "merged")]["kelurahan"] == {"name": "Gambir"}

    schema.fast = None  # the same, through graphql-core for every delivery
    try:
        by_the_book, _ = await received()
    finally:
        schema.fast = fast
    for key, value in by_the_book.items():
        value["id"] = with_plans[key]["id"]  # another report, otherwise identical
    assert with_plans == by_the_book


async def wait_subscribers(hub, n: int) -> None:
    from tests.conftest import wait_until

    await wait_until(lambda: hub.subscriber_count == n)


async def test_answers_the_same_for_every_viewer_are_cached_for_signed_in_viewers_too(app, client):
    from schema import schema

    token, _ = await citizen(client)
    await hub_idle(app)
    query = "{ categories { code agency { code } } regions(level: KOTA) { name } }"
    hits = schema.cache.hits
    await ok(client, query, token=token)
    await ok(client, query)  # anonymous: the same entry
    await ok(client, query, token=token)
    assert schema.cache.hits == hits + 2
    # The same selection plus a viewer-specific field: never shared.
    hits = schema.cache.hits
    for _ in range(2):
        await ok(client, "{ categories { code } me { email } }", token=token)
    assert schema.cache.hits == hits


async def test_aggregates_and_feeds_show_a_change_once_the_interval_has_passed(app, client):
    """(tests/test_aggregates.py has the rules; here the fast path's plans carry them.)"""
    from schema import schema
    from schema.cache import AGGREGATE_INTERVAL

    token, _ = await citizen(client)
    moderator, _ = await staff(client, "MODERATOR")
    verify = "mutation($id: ID!) { verifyReport(id: $id) { id } }"
    await ok(client, verify, {"id": (await report(client, token))["id"]}, moderator)
    query = "{ rankings(level: KOTA) { unitName reportsReceived } stats { total } }"
    assert schema.fast is not None
    plan = schema.fast.plan(query, None)
    assert plan is not None and plan.aggregate and plan.min_interval == AGGREGATE_INTERVAL
    feed = schema.fast.plan("{ rankings(level: KOTA) { score } reports { totalCount } }", None)
    assert feed is not None and feed.aggregate and feed.min_interval == 0  # a feed is never throttled
    later = 0.0
    schema.cache.clock = lambda: later
    try:
        before = await ok(client, query)
        assert [e["reportsReceived"] for e in before["rankings"]] == [1]
        await ok(client, verify, {"id": (await report(client, token))["id"]}, moderator)
        later = AGGREGATE_INTERVAL
        after = await ok(client, query)
        assert [e["reportsReceived"] for e in after["rankings"]] == [2] and after["stats"]["total"] == 2
        await ok(client, verify, {"id": (await report(client, token))["id"]}, moderator)
    finally:
        schema.cache.clock = time.monotonic
    # A feed is never served stale: it shows every change at once.
    assert (await ok(client, "{ reports { totalCount } }"))["reports"]["totalCount"] == 3
