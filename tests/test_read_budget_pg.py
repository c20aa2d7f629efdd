"""A read over its budget answers QUERY_TIMEOUT (PostgreSQL's statement_timeout: the
PostgreSQL pass only; SQLite reads run unbudgeted)."""

from __future__ import annotations

from typing import Any

from tests.helpers import citizen, ok, report
from tests.test_search import FEED, tuned


async def test_a_read_over_its_budget_answers_query_timeout(app, client, monkeypatch):
    """A search made slow on purpose (pg_sleep) with a small budget: QUERY_TIMEOUT, never a
    500, and the connection it used serves the next request."""
    import domain.report

    token, _ = await citizen(client)
    await report(client, token, description="Saluran air tersumbat sampah")
    split = domain.report.split_conditions

    def slow(*a: Any, **k: Any) -> tuple[list[str], list[str]]:
        filters, text = split(*a, **k)
        return [*filters, "(SELECT pg_sleep(1)) IS NOT NULL"], text

    monkeypatch.setattr(domain.report, "split_conditions", slow)
    with tuned(app, read_timeout_ms=100):
        for search in ("saluran", None):
            body = (
                await client.post("/graphql", json={"query": FEED, "variables": {"f": {"search": search}}})
            ).json()
            assert body["errors"][0]["extensions"]["code"] == "QUERY_TIMEOUT", body
            assert "pg_sleep" not in str(body)
    monkeypatch.setattr(domain.report, "split_conditions", split)
    for _ in range(3):  # the pool's connections came back clean (no timeout left set)
        assert (await ok(client, FEED, {"f": {"search": "saluran"}}))["reports"]["totalCount"] == 1
