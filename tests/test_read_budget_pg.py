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


async def test_a_common_word_the_newest_reports_lack_is_found_along_the_order(app, client, monkeypatch):
    """When the newest reports hold no match, a word is not taken for rare: its text index is
    tried only for a moment (here cancelled at once), then the order's index is walked; pages
    and counts stay exact (the windows shrunk so that a few reports play a year's)."""
    import domain.pagination as pagination

    token, _ = await citizen(client)
    for i in range(3):
        await report(client, token, description=f"Jalan rusak nomor {i} dekat sekolah")
    for i in range(4):  # the newest reports: about something else
        await report(client, token, description=f"Lampu taman mati nomor {i}")
    monkeypatch.setattr(pagination, "WINDOWS", (2, 3))
    monkeypatch.setattr(pagination, "WALKED", 50)
    monkeypatch.setattr(pagination, "PROBE_ROWS", 50)
    real, cancelled = pagination.attempt, []

    async def hurried(sql: str, *args: Any, conn: Any, seconds: float) -> Any:
        found = await real(sql, *args, conn=conn, seconds=1e-6)  # as a common word's would be
        cancelled.append(found is None)
        return found

    monkeypatch.setattr(pagination, "attempt", hurried)
    with tuned(app, total_count_cap=2):
        page = (await ok(client, FEED, {"n": 2, "f": {"search": "jalan"}}))["reports"]
        assert [e["node"]["description"] for e in page["edges"]] == [
            "Jalan rusak nomor 2 dekat sekolah",
            "Jalan rusak nomor 1 dekat sekolah",
        ]
        assert page["pageInfo"]["hasNextPage"] and (page["totalCount"], page["totalCountCapped"]) == (2, True)
        page = (await ok(client, FEED, {"n": 2, "f": {"search": "rusak nomor 0"}}))["reports"]
        assert [e["node"]["description"] for e in page["edges"]] == ["Jalan rusak nomor 0 dekat sekolah"]
        assert (page["totalCount"], page["totalCountCapped"], page["pageInfo"]["hasNextPage"]) == (1, False, False)
    assert cancelled and all(cancelled)  # every attempt was cut short, and the answers held
