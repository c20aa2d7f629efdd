"""The compiled fast path answers every query exactly as graphql-core does (issue 13), bounded in
time (DIFFERENTIAL_SECONDS, 40 s by default).

hypothesis-graphql writes query documents from the live schema (the server's own
introspection), with ids drawn from a seeded city (anonymous, rejected, assigned reports, with
comments and votes) so that answers are not empty. Each document is sent over a real socket
by six viewers (signed out, the reports' author, another citizen, moderator, officer, admin)
three ways: through graphql-core alone (schema.fast off), through the fast path without the
read cache and shared report renderings (schema.cache off), and as served, viewer after viewer
(the read cache and the shared renderings may hand one viewer's computation to the next). The
data and the errors' codes and paths must be the same all three ways, for every viewer. Only
`asOf` may differ: it says when an aggregate was computed.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from typing import Any

import httpx
from graphql import build_client_schema, get_introspection_query
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_graphql import nodes, queries

from domain.catalog import catalog
from tests.conftest import hub_idle
from tests.helpers import category_id, citizen, ok, report, staff

DIFFERENTIAL_SECONDS = float(os.environ.get("DIFFERENTIAL_SECONDS", "40"))
BATCH = 5  # documents per hypothesis run: generation itself takes time, the clock is checked between

VERIFY = "mutation($id: ID!) { verifyReport(id: $id) { id } }"
REJECT = 'mutation($id: ID!) { rejectReport(id: $id, reason: "bukan laporan") { id } }'
ASSIGN = "mutation($id: ID!, $a: ID!) { assignReport(id: $id, assigneeId: $a) { id } }"
START = "mutation($id: ID!) { startProgress(id: $id) { id } }"
COMMENT = "mutation($r: ID!, $b: String!) { addComment(reportId: $r, body: $b) { id } }"
VOTE = "mutation($r: ID!) { vote(reportId: $r) { id } }"
FOLLOW = "mutation($r: ID!) { followReport(id: $r) { id } }"
GAMBIR = {"lat": -6.1754, "lng": 106.8272}
MENTENG = {"lat": -6.1950, "lng": 106.8320}


async def seed(client: httpx.AsyncClient) -> tuple[dict[str, str | None], list[str]]:
    """Viewers and a few reports of every kind; the ids hypothesis may ask about."""
    tokens: dict[str, str | None] = {"signed out": None}
    tokens["author"], author_id = await citizen(client)
    tokens["citizen"], citizen_id = await citizen(client)
    tokens["moderator"], moderator_id = await staff(client, "MODERATOR")
    tokens["officer"], officer_id = await staff(client, "OFFICER", region_code="31.71")
    tokens["admin"], _ = await staff(client, "ADMIN")
    author, other, moderator, officer = (tokens[k] for k in ("author", "citizen", "moderator", "officer"))
    shown = await report(client, author)  # type: ignore[arg-type]
    anonymous = await report(client, author, anonymous=True, location=MENTENG)  # type: ignore[arg-type]
    rejected = await report(client, author, category="jalan-rusak")  # type: ignore[arg-type]
    waiting = await report(client, other, anonymous=True)  # type: ignore[arg-type]  # still SUBMITTED
    for r in (shown, anonymous):
        await ok(client, VERIFY, {"id": r["id"]}, moderator)
    await ok(client, REJECT, {"id": rejected["id"]}, moderator)
    await ok(client, ASSIGN, {"id": shown["id"], "a": officer_id}, moderator)
    await ok(client, START, {"id": shown["id"]}, officer)
    comments = []
    for token, body in ((other, "Saya juga melihatnya"), (author, "Terima kasih"), (officer, "Sedang ditangani")):
        comments.append((await ok(client, COMMENT, {"r": shown["id"], "b": body}, token))["addComment"]["id"])
    comments.append((await ok(client, COMMENT, {"r": anonymous["id"], "b": "Masih ada"}, other))["addComment"]["id"])
    for r in (shown, anonymous):
        await ok(client, VOTE, {"r": r["id"]}, other)
    await ok(client, FOLLOW, {"r": anonymous["id"]}, other)
    reports = [shown["id"], anonymous["id"], rejected["id"], waiting["id"]]
    users = [author_id, citizen_id, moderator_id, officer_id]
    cat = catalog()
    gambir = cat.region_by_code[shown["kelurahan"]["code"]]
    regions = [str(r.id) for r in (gambir, cat.parent(gambir), cat.region_by_code["31.71"])]
    categories = [category_id("sampah"), category_id("jalan-rusak")]
    return tokens, [*reports, *users, *comments, *regions, *categories, "9999", "x"]


def scalars(ids: list[str]) -> dict[str, Any]:
    """Arguments that find things: the seeded ids, page sizes and points of the city."""
    return {
        "ID": st.sampled_from(ids).map(nodes.String),
        "Int": st.one_of(st.integers(min_value=0, max_value=25), st.integers(-5, 200)).map(nodes.Int),
        "Float": st.sampled_from([GAMBIR["lat"], GAMBIR["lng"], MENTENG["lat"], MENTENG["lng"], 0.0, -91.0]).map(
            nodes.Float
        ),
        "DateTime": st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC))
        .map(lambda d: d.isoformat())
        .map(nodes.String),
        "Date": st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 1, 1)).map(str).map(nodes.String),
        "JSON": st.just(nodes.Null),
        "Upload": st.just(nodes.Null),
    }


def masked(value: Any) -> Any:
    """The answer as compared: objects as lists of pairs (the order of the keys is the order of
    the selection, and must be kept), `asOf` (when an aggregate was computed) left out."""
    if isinstance(value, dict):
        return [(k, "<asOf>" if k == "asOf" and v is not None else masked(v)) for k, v in value.items()]
    if isinstance(value, list):
        return [masked(v) for v in value]
    return value


def answer(resp: httpx.Response) -> dict[str, Any]:
    assert resp.status_code < 500, (resp.status_code, resp.text[:500])
    body = resp.json()
    errors = [((e.get("extensions") or {}).get("code"), e.get("path")) for e in body.get("errors") or []]
    if body.get("data") is None and errors:
        # A failed non-null field nulls the whole answer and graphql-core cancels the rest, so
        # when several fields fail, which errors are told (one, or those that failed before
        # the cancellation) depends on which failed first: timing, not a rule (one more await
        # in a resolver reorders them; seen: `locate` and `reports` told in one run, `locate`
        # and `rankings` in another). That an error nulled the answer is compared, not which
        # (tests/test_hidden_ids.py pins the codes).
        errors = [("an error nulled the answer", None)]
    return {"status": resp.status_code, "data": masked(body.get("data")), "errors": errors}


class Differential:
    """Runs in a thread (the server keeps the event loop); switches between requests only."""

    def __init__(self, url: str, tokens: dict[str, str | None]) -> None:
        from schema import schema

        self.schema = schema
        self.fast, self.cache = schema.fast, schema.cache
        self.client = httpx.Client(base_url=url, timeout=30)
        self.tokens = tokens
        self.documents = 0
        self.covered = 0  # fast-path requests the plans answered themselves

    @contextmanager
    def executors(self, fast: bool, cache: bool) -> Iterator[None]:
        self.schema.fast = self.fast if fast else None
        self.schema.cache = self.cache if cache else None
        try:
            yield
        finally:
            self.schema.fast, self.schema.cache = self.fast, self.cache

    def ask(self, document: str, token: str | None) -> dict[str, Any]:
        headers = {"authorization": f"Bearer {token}"} if token else {}
        return answer(self.client.post("/graphql", json={"query": document}, headers=headers))

    def check(self, document: str) -> None:
        self.documents += 1
        with self.executors(fast=False, cache=False):
            regular = {viewer: self.ask(document, token) for viewer, token in self.tokens.items()}
        with self.executors(fast=True, cache=False):
            for viewer, token in self.tokens.items():
                fell_back = self.fast.fallbacks.total()
                fast = self.ask(document, token)
                self.covered += self.fast.fallbacks.total() == fell_back
                assert fast == regular[viewer], ("fast path", viewer, document, fast, regular[viewer])
        with self.executors(fast=True, cache=True):  # as served: one viewer after the other
            for viewer, token in self.tokens.items():
                served = self.ask(document, token)
                assert served == regular[viewer], ("as served", viewer, document, served, regular[viewer])

    def run(self, schema: Any, ids: list[str], budget: float) -> None:
        deadline = time.monotonic() + budget

        @settings(max_examples=BATCH, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        @given(queries(schema, custom_scalars=scalars(ids)))
        def batch(document: str) -> None:
            self.check(document)

        batch()
        while time.monotonic() < deadline:
            batch()
        self.client.close()


async def test_the_fast_path_and_the_cache_answer_as_graphql_core_does(app, client, live_url) -> None:
    tokens, ids = await seed(client)
    await hub_idle(app)  # every change seen: the read versions hold still from here on
    async with httpx.AsyncClient(base_url=f"http://{live_url}") as c:
        introspection = (await c.post("/graphql", json={"query": get_introspection_query()})).json()["data"]
    differential = Differential(f"http://{live_url}", tokens)
    await asyncio.to_thread(differential.run, build_client_schema(introspection), ids, DIFFERENTIAL_SECONDS)
    requests = differential.documents * len(tokens)
    print(f"differential: {differential.documents} documents, {differential.covered}/{requests} fast-path requests"
          " answered by the plans")  # fmt: skip
    assert differential.documents >= BATCH
    assert differential.covered > requests // 4, (differential.covered, requests)  # the plans were exercised
