"""Issue 12: every bad input is the client's mistake, answered with a code (BAD_USER_INPUT and
the offending `field`, or the parse/validation codes), never INTERNAL_SERVER_ERROR, a 500 or
a traceback; and the read cache neither leaks cancellations nor keeps clients' variables."""

from __future__ import annotations

import asyncio
import base64
import json
import logging

import pytest

from tests.helpers import MONAS, category_id, citizen, gql, report, staff
from tests.ws import LEGACY_WS, TRANSPORT_WS, GraphQLWebSocket

LOCATE = "query($lat: Float!, $lng: Float!) { locate(lat: $lat, lng: $lng) { id } }"
STATUSES = "query($s: [ReportStatus!]) { reports(filter: {status: $s}) { totalCount } }"


def cursor(key: object, row_id: object) -> str:
    return base64.urlsafe_b64encode(json.dumps([key, row_id]).encode()).decode().rstrip("=")


async def raw(client, body: str, token: str | None = None) -> dict:
    headers = {"content-type": "application/json", **({"authorization": f"Bearer {token}"} if token else {})}
    resp = await client.post("/graphql", content=body, headers=headers)
    assert resp.status_code == 200, resp.text
    return resp.json()


def bad_input(body: dict, field: str | None = None) -> dict:
    assert body.get("errors"), body
    err = body["errors"][0]
    assert err["extensions"]["code"] == "BAD_USER_INPUT", err
    if field is not None:
        assert err["extensions"].get("field") == field, err
    return err


@pytest.fixture
def no_traceback(caplog):
    caplog.set_level(logging.ERROR)
    yield
    logged = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert logged == [], [r.getMessage() for r in logged]


async def test_float_variables(client, no_traceback) -> None:
    nan = json.dumps({"query": LOCATE, "variables": {"lat": "NAN", "lng": 106.8}}).replace('"NAN"', "NaN")
    bad_input(await raw(client, nan), "lat")
    bad_input(await gql(client, LOCATE, {"lat": "x", "lng": 106.8}), "lat")
    bad_input(await gql(client, LOCATE, {"lat": -6.2, "lng": [1]}), "lng")
    inf = json.dumps({"query": LOCATE, "variables": {"lat": -6.2, "lng": "INF"}}).replace('"INF"', "Infinity")
    bad_input(await raw(client, inf), "lng")


async def test_enum_and_list_variables(client, no_traceback) -> None:
    bad_input(await gql(client, STATUSES, {"s": ["NOPE"]}), "s")
    bad_input(await gql(client, STATUSES, {"s": ["SUBMITTED"] * 40_000}), "filter.status")
    ok = await gql(client, STATUSES, {"s": ["SUBMITTED", "SUBMITTED", "VERIFIED"]})
    assert ok["data"]["reports"]["totalCount"] == 0


async def test_cursors_and_ids_beyond_the_integer_columns(client, no_traceback) -> None:
    for after in (cursor("2026-01-01T00:00:00+00:00", 10**30), cursor({"t": "2026-01-01T00:00:00+00:00"}, 10**30),
                  cursor(10**30, 5), cursor(5, -1)):  # fmt: skip
        for order in ("NEWEST", "MOST_VOTED"):
            err = bad_input(
                await gql(client, f'{{ reports(orderBy: {order}, after: "{after}") {{ totalCount }} }}')
            )
            assert err["extensions"]["field"] == "after"
    for big in (2**31, 2**31 + 1, 2**63, 10**30):
        bad_input(await gql(client, f'{{ report(id: "{big}") {{ id }} }}'), "id")
        bad_input(
            await gql(client, f'{{ reports(filter: {{regionId: "{big}"}}) {{ totalCount }} }}'),
            "filter.regionId",
        )
    token, _ = await citizen(client)
    err = bad_input(await gql(client, 'mutation { vote(reportId: "2147483648") { id } }', token=token))
    assert err["extensions"]["field"] == "reportId"


@pytest.mark.parametrize(
    "instant",
    [
        "0001-01-01T00:00:00+14:00",
        "0001-01-01T00:00:00Z",
        "9999-12-31T23:59:59-12:00",
        "0999-12-31T00:00:00Z",
    ],
)
async def test_instants_and_days_at_the_calendars_edges(client, instant, no_traceback) -> None:
    """A date at Python's calendar edges (years 1 and 9999), where a time zone, a day or a month
    added leaves it (OverflowError), is a BAD_USER_INPUT naming its field wherever a client can
    name one: the reports' filter (every order), a cursor, stats' and rankings' periods, the
    CSV export; never INTERNAL_SERVER_ERROR, a 500 or a broken stream."""
    for order in ("NEWEST", "OLDEST", "MOST_VOTED", "RECENTLY_UPDATED"):
        for name in ("createdAfter", "createdBefore"):
            query = (
                "query($f: ReportFilter, $o: ReportOrder) { reports(filter: $f, orderBy: $o) { totalCount } }"
            )
            bad_input(await gql(client, query, {"f": {name: instant}, "o": order}), f"filter.{name}")
    bad_input(
        await gql(client, f'{{ reports(after: "{cursor({"t": instant}, 5)}") {{ totalCount }} }}'), "after"
    )
    day = instant[:10]
    for field, period in (
        ("period.from", f'{{from: "{day}", to: "{day}"}}'),
        ("period.to", f'{{from: "2026-01-01", to: "{day}"}}'),
    ):
        bad_input(await gql(client, f"{{ stats(period: {period}) {{ total }} }}"), field)
        bad_input(
            await gql(client, f"{{ rankings(level: KELURAHAN, period: {period}) {{ unitId }} }}"), field
        )
    partner, _ = await staff(client, "AGENCY_PARTNER", agency_code="DLH")
    resp = await client.get(
        "/exports/reports.csv",
        params={"from": day, "to": day},
        headers={"Authorization": f"Bearer {partner}"},
    )
    assert resp.status_code == 400 and resp.json()["errors"][0]["extensions"]["field"] == "period.from", (
        resp.text
    )
    ok = await gql(client, '{ reports(filter: {createdAfter: "1000-01-01T00:00:00+14:00"}) { totalCount } }')
    assert ok["data"]["reports"]["totalCount"] == 0  # the calendar's own edge years are named freely


async def test_an_instant_without_an_offset_names_no_instant(client, no_traceback) -> None:
    """The contract's DateTime carries an offset. One without (a filter bound or a crafted
    cursor) was read in the server's zone by PostgreSQL's driver, as UTC by the keyed search
    and by its digits by SQLite: a BAD_USER_INPUT now, on every order; with its offset it is
    served."""
    naive = "2026-01-01T00:00:00"
    for order in ("NEWEST", "OLDEST", "MOST_VOTED", "RECENTLY_UPDATED"):
        query = "query($f: ReportFilter, $o: ReportOrder) { reports(filter: $f, orderBy: $o) { totalCount } }"
        for name in ("createdAfter", "createdBefore"):
            bad_input(await gql(client, query, {"f": {name: naive}, "o": order}), f"filter.{name}")
            ok = await gql(client, query, {"f": {name: naive + "+07:00"}, "o": order})
            assert ok["data"]["reports"]["totalCount"] == 0, ok
    for order in ("NEWEST", "RECENTLY_UPDATED"):
        after = cursor({"t": naive}, 5)
        bad_input(await gql(client, f'{{ reports(orderBy: {order}, after: "{after}") {{ totalCount }} }}'), "after")
        after = cursor({"t": naive + "+07:00"}, 5)
        ok = await gql(client, f'{{ reports(orderBy: {order}, after: "{after}") {{ totalCount }} }}')
        assert ok["data"]["reports"]["totalCount"] == 0, ok


async def test_malformed_multipart_maps_and_deep_json_are_400s(client, no_traceback) -> None:
    """strawberry's multipart `map` walk catches KeyError alone, a `documentId` lookup read a
    multipart body twice, and JSON nested thousands deep raised RecursionError: each was a 500
    with its traceback in the log, for any signed-out client (a review, session 16). Each is a
    400 now, nothing run; GraphQL inputs nest at most 32 deep."""
    png = ("x.png", b"\x89PNG\r\n\x1a\n", "image/png")
    upload = json.dumps({"query": "mutation($a: [Upload]) { __typename }", "variables": {"a": [None]}})
    cases = [
        ({"operations": '{"query": "{ me { id } }"}', "map": "[1]"}, None),
        ({"operations": '{"query": "{ me { id } }"}', "map": "null"}, None),
        ({"operations": upload, "map": '{"0": [1]}'}, {"0": png}),
        ({"operations": upload, "map": '{"0": ["variables.a.x"]}'}, {"0": png}),
        ({"operations": upload, "map": '{"0": ["variables.a.5"]}'}, {"0": png}),
        ({"operations": json.dumps({"query": "{ __typename }", "variables": {"a": "s"}}), "map": '{"0": ["variables.a.b"]}'},
         {"0": png}),
        ({"map": "{}"}, None),
        ({"operations": '{"documentId": "abc"}', "map": "{}"}, None),
        ({"operations": json.dumps({"query": "{ __typename }", "variables": {"a": [[[[]]]] * 1}}).replace(
            "[[[[]]]]", "[" * 700 + "]" * 700), "map": "{}"}, None),
    ]  # fmt: skip
    for form, files in cases:
        resp = await client.post("/graphql", data=form, files=files or {"x": ("x.txt", b"x", "text/plain")})
        assert resp.status_code == 400, (form, resp.status_code, resp.text)
    deep = '{"query": "{ __typename }", "variables": {"a": ' + "[" * 3000 + "]" * 3000 + "}}"
    resp = await client.post("/graphql", content=deep, headers={"content-type": "application/json"})
    assert resp.status_code == 400, resp.text
    resp = await client.post("/open311/v2/requests.json", content="[" * 6000 + "]" * 6000,
                             headers={"content-type": "application/json"})  # fmt: skip
    assert resp.status_code == 400 and resp.json()[0]["code"] == 400, resp.text
    fine = json.dumps({"query": "{ __typename }", "variables": {"a": [[[1]]]}})
    assert (
        await client.post("/graphql", content=fine, headers={"content-type": "application/json"})
    ).status_code == 200


async def test_nul_characters_in_any_text(client, no_traceback) -> None:
    token, _ = await citizen(client)
    create = "mutation($input: CreateReportInput!) { createReport(input: $input) { id } }"
    payload = {"clientRequestId": "nul-1", "categoryId": category_id("sampah"), "description": "Sampah\x00menumpuk",
               "location": MONAS}  # fmt: skip
    bad_input(await gql(client, create, {"input": payload}, token), "input.description")
    bad_input(await gql(client, '{ reports(filter: {search: "a\\u0000b"}) { totalCount } }'), "query")
    bad_input(
        await gql(
            client, "query($q: String) { reports(filter: {search: $q}) { totalCount } }", {"q": "\x00"}
        ),
        "q",
    )
    register = "mutation($input: RegisterInput!) { register(input: $input) { token } }"
    bad_input(await gql(client, register, {"input": {"handle": "nul\x00", "displayName": "N", "password": "rahasia-123"}}),
              "input.handle")  # fmt: skip


async def test_unpaired_surrogates_in_any_text(client, no_traceback) -> None:
    """JSON's `\\ud800` escape decodes to an unpaired surrogate, which neither database nor any
    encoder takes: refused at the gate like a NUL (it was INTERNAL_SERVER_ERROR, found by
    fuzzing the search words) in variables; in the query's text graphql-core's parser refuses
    it, raw or as GraphQL's own escape."""
    token, _ = await citizen(client)
    create = "mutation($input: CreateReportInput!) { createReport(input: $input) { id } }"
    payload = {"clientRequestId": "sur-1", "categoryId": category_id("sampah"), "description": "Sampah \ud800 menumpuk",
               "location": MONAS}  # fmt: skip
    bad_input(await gql(client, create, {"input": payload}, token), "input.description")
    for literal in ('"a\ud800b"', '"a\\ud800b"'):  # graphql-core refuses either in the text itself
        found = await gql(client, "{ reports(filter: {search: " + literal + "}) { totalCount } }")
        assert found["errors"][0]["extensions"]["code"] == "GRAPHQL_PARSE_FAILED", found
    search = "query($q: String) { reports(filter: {search: $q}) { totalCount } }"
    for word in ("\ud800abc", "gor\udfff", "\udbff"):
        bad_input(await gql(client, search, {"q": word}), "q")
    # A pair is a character like any other.
    assert (await gql(client, search, {"q": "gor\U0010ffff"}))["data"]["reports"]["totalCount"] == 0


async def test_a_bad_input_beside_a_batched_field_is_answered(client, no_traceback) -> None:
    """The fuzz test's request that got no answer, reduced. On the fast path `report` fails at
    once and its TaskGroup cancels `me`, whose reportsCount had just loaded: strawberry then
    called off that batch before sending it, and the regular executor, answering again with
    the same loaders, joined the batch and waited forever (resolvers/loaders.py, Loader)."""
    token, _ = await citizen(client)
    await report(client, token)
    query = '{ report(id: "x") { id } me { reportsCount } }'
    try:
        body = await asyncio.wait_for(gql(client, query, token=token), 10)
    except TimeoutError:
        pytest.fail(f"no answer within 10 s to {query}")
    bad_input(body, "id")
    assert body["data"] == {"report": None, "me": {"reportsCount": 1}}


@pytest.mark.parametrize("name", [["A"], {"a": 1}, 1, True])
async def test_operation_name_of_the_wrong_type_is_a_400(client, name, no_traceback) -> None:
    resp = await client.post("/graphql", json={"query": "query A { __typename }", "operationName": name})
    assert resp.status_code == 400, resp.text
    resp = await client.post("/graphql", json={"query": "query A { __typename }", "operationName": "A"})
    assert resp.json() == {"data": {"__typename": "Query"}}


async def test_an_unknown_operation_name_is_a_400(client, no_traceback) -> None:
    resp = await client.post("/graphql", json={"query": "query A { __typename }", "operationName": "B"})
    assert resp.status_code == 400


@pytest.mark.parametrize("protocol", [TRANSPORT_WS, LEGACY_WS])
async def test_a_query_over_either_websocket_protocol_is_answered_once(
    live_url, protocol, no_traceback
) -> None:
    """graphql-ws runs every operation as a stream: a query there was refused by the
    subscription machinery as INTERNAL_SERVER_ERROR, with a traceback logged for each (a
    review, session 16). Over either protocol a query has its one result, then completes."""
    async with GraphQLWebSocket(f"ws://{live_url}/graphql", protocol) as ws:
        for query in ("{ __typename }", "{ categories { code } }"):
            op = await ws.subscribe(query)
            message = await ws.receive()
            assert message["type"] in ("next", "data") and message["id"] == op, message
            assert not message["payload"].get("errors") and message["payload"]["data"], message
            assert (await ws.receive())["type"] == "complete"


@pytest.mark.parametrize("protocol", [TRANSPORT_WS, LEGACY_WS])
async def test_an_operation_that_cannot_be_told_is_refused_before_anything_runs(
    client, live_url, protocol, no_traceback
) -> None:
    """A document of several operations and no operationName is the specification's request
    error: strawberry ran the first one, a mutation past its rate limits' admission included
    (a review, session 16). Over websockets an unknown name or an empty query answered
    INTERNAL_SERVER_ERROR. Each is BAD_USER_INPUT naming the field, nothing runs."""
    from models import User

    two = 'mutation M { register(input: {handle: "dua_op", displayName: "D", password: "rahasia-123"}) { token } }'
    two += " query A { __typename }"
    bad_input(await gql(client, two), "operationName")
    async with GraphQLWebSocket(f"ws://{live_url}/graphql", protocol) as ws:
        for payload, field in (({"query": two}, "operationName"),
                               ({"query": "query A { __typename }", "operationName": "B"}, "operationName"),
                               ({"query": ""}, "query")):  # fmt: skip
            kind = "subscribe" if protocol == TRANSPORT_WS else "start"
            await ws.send({"id": field + str(len(payload)), "type": kind, "payload": payload})
            message = await ws.receive()
            assert message["type"] == "error", message
            errors = message["payload"] if isinstance(message["payload"], list) else [message["payload"]]
            assert errors[0]["extensions"] == {"code": "BAD_USER_INPUT", "field": field}, message
    assert not await User.filter(handle="dua_op").exists()


@pytest.mark.parametrize("protocol", [TRANSPORT_WS, LEGACY_WS])
async def test_a_syntax_error_in_a_subscription(live_url, protocol, no_traceback) -> None:
    async with GraphQLWebSocket(f"ws://{live_url}/graphql", protocol) as ws:
        for query, code in (("subscription { reportCreated { id ", "GRAPHQL_PARSE_FAILED"),
                            ("subscription { reportCreated { nope } }", "GRAPHQL_VALIDATION_FAILED")):  # fmt: skip
            await ws.subscribe(query)
            message = await ws.receive()
            assert message["type"] == "error", message
            payload = message["payload"]
            errors = payload if isinstance(payload, list) else [payload]
            assert errors[0]["extensions"]["code"] == code
        await ws.subscribe("subscription($c: [ID!]) { reportEvents(filter: {categoryIds: $c}) { cursor } }")
        # the socket still works after the refusals
        await ws.subscribe("subscription { reportCreated { id } }")


async def test_parse_and_validation_errors_carry_their_codes(client) -> None:
    body = await gql(client, "{ reports { ")
    assert body["errors"][0]["extensions"]["code"] == "GRAPHQL_PARSE_FAILED"
    body = await gql(client, "{ reports { nope } }")
    assert body["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"


# ------------------------------------------------------------------ the read cache


async def test_cancelling_one_waiter_does_not_cancel_the_others() -> None:
    from schema.cache import ResponseCache

    cache = ResponseCache()
    started, release = asyncio.Event(), asyncio.Event()
    runs = 0

    async def compute() -> dict:
        nonlocal runs
        runs += 1
        started.set()
        await release.wait()
        return {"answer": 42}

    key = cache.key("{ q }", None, None)
    first = asyncio.create_task(cache.get_or_compute(key, 1, compute))
    await started.wait()
    second = asyncio.create_task(cache.get_or_compute(key, 1, compute))
    await asyncio.sleep(0)
    first.cancel()  # the first client hangs up
    await asyncio.sleep(0)
    release.set()
    assert await second == {"answer": 42}
    with pytest.raises(asyncio.CancelledError):
        await first
    assert runs == 1
    assert cache.get(key, 1) == {"answer": 42}  # and the answer was kept


async def test_two_anonymous_requests_on_one_computation_over_http(app, live_url) -> None:
    """Through the server: a client that hangs up while another waits on the same answer."""
    import httpx

    from schema import schema

    assert schema.cache is not None
    schema.cache.clear()
    query = '{ stats(period: {from: "2024-01-01", to: "2024-12-31"}) { total daily { date created } } }'
    async with httpx.AsyncClient(base_url=f"http://{live_url}", timeout=10) as c:
        first = asyncio.create_task(c.post("/graphql", json={"query": query}))
        await asyncio.sleep(0.005)
        second = asyncio.create_task(c.post("/graphql", json={"query": query}))
        await asyncio.sleep(0.005)
        first.cancel()
        resp = await second
        assert resp.status_code == 200
        assert resp.json()["data"]["stats"]["total"] == 0


async def test_the_cache_keeps_hashes_and_a_bounded_number_of_bytes() -> None:
    from schema.cache import ResponseCache

    cache = ResponseCache(max_bytes=1 << 20)
    big = "x" * (30 << 20)
    keys = [cache.key("query($v: String) { q(v: $v) }", {"v": big + str(i)}, None) for i in range(8)]
    assert all(isinstance(k, bytes) and len(k) == 32 for k in keys)  # the variables are not kept
    assert len(set(keys)) == 8
    for i, k in enumerate(keys):
        cache.put(k, 1, {"rows": ["y" * 1000] * 50, "i": i})  # some 50 KB each
    assert cache.bytes <= 1 << 20
    cache.put(cache.key("huge", None, None), 1, {"rows": "z" * (1 << 20)})  # larger than an eighth
    assert cache.get(cache.key("huge", None, None), 1) is None
    for i in range(100):
        cache.put(cache.key("q", {"i": i}, None), 1, {"rows": ["y" * 1000] * 50})
    assert cache.bytes <= 1 << 20
    assert 0 < len(cache._entries) <= 21


@pytest.fixture
async def lenient(app):
    """A client that sees a 500 instead of the app's exception re-raised into the test."""
    import httpx

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


@pytest.mark.parametrize(
    "query",
    [
        "subscription { reportCreated { id } }",
        "subscription { reportEvents { cursor } }",
        'subscription { commentAdded(reportId: "1") { id } }',
    ],
)
async def test_a_subscription_over_http_is_a_request_error(client, query, no_traceback) -> None:
    """Subscriptions are served over a websocket; over HTTP (POST or GET) one was an
    INTERNAL_SERVER_ERROR with a traceback logged (helper review)."""
    for body in (await gql(client, query), (await client.get("/graphql", params={"query": query})).json()):
        assert body["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED", body
        assert "websocket" in body["errors"][0]["message"]


async def test_tokens_and_signatures_of_any_characters_are_refused_cleanly(client, lenient, no_traceback):
    """Links' and URLs' parameters typed by hand, no secret needed: '²' passes str.isdigit()
    and int() refuses it; hmac.compare_digest refuses a str outside ASCII. Each was a 500
    (helper review); now the documented 400, BAD_USER_INPUT or 404."""
    import io

    from PIL import Image

    from tests.test_uploads import upload

    for token in ("1.%C3%A9", "%C2%B2.abc"):
        resp = await lenient.post(f"/notifications/unsubscribe?token={token}")
        assert resp.status_code == 400, (token, resp.status_code)
    token, user_id = await citizen(client)  # registered with an e-mail address
    resp = await lenient.get(f"/notifications/verify-email?token={user_id}.99999999999.nonce.%C3%A9")
    assert resp.status_code == 400, resp.status_code
    body = await gql(client, "mutation($t: String!) { verifyEmail(token: $t) { id } }",
                     {"t": f"{user_id}.99999999999.nonce.\u00e9"})  # fmt: skip
    bad_input(body, "token")
    image = io.BytesIO()
    Image.new("RGB", (64, 64), (200, 10, 10)).save(image, "PNG")
    url = (await upload(client, token, image.getvalue(), "p.png", "image/png"))["data"]["uploadMedia"]["url"]
    for query in ("exp=%C2%B2&sig=x", "exp=99999999999&sig=%C3%A9"):
        resp = await lenient.get(f"{url.split('?', 1)[0]}?{query}")
        assert resp.status_code == 404, (query, resp.status_code)


FRAMES = {
    "a list": "[1, 2]",
    "a number": "1",
    "no type": '{"id": "1"}',
    "a payload that is a string": '{"type": "%s", "id": "1", "payload": "x"}',
    "an id that is an object": '{"type": "%s", "id": {"a": 1}, "payload": {"query": "{ __typename }"}}',
    "no id": '{"type": "%s", "payload": {"query": "{ __typename }"}}',
    "no query": '{"type": "%s", "id": "1", "payload": {}}',
    "variables nested too deep": '{"type": "%s", "id": "1", "payload": {"query": "{ __typename }",'
    ' "variables": {"v": ' + "[" * 40 + "]" * 40 + "}}}",
    "JSON past the decoder's recursion": "[" * 5000 + "]" * 5000,
}


@pytest.mark.parametrize("protocol", [TRANSPORT_WS, LEGACY_WS])
@pytest.mark.parametrize("frame", list(FRAMES))
async def test_a_frame_unfit_for_the_protocol_closes_the_socket_cleanly(live_url, protocol, frame, no_traceback):
    """JSON that is no protocol message escaped strawberry's handlers as a TypeError, KeyError
    or RecursionError: a traceback per frame and the socket dropped without a close frame
    (helper review). Now a 4400 close; graphql-ws ignores what is not JSON at all, as
    strawberry does for any such frame, and goes on serving."""
    import websockets

    text = FRAMES[frame]
    if "%s" in text:
        text = text % ("subscribe" if protocol == TRANSPORT_WS else "start")
    async with websockets.connect(f"ws://{live_url}/graphql", subprotocols=[protocol]) as ws:
        await ws.send(json.dumps({"type": "connection_init"}))
        assert json.loads(await asyncio.wait_for(ws.recv(), 5))["type"] == "connection_ack"
        await ws.send(text)
        if protocol == LEGACY_WS and frame.startswith("JSON past"):
            await ws.send(json.dumps({"type": "start", "id": "2", "payload": {"query": "{ __typename }"}}))
            answer = json.loads(await asyncio.wait_for(ws.recv(), 5))
            assert answer["type"] == "data" and answer["id"] == "2", answer
            return
        with pytest.raises(websockets.ConnectionClosed) as closed:
            while True:
                await asyncio.wait_for(ws.recv(), 5)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4400, closed.value.rcvd
