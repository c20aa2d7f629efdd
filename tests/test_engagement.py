"""Comments (officers' official), votes, and the feed's constant number of SQL statements."""

from __future__ import annotations

from tests.conftest import hub_idle
from tests.helpers import citizen, error, ok, report, staff

ADD = """mutation($r: ID!, $b: String!) { addComment(reportId: $r, body: $b) {
  id body isOfficial author { id } report { id commentCount } } }"""
DELETE = "mutation($id: ID!) { deleteComment(id: $id) }"
COMMENTS = """query($id: ID!, $first: Int, $after: String) { report(id: $id) { commentCount
  comments(first: $first, after: $after) { totalCount pageInfo { hasNextPage endCursor }
    edges { node { id body isOfficial } } } } }"""
VOTE = "mutation($r: ID!) { vote(reportId: $r) { id voteCount viewerHasVoted } }"
UNVOTE = "mutation($r: ID!) { unvote(reportId: $r) { id voteCount viewerHasVoted } }"


async def test_comments_official_marking_paging_and_deletion(client):
    token, _ = await citizen(client)
    other, _ = await citizen(client)
    r = await report(client, token)  # Monas -> kelurahan Gambir, category sampah -> DLH
    lurah, _ = await staff(client, "OFFICER", region_code="31.71.01.1001")
    kota_officer, _ = await staff(client, "OFFICER", region_code="31.71")
    dlh, _ = await staff(client, "OFFICER", agency_code="DLH")
    elsewhere, _ = await staff(client, "OFFICER", region_code="31.74.01.1001")
    other_dinas, _ = await staff(client, "OFFICER", agency_code="DISHUB")
    moderator, _ = await staff(client, "MODERATOR")

    expected = [
        (token, False),
        (lurah, True),
        (kota_officer, True),
        (dlh, True),
        (elsewhere, False),
        (other_dinas, False),
        (moderator, False),
    ]
    ids = []
    for i, (who, official) in enumerate(expected):
        c = (await ok(client, ADD, {"r": r["id"], "b": f"komentar {i}"}, who))["addComment"]
        assert c["isOfficial"] is official, i
        ids.append(c["id"])
    assert c["report"]["commentCount"] == len(expected)

    page1 = (await ok(client, COMMENTS, {"id": r["id"], "first": 4}))["report"]["comments"]
    assert [e["node"]["body"] for e in page1["edges"]] == [f"komentar {i}" for i in range(4)]
    assert page1["pageInfo"]["hasNextPage"] and page1["totalCount"] == 7
    page2 = (
        await ok(client, COMMENTS, {"id": r["id"], "first": 4, "after": page1["pageInfo"]["endCursor"]})
    )["report"]["comments"]
    assert [e["node"]["body"] for e in page2["edges"]] == [f"komentar {i}" for i in range(4, 7)]
    assert not page2["pageInfo"]["hasNextPage"]

    err = await error(client, DELETE, {"id": ids[0]}, other)
    assert err["extensions"]["code"] == "FORBIDDEN"
    err = await error(client, DELETE, {"id": ids[0]})
    assert err["extensions"]["code"] == "UNAUTHENTICATED"
    assert (await ok(client, DELETE, {"id": ids[0]}, token))["deleteComment"] is True
    assert (await ok(client, DELETE, {"id": ids[1]}, moderator))["deleteComment"] is True
    err = await error(client, DELETE, {"id": ids[0]}, token)
    assert err["extensions"]["code"] == "NOT_FOUND"
    after = (await ok(client, COMMENTS, {"id": r["id"]}))["report"]
    assert after["commentCount"] == 5
    assert after["comments"]["edges"][0]["node"]["body"] == "komentar 2"

    err = await error(client, ADD, {"r": r["id"], "b": "   "}, token)
    assert err["extensions"] == {"code": "BAD_USER_INPUT", "field": "body"}
    err = await error(client, ADD, {"r": "424242", "b": "halo"}, token)
    assert err["extensions"]["code"] == "NOT_FOUND"
    err = await error(client, ADD, {"r": r["id"], "b": "halo"})
    assert err["extensions"]["code"] == "UNAUTHENTICATED"


async def test_votes_are_idempotent(client):
    token, _ = await citizen(client)
    a, _ = await citizen(client)
    b, _ = await citizen(client)
    r = await report(client, token)
    assert (await ok(client, VOTE, {"r": r["id"]}, a))["vote"] == {
        "id": r["id"],
        "voteCount": 1,
        "viewerHasVoted": True,
    }
    assert (await ok(client, VOTE, {"r": r["id"]}, a))["vote"]["voteCount"] == 1
    assert (await ok(client, VOTE, {"r": r["id"]}, b))["vote"]["voteCount"] == 2
    q = "query($id: ID!) { report(id: $id) { voteCount viewerHasVoted } }"
    seen = (await ok(client, q, {"id": r["id"]}, token))["report"]
    assert seen == {"voteCount": 2, "viewerHasVoted": False}
    assert (await ok(client, q, {"id": r["id"]}))["report"]["viewerHasVoted"] is False
    assert (await ok(client, UNVOTE, {"r": r["id"]}, a))["unvote"] == {
        "id": r["id"],
        "voteCount": 1,
        "viewerHasVoted": False,
    }
    assert (await ok(client, UNVOTE, {"r": r["id"]}, a))["unvote"]["voteCount"] == 1
    err = await error(client, VOTE, {"r": r["id"]})
    assert err["extensions"]["code"] == "UNAUTHENTICATED"


FEED = """query($first: Int) { reports(first: $first) { totalCount edges { cursor node {
  id description status createdAt voteCount commentCount viewerHasVoted overdue
  category { id code name agency { code } }
  kelurahan { id name parent { id name parent { name } } }
  author { id handle displayName }
} } } }"""

DETAIL = """query($id: ID!) { report(id: $id) {
  id description status voteCount commentCount viewerHasVoted
  category { name } kelurahan { name parent { name } } agency { name }
  author { handle } assignee { handle } media { url }
  comments(first: 20) { totalCount edges { node { id body isOfficial author { handle } } } }
  timeline { from to note createdAt actor { handle } media { url } }
} }"""


async def _count(sql_counter, app, client, query, variables, token):
    await hub_idle(app)
    sql_counter.statements.clear()
    data = await ok(client, query, variables, token)
    return len(sql_counter.statements), data


async def test_feed_and_detail_use_a_constant_number_of_queries(app, client, sql_counter):
    viewer, _ = await citizen(client)
    authors = [await citizen(client) for _ in range(5)]
    for i in range(24):
        token, _ = authors[i % 5]
        r = await report(client, token, location={"lat": -6.17 - i * 0.004, "lng": 106.82})
        await ok(client, ADD, {"r": r["id"], "b": "ikut melapor"}, viewer)
        await ok(client, VOTE, {"r": r["id"]}, viewer)

    # The first read of this version also reads the caller and whether they wrote a hidden
    # report (both then remembered under the version, schema/context.py).
    first, _ = await _count(sql_counter, app, client, FEED, {"first": 1}, viewer)
    assert first == 6, sql_counter.statements
    small, data = await _count(sql_counter, app, client, FEED, {"first": 5}, viewer)
    assert len(data["reports"]["edges"]) == 5
    large, data = await _count(sql_counter, app, client, FEED, {"first": 20}, viewer)
    assert len(data["reports"]["edges"]) == 20
    assert all(e["node"]["viewerHasVoted"] for e in data["reports"]["edges"])
    # page of rows, count, authors, viewer's votes: four, whatever the page size.
    assert small == large == 4, sql_counter.statements
    # Asked again before anything changes: the page is the public's, shared, and so are the
    # reports' renderings (schema/renderings.py); the viewer's votes filled in: one statement.
    again, same = await _count(sql_counter, app, client, FEED, {"first": 20}, viewer)
    assert same == data
    assert again == 1, sql_counter.statements

    rid = data["reports"]["edges"][0]["node"]["id"]
    for i in range(5):
        await ok(client, ADD, {"r": rid, "b": f"lagi {i}"}, authors[i][0])
    detail, data = await _count(sql_counter, app, client, DETAIL, {"id": rid}, viewer)
    assert len(data["report"]["comments"]["edges"]) == 6
    # viewer, report, comments page, users (authors), votes, media, timeline, then a second
    # level: users (timeline actors) and timeline media. Constant in comments and entries.
    assert detail == 9, "\n".join(s[:90] for s in sql_counter.statements)
