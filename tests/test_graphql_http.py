"""Issue 12: GraphQL over HTTP as its specification says, checked by graphql-http's own audit
(the npm package, installed by `make install` into tests/graphql_http/), and the production
switches for GraphiQL and introspection."""

from __future__ import annotations

import asyncio
import json
import shutil
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from tests.conftest import IN_CI

AUDIT_DIR = Path(__file__).resolve().parent / "graphql_http"
NEW = "application/graphql-response+json"


async def test_graphql_http_audit_has_no_errors_or_warnings(live_url) -> None:
    node = shutil.which("node")
    if node is None or not (AUDIT_DIR / "node_modules" / "graphql-http").exists():
        if IN_CI:
            pytest.fail("node or tests/graphql_http/node_modules missing: run `make install`")
        pytest.skip("graphql-http is not installed (make install)")
    proc = await asyncio.create_subprocess_exec(
        node, str(AUDIT_DIR / "audit.mjs"), f"http://{live_url}/graphql",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    results = [json.loads(line) for line in out.decode().splitlines() if line.strip()]
    assert len(results) > 50
    bad = [r for r in results if r["status"] in ("error", "warn")]
    assert bad == [], json.dumps(bad, indent=1)


async def test_graphql_response_json_for_request_errors(client) -> None:
    headers = {"accept": NEW}
    for query, code in (("{", "GRAPHQL_PARSE_FAILED"), ("{ nope }", "GRAPHQL_VALIDATION_FAILED")):
        resp = await client.post("/graphql", json={"query": query}, headers=headers)
        assert resp.status_code == 400
        assert resp.headers["content-type"].startswith(NEW)
        body = resp.json()
        assert "data" not in body
        assert body["errors"][0]["extensions"]["code"] == code
        # the legacy media type keeps its 200 and its data: null
        resp = await client.post("/graphql", json={"query": query}, headers={"accept": "application/json"})
        assert resp.status_code == 200
        assert resp.headers["content-type"].startswith("application/json")
        assert resp.json()["data"] is None
    resp = await client.post(
        "/graphql", json={"query": "query($n: Int) { reports(first: $n) { totalCount } }", "variables": {"n": "x"}},
        headers=headers,
    )  # fmt: skip
    assert resp.status_code == 400
    resp = await client.post("/graphql", json={"query": "{ __typename }"}, headers=headers)
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith(NEW)
    assert resp.json() == {"data": {"__typename": "Query"}}
    # an execution error (a resolver refused an input) is a 200 with data
    resp = await client.post("/graphql", json={"query": '{ report(id: "x") { id } }'}, headers=headers)
    assert resp.status_code == 200
    assert resp.json()["data"] == {"report": None}


def test_accept_negotiation() -> None:
    from schema.http import response_media_type

    assert response_media_type(None) == "application/json"
    assert response_media_type("application/json") == "application/json"
    assert response_media_type("*/*") == "application/json"
    assert response_media_type(NEW) == NEW
    assert response_media_type(f"{NEW}, application/json;q=0.9") == NEW
    assert response_media_type(f"application/json, {NEW};q=0.5") == "application/json"


async def test_introspection_can_be_switched_off(app, client) -> None:
    query = "{ __schema { queryType { name } } }"
    assert (await client.post("/graphql", json={"query": query})).json()["data"]["__schema"]
    before = app.state.graphql_limits
    app.state.graphql_limits = replace(before, introspection=False)
    try:
        body = (await client.post("/graphql", json={"query": query})).json()
        assert body["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
        body = (await client.post("/graphql", json={"query": '{ __type(name: "Report") { name } }'})).json()
        assert body["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
        assert (await client.post("/graphql", json={"query": "{ __typename }"})).json()["data"]
    finally:
        app.state.graphql_limits = before


async def test_graphiql_can_be_switched_off() -> None:
    from config import Settings
    from server import create_app

    html = {"accept": "text/html"}
    for enabled, status in ((True, 200), (False, 404)):
        application = create_app(replace(Settings(), graphiql=enabled))
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            resp = await c.get("/graphql", headers=html)
            assert resp.status_code == status
            if enabled:
                assert "graphiql" in resp.text.lower()
