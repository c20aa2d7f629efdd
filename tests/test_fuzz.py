"""Issue 12: fuzzing the public endpoint, bounded in time (FUZZ_SECONDS, 40 s by default).

hypothesis-graphql writes queries and mutations from the live schema (the server's own
introspection), with random arguments (search words, page sizes, ids, cursors, text with
NUL characters), sent over a real socket as five viewers: signed out, citizen, moderator,
officer and admin. Whatever they send, the server must answer without a 5xx, without
INTERNAL_SERVER_ERROR and without logging a traceback. The inputs that found the issue's
crashes are kept as explicit tests in tests/test_bad_inputs.py and tests/test_limits.py.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from datetime import UTC, date, datetime
from typing import Any

import httpx
import pytest
from graphql import build_client_schema, get_introspection_query
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_graphql import mutations, nodes, queries

from models.sql import fetch, is_postgres
from tests.helpers import citizen, json_body, json_headers, report, staff

FUZZ_SECONDS = float(os.environ.get("FUZZ_SECONDS", "40"))

SCALARS = {
    "DateTime": st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC))
    .map(lambda d: d.isoformat())
    .map(nodes.String),
    "Date": st.dates(min_value=date(1900, 1, 1), max_value=date(2200, 1, 1)).map(str).map(nodes.String),
    "JSON": st.just(nodes.Null),
    "Upload": st.just(nodes.Null),
}


class Tracebacks(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def check(resp: httpx.Response, document: str) -> None:
    assert resp.status_code < 500, (resp.status_code, document, resp.text[:500])
    if resp.status_code == 200:
        body = resp.json()
        for err in body.get("errors") or []:
            code = (err.get("extensions") or {}).get("code")
            assert code and code != "INTERNAL_SERVER_ERROR", (document, err)


def fuzz(url: str, tokens: dict[str, str | None], schema: Any, budget: float) -> int:
    """Runs in a thread: the server keeps the event loop."""
    sent = 0
    viewers = list(tokens.items())
    per_strategy = budget / (2 * len(viewers) + 1)
    with httpx.Client(base_url=url, timeout=30) as client:

        def send(document: str, token: str | None, variables: dict | None = None) -> None:
            nonlocal sent
            try:
                resp = client.post("/graphql", content=json_body(document, variables), headers=json_headers(token))
            except httpx.TimeoutException as exc:
                raise AssertionError(
                    f"no answer within 30 s to {document!r} {variables!r} as {token and token[:12]!r}"
                ) from exc
            check(resp, document)
            sent += 1

        def once(strategy: Any, token: str | None) -> None:
            deadline = time.monotonic() + per_strategy

            @settings(max_examples=5, deadline=None, database=None, suppress_health_check=list(HealthCheck))
            @given(strategy(schema, custom_scalars=SCALARS))
            def run(document: str) -> None:
                send(document, token)

            while time.monotonic() < deadline:  # small batches: generation itself takes time
                run()

        for _, token in viewers:
            for strategy in (queries, mutations):
                once(strategy, token)

        deadline = time.monotonic() + per_strategy
        search = """query($q: String, $n: Int, $after: String, $order: ReportOrder) {
            reports(filter: {search: $q}, first: $n, after: $after, orderBy: $order) {
              totalCount totalCountCapped edges { cursor node { id description } } } }"""

        @settings(max_examples=10, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        @given(
            # Any code point, unpaired surrogates included (JSON's `\\ud800` escapes).
            q=st.one_of(st.none(), st.text(st.characters(exclude_categories=()), max_size=300)),
            n=st.one_of(st.none(), st.integers(min_value=-(2**31), max_value=2**31 - 1)),
            after=st.one_of(st.none(), st.text(max_size=60)),
            order=st.sampled_from(["NEWEST", "OLDEST", "MOST_VOTED", "RECENTLY_UPDATED", "RELEVANCE", None]),
            viewer=st.sampled_from([t for _, t in viewers]),
        )
        def run_search(q: str | None, n: int | None, after: str | None, order: str | None, viewer: str | None) -> None:
            send(search, viewer, {"q": q, "n": n, "after": after, "order": order})

        while time.monotonic() < deadline:
            run_search()
    return sent


@pytest.mark.skipif(FUZZ_SECONDS <= 0, reason="FUZZ_SECONDS=0")
async def test_fuzz_the_schema_as_every_viewer(app, client, live_url) -> None:
    tokens: dict[str, str | None] = {"signed out": None}
    tokens["citizen"], _ = await citizen(client)
    tokens["moderator"], _ = await staff(client, "MODERATOR")
    tokens["officer"], _ = await staff(client, "OFFICER", region_code="31.71")
    tokens["admin"], _ = await staff(client, "ADMIN")
    for _ in range(3):
        await report(client, tokens["citizen"])  # type: ignore[arg-type]
    async with httpx.AsyncClient(base_url=f"http://{live_url}") as c:
        introspection = (await c.post("/graphql", json={"query": get_introspection_query()})).json()["data"]
    schema = build_client_schema(introspection)

    handler = Tracebacks()
    root = logging.getLogger()
    root.addHandler(handler)
    started = time.monotonic()
    try:
        sent = await asyncio.to_thread(fuzz, f"http://{live_url}", tokens, schema, FUZZ_SECONDS)
    finally:
        root.removeHandler(handler)
    elapsed = time.monotonic() - started
    assert sent > 50, sent
    assert elapsed < FUZZ_SECONDS + 30, elapsed
    logged = [f"{r.name}: {r.getMessage()}" for r in handler.records]
    assert logged == [], logged[:5]
    if is_postgres():  # no pooled connection was given back half-way through a statement
        stuck = await fetch(
            "SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database()"
            " AND state LIKE 'idle in transaction%' AND pid <> pg_backend_pid()"
        )
        assert stuck[0]["n"] == 0, stuck
