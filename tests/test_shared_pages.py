"""The feed's page is shared between every viewer whose rows are the public's (issue 13: the
signed-in feed at the anonymous feed's cost), and never with one whose rows differ
(domain/visibility.rows_as_public): staff, an author with a REJECTED report, an author
filtering on themself (their own anonymous reports)."""

from __future__ import annotations

from tests.conftest import hub_idle
from tests.helpers import citizen, ok, report, staff

FEED = "query($a: ID) { reports(first: 10, filter: {authorId: $a}) { edges { node { id viewerHasVoted } } } }"
REJECT = 'mutation($id: ID!) { rejectReport(id: $id, reason: "Iklan") { id } }'


async def _ids(client, token: str | None, author: str | None = None) -> list[str]:
    data = await ok(client, FEED, {"a": author}, token)
    return [e["node"]["id"] for e in data["reports"]["edges"]]


def _page_reads(statements: list[str]) -> list[str]:
    return [s for s in statements if "FROM report" in s and "ORDER BY" in s]


async def test_the_publics_page_is_shared_with_viewers_who_see_the_same_rows(app, client, sql_counter):
    alice, alice_id = await citizen(client)
    bob, _ = await citizen(client)
    moderator, _ = await staff(client, "MODERATOR")
    mine = await report(client, alice, anonymous=True)
    hidden = await report(client, bob)
    await ok(client, REJECT, {"id": hidden["id"]}, moderator)
    await report(client, bob)
    await hub_idle(app)

    public = await _ids(client, None)
    assert hidden["id"] not in public and mine["id"] in public
    assert await _ids(client, alice) == public
    sql_counter.statements.clear()
    assert await _ids(client, alice) == public  # the same version: the page is not read again
    assert _page_reads(sql_counter.statements) == []

    # Bob wrote a REJECTED report: his rows are not the public's, his page is his own.
    assert sorted(await _ids(client, bob), key=int) == sorted([*public, hidden["id"]], key=int)
    assert hidden["id"] in await _ids(client, moderator)
    # Alice filtering on herself sees her anonymous report; the public's filter on her does not.
    assert mine["id"] in await _ids(client, alice, alice_id)
    assert mine["id"] not in await _ids(client, None, alice_id)

    # Once Alice's report is rejected, her rows differ from the next read on.
    await ok(client, REJECT, {"id": mine["id"]}, moderator)
    await hub_idle(app)
    assert mine["id"] in await _ids(client, alice)
    assert mine["id"] not in await _ids(client, None)
