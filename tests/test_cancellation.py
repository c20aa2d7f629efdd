"""A hostile client cancels its requests at every point: nothing stalls, nothing half-done.

graphql-core cancels a failed field's siblings, and a client may hang up or send a websocket
`complete` in the middle of a mutation. Tortoise's transaction entry is not safe against
cancellation (one cancelled during its BEGIN kept SQLite's lock, or a pooled connection,
forever: the whole server stalled in CI's fuzzing). Reads no longer use Tortoise
transactions (models.sql.snapshot) and mutations run to their end once accepted
(schema._to_its_end). Here requests are cancelled after 0..N turns of the event loop, on the
ASGI app directly (the cancellation reaches the resolvers), and then the server must still
answer promptly, with each cancelled createReport either wholly there or wholly absent."""

from __future__ import annotations

import asyncio

from models.sql import fetch, is_postgres
from tests.helpers import CREATE_REPORT, MONAS, category_id, citizen, ok, report

# A failing field beside rankings: graphql-core cancels rankings while it reads.
RANKINGS = """{ bad: report(id: "x") { id }
  rankings(level: KELURAHAN) { unitId reportsReceived }
  staff: rankings(level: STAFF) { unitId staff { displayName } reportsReceived } }"""


async def _cancel_after(aw: object, turns: int, seconds: float = 0.0) -> None:
    task = asyncio.ensure_future(aw)  # type: ignore[arg-type]
    for _ in range(turns):
        await asyncio.sleep(0)
    if seconds:
        await asyncio.sleep(seconds)
    task.cancel()
    try:
        await task
    except BaseException:  # cancelled, or finished first: both are fine here
        pass


async def _still_answers(client, token: str) -> None:
    async with asyncio.timeout(10):  # a leaked lock or connection would hang here
        await report(client, token)
        await ok(client, "{ rankings(level: KOTA) { reportsReceived } }")


async def test_reads_cancelled_anywhere_leave_nothing_held(client) -> None:
    token, _ = await citizen(client)
    await report(client, token)
    for turns in range(40):
        await _cancel_after(client.post("/graphql", json={"query": RANKINGS}), turns)
    await _still_answers(client, token)
    await _nothing_left_open()


async def test_mutations_cancelled_anywhere_are_whole_or_absent(client) -> None:
    token, _ = await citizen(client)
    keys = []
    # Every early point by loop turns; then later ones by time, since on a loaded machine the
    # caller's row (SQLite's reads go through a thread) may take more than 40 turns to come.
    for turns, seconds in [*((t, 0.0) for t in range(40)), (40, 0.02), (40, 0.05), (40, 0.2)]:
        key = f"cancelled-{turns}-{seconds}"
        keys.append(key)
        payload = {
            "clientRequestId": key,
            "categoryId": category_id("sampah"),
            "description": "Sampah menumpuk di pinggir jalan sejak kemarin",
            "location": MONAS,
        }
        await _cancel_after(
            client.post("/graphql", json={"query": CREATE_REPORT, "variables": {"input": payload}},
                        headers={"Authorization": f"Bearer {token}"}),
            turns, seconds,
        )  # fmt: skip
    await _still_answers(client, token)
    from schema import schema

    await schema.settle()
    args = ", ".join(f"${i}" for i in range(1, len(keys) + 1))
    rows = await fetch(
        "SELECT r.id, (SELECT COUNT(*) FROM status_change s WHERE s.report_id = r.id) AS moves,"
        " (SELECT COUNT(*) FROM event e WHERE e.report_id = r.id) AS events"
        f" FROM report r WHERE r.client_request_id IN ({args})",
        *keys,
    )
    # Once accepted, a mutation finishes: each cancelled request's report is whole (its first
    # timeline entry and its event), and at least the later ones got that far.
    assert rows, "no cancelled createReport got as far as its transaction"
    for row in rows:
        assert row["moves"] >= 1 and row["events"] >= 1, row
    await _nothing_left_open()


async def _nothing_left_open() -> None:
    from schema import schema

    await schema.settle()  # the cancelled requests' mutations, still finishing
    if is_postgres():
        stuck = await fetch(
            "SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database()"
            " AND state LIKE 'idle in transaction%' AND pid <> pg_backend_pid()"
        )
        assert stuck[0]["n"] == 0, stuck
