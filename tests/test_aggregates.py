"""Versioned aggregates (schema/cache.py): rankings and stats are reused only while nothing has
committed since their computation began, recomputed at most once a second under a stream of
changes (meanwhile the latest answer, with its asOf), and never served past a moment when
they change by themselves. Both backends (PostgreSQL with the Redis bus, SQLite with memory)."""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, datetime, timedelta

from domain.catalog import catalog
from domain.tx import set_clock
from models import Report
from schema.cache import AGGREGATE_INTERVAL
from tests.helpers import citizen, ok, report, staff

VERIFY = "mutation($id: ID!) { verifyReport(id: $id) { id } }"
RANKING = """query($within: ID) { rankings(level: KELURAHAN, withinRegionId: $within, minReports: 0, first: 500)
  { unitId reportsReceived asOf } }"""
STATS = "{ stats { total asOf } }"


def _parse(at: str) -> datetime:
    return datetime.fromisoformat(at)


async def _received_by_kelurahan() -> Counter[int]:
    """Over the rows: verified reports per kelurahan (none here is a duplicate)."""
    rows = await Report.filter(verified_at__not_isnull=True).values("kelurahan_id")
    return Counter(r["kelurahan_id"] for r in rows)


class _Clock:
    """The domain's clock frozen, and the cache's clock following it: moved by hand together."""

    def __init__(self, cache: object, at: datetime = datetime(2026, 3, 2, 3, tzinfo=UTC)) -> None:
        self.cache = cache
        self.set(at)
        cache.clock = lambda: self.at.timestamp()  # type: ignore[attr-defined]

    def set(self, at: datetime) -> None:
        self.at = at
        set_clock(at)

    def advance(self, seconds: float) -> None:
        self.set(self.at + timedelta(seconds=seconds))

    def __enter__(self) -> _Clock:
        return self

    def __exit__(self, *exc: object) -> None:
        set_clock(None)
        self.cache.clock = time.monotonic  # type: ignore[attr-defined]


async def test_a_ranking_after_a_change_has_the_new_figures_and_agrees_with_others(client):
    from schema import schema

    token, _ = await citizen(client)
    moderator, _ = await staff(client, "MODERATOR")
    with _Clock(schema.cache) as clock:
        await ok(client, VERIFY, {"id": (await report(client, token))["id"]}, moderator)
        before = (await ok(client, RANKING))["rankings"]
        assert {int(e["unitId"]): e["reportsReceived"] for e in before} == await _received_by_kelurahan()
        clock.advance(0.1)
        changed_at = clock.at
        await ok(client, VERIFY, {"id": (await report(client, token))["id"]}, moderator)
        # Asked again within the second: the latest answer, and its asOf says it precedes the change.
        within = (await ok(client, RANKING))["rankings"]
        assert within == before and all(_parse(e["asOf"]) < changed_at for e in within)
        # A moment later: computed anew, from the rows as they are now.
        clock.advance(AGGREGATE_INTERVAL)
        after = (await ok(client, RANKING))["rankings"]
        rows = await _received_by_kelurahan()
        assert {int(e["unitId"]): e["reportsReceived"] for e in after} == rows
        assert sum(e["reportsReceived"] for e in after) == sum(e["reportsReceived"] for e in before) + 1
        assert all(_parse(e["asOf"]) >= changed_at for e in after)
        # A different ranking asked now (never cached) agrees with it and with the rows.
        kota = catalog().parent(catalog().parent(catalog().regions[int(after[0]["unitId"])]))
        filtered = (await ok(client, RANKING, {"within": str(kota.id)}))["rankings"]  # type: ignore[union-attr]
        assert filtered and {(e["unitId"], e["reportsReceived"]) for e in filtered} <= {
            (e["unitId"], e["reportsReceived"]) for e in after
        }
        # Nothing changed since: the same answer, its asOf unchanged, however much later.
        clock.advance(3600)
        assert (await ok(client, RANKING))["rankings"] == after


async def test_stats_recomputed_at_most_once_per_interval_under_a_stream_of_changes(client):
    from schema import schema

    token, _ = await citizen(client)
    moderator, _ = await staff(client, "MODERATOR")
    with _Clock(schema.cache) as clock:
        seen = []
        for i in range(4):
            await ok(client, VERIFY, {"id": (await report(client, token))["id"]}, moderator)
            seen.append((await ok(client, STATS))["stats"])
            clock.advance(AGGREGATE_INTERVAL * 0.34)  # a change about every third of a second
            if i == 0:
                assert seen[0]["total"] == 1  # the first computation: nothing to reuse
        # Computed at the first request and again once the interval had passed, not at each change.
        assert [s["total"] for s in seen] == [1, 1, 1, 4]
        assert len({s["asOf"] for s in seen}) == 2
        clock.advance(AGGREGATE_INTERVAL)
        assert (await ok(client, STATS))["stats"]["total"] == 4  # nothing changed since: reused


async def test_an_aggregate_is_not_served_past_jakarta_midnight(client):
    """The default period ("the last 90 days") moves at Jakarta midnight: an answer computed
    just before is not served after, even with no change in between."""
    from schema import schema

    before_midnight = datetime(2026, 3, 1, 16, 59, 59, 500_000, tzinfo=UTC)  # 23:59:59.5 WIB
    with _Clock(schema.cache, before_midnight) as clock:
        first = (await ok(client, STATS))["stats"]["asOf"]
        clock.advance(0.3)
        assert (await ok(client, STATS))["stats"]["asOf"] == first  # still the same day: reused
        clock.advance(0.5)  # past midnight, less than an interval after the computation
        assert _parse((await ok(client, STATS))["stats"]["asOf"]) == clock.at


async def test_a_cached_feed_shows_overdue_from_the_moment_it_is(client):
    from schema import schema

    token, _ = await citizen(client)
    moderator, _ = await staff(client, "MODERATOR")
    with _Clock(schema.cache) as clock:
        rid = (await report(client, token))["id"]
        await ok(client, VERIFY, {"id": rid}, moderator)
        feed = "{ reports(first: 5) { edges { node { id overdue dueAt } } } }"
        nodes = [e["node"] for e in (await ok(client, feed))["reports"]["edges"]]
        assert [n["overdue"] for n in nodes] == [False]
        due = _parse(nodes[0]["dueAt"])
        clock.set(due - timedelta(seconds=1))
        assert [e["node"]["overdue"] for e in (await ok(client, feed))["reports"]["edges"]] == [False]
        # One second later (well within the cache's TTL, nothing changed): overdue.
        clock.set(due + timedelta(milliseconds=1))
        assert [e["node"]["overdue"] for e in (await ok(client, feed))["reports"]["edges"]] == [True]
