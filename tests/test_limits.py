"""Issue 12: documents that ask too much are refused before they cost any execution, the same
on every path (the compiled fast path, graphql-core, both websocket protocols, aliased
mutations); the dashboard's own documents pass; /healthz stays quick under the cycle attack."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import replace

import httpx
import pytest

from tests.helpers import MONAS, citizen, gql, ok, report
from tests.ws import LEGACY_WS, TRANSPORT_WS, GraphQLWebSocket


def cycle(levels: int) -> str:
    """The issue's 300-byte attack: a report's timeline leads back to the report, `levels` times."""
    inner = "id"
    for _ in range(levels):
        inner = f"timeline {{ report {{ {inner} }} }}"
    return f'{{ report(id: "1") {{ {inner} }} }}'


def region_cycle(depth: int, leaf: str = "id name boundary") -> str:
    inner = leaf
    for i in range(depth - 1):
        inner = f"{'children' if i % 2 == 0 else 'parent'} {{ {inner} }}"
    return f'{{ region(id: "1") {{ {inner} }} }}'


ATTACKS = {
    "cycle": cycle(8),
    "region_depth_7": region_cycle(7),
    "aliases_of_boundaries": "{ " + " ".join(f"a{i}: regions {{ boundary }}" for i in range(1000)) + " }",
    # 40,000 aliases fit the 1 MiB body limit; issue 12's 100,000 (1.5 MB) are refused even
    # earlier, by the body limit (test_the_issues_100k_aliases_never_reach_the_gate).
    "typename_aliases": "{ " + " ".join(f"t{i}: __typename" for i in range(40_000)) + " }",
}


async def test_the_issues_100k_aliases_never_reach_the_gate(client) -> None:
    query = "{ " + " ".join(f"t{i}: __typename" for i in range(100_000)) + " }"
    resp = await client.post("/graphql", json={"query": query})
    assert resp.status_code == 413 and resp.json()["errors"][0]["extensions"]["code"] == "PAYLOAD_TOO_LARGE"


def refused(body: dict) -> dict:
    assert "data" not in body or body["data"] is None, body
    err = body["errors"][0]
    assert err["extensions"]["code"] == "QUERY_TOO_COMPLEX", err
    return err


@pytest.mark.parametrize("name", list(ATTACKS))
async def test_attacks_are_refused_before_execution(client, sql_counter, name) -> None:
    token, _ = await citizen(client)
    await report(client, token)
    sql_counter.statements.clear()
    started = time.perf_counter()
    body = await gql(client, ATTACKS[name])
    elapsed = time.perf_counter() - started
    err = refused(body)
    assert err["extensions"]["limit"] in ("cost", "depth", "aliases", "tokens")
    assert sql_counter.statements == [], "a refused document must cost no execution"
    assert elapsed < 2.0, elapsed


async def test_each_limit_names_itself(client) -> None:
    limits = {
        "depth": region_cycle(12, "id"),
        "aliases": "{ " + " ".join(f"c{i}: categories {{ id }}" for i in range(101)) + " }",
        "tokens": "{ " + " ".join("__typename" for _ in range(6000)) + " }",
        "cost": cycle(4),
    }
    for limit, query in limits.items():
        err = refused(await gql(client, query))
        assert err["extensions"]["limit"] == limit, (limit, err)
        assert err["extensions"]["actual"] > err["extensions"]["maximum"]


async def test_page_size_multiplies_the_cost(client) -> None:
    """`first` (a literal or a variable) multiplies everything below it, as GitHub's node limit."""
    query = """query($n: Int) { reports(first: $n) { edges { node {
        id comments(first: 100) { edges { node { id body author { handle region { name } } } } } } } } }"""
    assert (await ok(client, query, {"n": 5}))["reports"]["edges"] == []
    refused(await gql(client, query, {"n": 100}))


async def test_mutations_and_aliased_mutations_pass_the_same_gate(client) -> None:
    many = "mutation { " + " ".join(
        f'l{i}: login(input: {{login: "x{i}", password: "y"}}) {{ token }}' for i in range(101)
    ) + " }"  # fmt: skip
    err = refused(await gql(client, many))
    assert err["extensions"]["limit"] == "aliases"


@pytest.mark.parametrize("protocol", [TRANSPORT_WS, LEGACY_WS])
async def test_websockets_refuse_with_the_same_code(live_url, protocol) -> None:
    async with GraphQLWebSocket(f"ws://{live_url}/graphql", protocol) as ws:
        inner = "id"
        for _ in range(4):
            inner = f"timeline {{ report {{ {inner} }} }}"
        await ws.subscribe(f"subscription {{ reportEvents {{ report {{ {inner} }} }} }}")
        message = await ws.receive()
        assert message["type"] == "error", message
        payload = message["payload"]
        errors = payload if isinstance(payload, list) else [payload]
        assert errors[0]["extensions"]["code"] == "QUERY_TOO_COMPLEX"
        if protocol == TRANSPORT_WS:  # queries run over graphql-transport-ws too
            await ws.subscribe(cycle(8))
            message = await ws.receive()
            assert message["type"] == "error", message
            assert message["payload"][0]["extensions"]["code"] == "QUERY_TOO_COMPLEX"


async def test_the_dashboards_documents_pass_the_default_limits(app) -> None:
    """Every registered document (the dashboard's), with the variables the dashboard sends,
    fits the default limits with room to spare."""
    from domain.catalog import catalog
    from schema import schema
    from schema.documents import Checked
    from schema.limits import DEFAULT_LIMITS, Limits

    kecamatan = [str(r.id) for r in catalog().regions.values() if r.level == "KECAMATAN"]
    period = {"from": "2025-01-01", "to": "2025-12-31"}
    registered = list(schema.documents.trusted)
    assert len(registered) >= 4
    for text in registered:
        variables: dict = {"period": period}
        if "DashboardFigures" in text:
            n = text.count("stats(regionId: $k")
            variables.update(
                region=None, cats=None, since="2025-01-01T00:00:00+07:00", statuses=["SUBMITTED"],
                **{f"k{i}": kecamatan[i % len(kecamatan)] for i in range(n)},
            )  # fmt: skip
        elif "DashboardRankings" in text:
            variables.update(level="KELURAHAN", first=100, offset=0)
        elif "DashboardLive" in text:
            variables = {}
        half = Limits(max_cost=DEFAULT_LIMITS.max_cost // 2, max_aliases=DEFAULT_LIMITS.max_aliases // 2 + 1)
        checked = schema.documents.check(text, None, variables, half, None)
        assert isinstance(checked, Checked), (text[:60], checked)


async def test_every_list_field_has_a_bound() -> None:
    """A new list field must say how many items it can return (schema/limits.py COSTS)."""
    from schema import schema
    from schema.limits import COSTS, list_fields

    missing = [f for f in list_fields(schema._schema) if f not in COSTS]
    assert missing == []


async def test_limits_come_from_the_settings(app, client, monkeypatch) -> None:
    from config import Settings
    from schema.limits import Limits

    for name, value in {
        "GRAPHQL_MAX_DEPTH": "3", "GRAPHQL_MAX_ALIASES": "2", "GRAPHQL_MAX_TOKENS": "50",
        "GRAPHQL_MAX_COST": "40", "GRAPHQL_INTROSPECTION": "0", "GRAPHQL_TRUSTED_DOCUMENTS": "anonymous",
    }.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    limits = Limits.of(Settings())
    assert limits == Limits(3, 2, 50, 40, introspection=False, trusted_only_anonymous=True)
    before = app.state.graphql_limits
    app.state.graphql_limits = replace(limits, trusted_only_anonymous=False)
    try:
        assert refused(await gql(client, "{ a: categories { id } b: categories { id } c: categories { id } }"))
        assert refused(await gql(client, "{ regions { parent { parent { name } } } }"))
        assert (await ok(client, "{ categories { id } }"))["categories"]
    finally:
        app.state.graphql_limits = before


async def test_each_document_is_parsed_and_validated_once(client) -> None:
    from schema import schema

    query = '{ categories { id code } region(code: "31.71") { name } }'
    before = schema.documents.parses
    for _ in range(5):
        await ok(client, query)
        await gql(client, query + " ")  # another text: parsed once too
    assert schema.documents.parses - before == 2


ATTACKERS = """
import asyncio, json, sys, time
import httpx

async def main(base, seconds, body):
    stop = time.monotonic() + seconds
    counts = []

    async def attacker():
        n = 0
        async with httpx.AsyncClient(base_url=base, timeout=10) as c:
            while time.monotonic() < stop:
                r = await c.post("/graphql", content=body, headers={"content-type": "application/json"})
                assert r.json()["errors"][0]["extensions"]["code"] == "QUERY_TOO_COMPLEX", r.text
                n += 1
        counts.append(n)

    await asyncio.gather(*(attacker() for _ in range(8)))
    print(sum(counts))

asyncio.run(main(sys.argv[1], float(sys.argv[2]), sys.argv[3]))
"""


async def test_healthz_answers_quickly_while_clients_send_the_cycle_query(app, live_url) -> None:
    """8 clients (another process, as attackers are) send the 300-byte cycle attack in a
    loop over real sockets; /healthz still answers within 200 ms."""
    import sys

    base = f"http://{live_url}"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", ATTACKERS, base, "3", json.dumps({"query": cycle(8)}),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        await asyncio.sleep(0.8)  # the attackers are connected and sending
        timings = []
        async with httpx.AsyncClient(base_url=base, timeout=5) as c:
            for _ in range(10):
                started = time.perf_counter()
                resp = await c.get("/healthz")
                timings.append(time.perf_counter() - started)
                assert resp.status_code == 200
                await asyncio.sleep(0.1)
    finally:
        out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()[-2000:]
    assert int(out) > 100, out  # the attack did run meanwhile
    timings.sort()
    assert timings[-1] < 0.2, timings


async def test_a_valid_query_still_answers_through_the_fast_path(client) -> None:
    token, _ = await citizen(client)
    await report(client, token, location=MONAS)
    data = await ok(client, "{ reports(first: 5) { edges { node { id timeline { to } } } } }")
    assert len(data["reports"]["edges"]) == 1
