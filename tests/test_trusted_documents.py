"""Issue 12: the dashboard's documents are registered (schema/documents.json, generated from
dashboard/queries.js), may be sent by hash, and with GRAPHQL_TRUSTED_DOCUMENTS=anonymous are
all that signed-out clients may run."""

from __future__ import annotations

import asyncio
import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from tests.conftest import IN_CI
from tests.helpers import citizen

ROOT = Path(__file__).resolve().parents[1]
CATALOG_NAME = "DashboardCatalog"


def manifest() -> dict:
    return json.loads((ROOT / "schema" / "documents.json").read_text())


def document(name: str) -> dict:
    return next(d for d in manifest()["documents"] if d["name"] == name)


async def test_the_manifest_is_current() -> None:
    """`make documents` was run after the dashboard's queries last changed."""
    node = shutil.which("node")
    if node is None:
        if IN_CI:
            pytest.fail("node is missing")
        pytest.skip("node is not installed")
    proc = await asyncio.create_subprocess_exec(
        node, str(ROOT / "tools" / "trusted_documents.mjs"), stdout=asyncio.subprocess.PIPE
    )  # fmt: skip
    out, _ = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0
    assert json.loads(out) == manifest(), "schema/documents.json is stale: run `make documents`"


def test_every_document_is_registered_under_its_hash() -> None:
    import hashlib

    docs = manifest()["documents"]
    assert {d["name"] for d in docs} >= {"DashboardCatalog", "DashboardRankings", "DashboardLive", "DashboardFigures/44"}
    for d in docs:
        assert hashlib.sha256(d["document"].encode()).hexdigest() == d["sha256"]


async def test_sent_by_hash(client) -> None:
    doc = document("DashboardRankings")
    variables = {"level": "KOTA", "first": 3}
    apollo = {"variables": variables, "extensions": {"persistedQuery": {"version": 1, "sha256Hash": doc["sha256"]}}}
    by_apollo = (await client.post("/graphql", json=apollo)).json()
    assert by_apollo == {"data": {"rankings": []}}  # executed (no report yet, so no ranked unit)
    by_id = (await client.post("/graphql", json={"documentId": f"sha256:{doc['sha256']}", "variables": variables})).json()
    assert by_id == by_apollo
    resp = await client.get("/graphql", params={"documentId": doc["sha256"], "variables": json.dumps(variables)})
    assert resp.json() == by_apollo
    # the text with its hash is accepted; a text that does not match its hash is not
    apollo["query"] = doc["document"]
    assert (await client.post("/graphql", json=apollo)).json() == by_apollo
    apollo["query"] = doc["document"] + " "
    assert (await client.post("/graphql", json=apollo)).status_code == 400
    unknown = {"extensions": {"persistedQuery": {"version": 1, "sha256Hash": "0" * 64}}}
    body = (await client.post("/graphql", json=unknown)).json()
    assert body["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"


async def test_signed_out_clients_may_send_only_registered_documents(app, client) -> None:
    token, _ = await citizen(client)
    before = app.state.graphql_limits
    app.state.graphql_limits = replace(before, trusted_only_anonymous=True)
    try:
        other = "{ categories { id name } }"
        body = (await client.post("/graphql", json={"query": other})).json()
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
        catalog = document(CATALOG_NAME)
        by_text = (await client.post("/graphql", json={"query": catalog["document"]})).json()
        assert by_text["data"]["categories"]
        by_hash = {"extensions": {"persistedQuery": {"version": 1, "sha256Hash": catalog["sha256"]}}}
        assert (await client.post("/graphql", json=by_hash)).json() == by_text
        body = (await client.post("/graphql", json={"query": other}, headers={"authorization": f"Bearer {token}"})).json()
        assert body["data"]["categories"]  # a signed-in client may send any document
    finally:
        app.state.graphql_limits = before
