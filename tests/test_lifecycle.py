"""The report lifecycle over GraphQL: every path, exact times, who may do what, races."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from tests.helpers import category_id, citizen, error, gql, ok, report, staff

GAMBIR = "31.71.01.1001"  # Monas
FIELDS = """id status verifiedAt firstResponseAt resolvedAt closedAt dueAt overdue rating updatedAt
  category { code slaHours } agency { code } assignee { id } duplicateOf { id }
  timeline { from to note actor { id } createdAt media { id } }"""
VERIFY = (
    "mutation($id: ID!, $c: ID, $n: String) "
    f"{{ verifyReport(id: $id, categoryId: $c, note: $n) {{ {FIELDS} }} }}"
)
REJECT = f"mutation($id: ID!, $r: String!) {{ rejectReport(id: $id, reason: $r) {{ {FIELDS} }} }}"
DUPLICATE = f"mutation($id: ID!, $d: ID!) {{ markDuplicate(id: $id, duplicateOfId: $d) {{ {FIELDS} }} }}"
ASSIGN = f"mutation($id: ID!, $a: ID!) {{ assignReport(id: $id, assigneeId: $a) {{ {FIELDS} }} }}"
START = f"mutation($id: ID!, $n: String) {{ startProgress(id: $id, note: $n) {{ {FIELDS} }} }}"
RESOLVE = (
    "mutation($id: ID!, $n: String!, $m: [ID!]) "
    f"{{ resolveReport(id: $id, note: $n, mediaIds: $m) {{ {FIELDS} }} }}"
)
CONFIRM = (
    "mutation($id: ID!, $r: Int!, $c: String) "
    f"{{ confirmResolution(id: $id, rating: $r, comment: $c) {{ {FIELDS} }} }}"
)
REOPEN = f"mutation($id: ID!, $r: String!) {{ reopenReport(id: $id, reason: $r) {{ {FIELDS} }} }}"
COMMENT = "mutation($r: ID!, $b: String!) { addComment(reportId: $r, body: $b) { isOfficial } }"
GET = f"query($id: ID!) {{ report(id: $id) {{ {FIELDS} }} }}"


def ts(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def steps(r: dict) -> list[tuple[str | None, str]]:
    return [(e["from"], e["to"]) for e in r["timeline"]]


async def test_full_path_with_category_correction_reopen_and_rating_reopen(client, clock):
    reporter, reporter_id = await citizen(client)
    moderator, moderator_id = await staff(client, "MODERATOR")
    sda, sda_id = await staff(client, "OFFICER", agency_code="SDA")
    lurah, lurah_id = await staff(client, "OFFICER", region_code=GAMBIR)
    created_at = clock.at
    r = await report(client, reporter, category="sampah")
    rid = r["id"]

    # Moderator verifies and corrects the category: banjir (12 h SLA) re-routes to SDA.
    t_verify = clock.advance(minutes=30)
    v = (await ok(client, VERIFY, {"id": rid, "c": category_id("banjir"), "n": "Ini genangan"}, moderator))[
        "verifyReport"
    ]
    assert v["status"] == "VERIFIED" and v["category"]["code"] == "banjir" and v["agency"]["code"] == "SDA"
    assert ts(v["verifiedAt"]) == t_verify
    assert ts(v["dueAt"]) == t_verify + timedelta(hours=12)
    assert v["firstResponseAt"] is None and v["overdue"] is False

    # An assignment is a timeline step, not a status change, and not a response.
    clock.advance(minutes=5)
    a = (await ok(client, ASSIGN, {"id": rid, "a": sda_id}, moderator))["assignReport"]
    assert a["assignee"]["id"] == sda_id and a["status"] == "VERIFIED" and a["firstResponseAt"] is None

    # A citizen's comment is not a response; the kelurahan officer's is (official).
    clock.advance(minutes=5)
    assert (await ok(client, COMMENT, {"r": rid, "b": "Masih banjir"}, reporter))["addComment"][
        "isOfficial"
    ] is False
    t_response = clock.advance(minutes=20)
    assert (await ok(client, COMMENT, {"r": rid, "b": "Kami cek"}, lurah))["addComment"]["isOfficial"] is True
    s = (await ok(client, START, {"id": rid, "n": "Tim dikirim"}, sda))["startProgress"]
    assert s["status"] == "IN_PROGRESS" and ts(s["firstResponseAt"]) == t_response

    # 13 hours after verification: past due.
    clock.advance(hours=13)
    assert (await ok(client, GET, {"id": rid}))["report"]["overdue"] is True
    t_resolve = clock.advance(minutes=1)
    res = (await ok(client, RESOLVE, {"id": rid, "n": "Saluran dibersihkan"}, sda))["resolveReport"]
    assert res["status"] == "RESOLVED" and ts(res["resolvedAt"]) == t_resolve and res["overdue"] is False

    # The reporter disputes: back to the officers, resolvedAt cleared.
    clock.advance(hours=2)
    ro = (await ok(client, REOPEN, {"id": rid, "r": "Masih tergenang"}, reporter))["reopenReport"]
    assert ro["status"] == "REOPENED" and ro["resolvedAt"] is None
    clock.advance(hours=1)
    await ok(client, START, {"id": rid}, lurah)
    t_resolve2 = clock.advance(hours=1)
    res = (await ok(client, RESOLVE, {"id": rid, "n": "Pompa dipasang"}, lurah))["resolveReport"]
    assert ts(res["resolvedAt"]) == t_resolve2 and ts(res["firstResponseAt"]) == t_response

    # A rating of 2 reopens it (as Qlue did) and counts as given.
    clock.advance(hours=1)
    c = (await ok(client, CONFIRM, {"id": rid, "r": 2, "c": "Belum tuntas"}, reporter))["confirmResolution"]
    assert c["status"] == "REOPENED" and c["rating"] == 2 and c["resolvedAt"] is None
    t_resolve3 = clock.advance(hours=3)
    await ok(client, RESOLVE, {"id": rid, "n": "Selesai total"}, sda)
    t_close = clock.advance(hours=4)
    c = (await ok(client, CONFIRM, {"id": rid, "r": 5}, reporter))["confirmResolution"]
    assert c["status"] == "CLOSED" and c["rating"] == 5
    assert ts(c["closedAt"]) == t_close and ts(c["resolvedAt"]) == t_resolve3
    assert ts(c["verifiedAt"]) == t_verify and ts(c["firstResponseAt"]) == t_response

    assert steps(c) == [
        (None, "SUBMITTED"),
        ("SUBMITTED", "VERIFIED"),
        ("VERIFIED", "VERIFIED"),  # assignment
        ("VERIFIED", "IN_PROGRESS"),
        ("IN_PROGRESS", "RESOLVED"),
        ("RESOLVED", "REOPENED"),
        ("REOPENED", "IN_PROGRESS"),
        ("IN_PROGRESS", "RESOLVED"),
        ("RESOLVED", "REOPENED"),
        ("REOPENED", "RESOLVED"),
        ("RESOLVED", "CLOSED"),
    ]
    actors = [e["actor"]["id"] for e in c["timeline"]]
    assert actors == [
        reporter_id,
        moderator_id,
        moderator_id,
        sda_id,
        sda_id,
        reporter_id,
        lurah_id,
        lurah_id,
        reporter_id,
        sda_id,
        reporter_id,
    ]
    notes = [e["note"] for e in c["timeline"]]
    assert notes[1] == "Ini genangan" and notes[5] == "Masih tergenang" and notes[8] == "Belum tuntas"
    assert ts(c["timeline"][0]["createdAt"]) == created_at
    assert ts(c["timeline"][-1]["createdAt"]) == t_close
    # Nothing moves a closed report.
    err = await error(client, REOPEN, {"id": rid, "r": "lagi"}, reporter)
    assert err["extensions"]["code"] == "INVALID_TRANSITION"


async def test_reject_duplicate_and_rejected_visibility(client):
    reporter, _ = await citizen(client)
    other, _ = await citizen(client)
    moderator, _ = await staff(client, "MODERATOR")
    original = await report(client, reporter)
    spam = await report(client, reporter)
    dup_submitted = await report(client, other)
    dup_verified = await report(client, other)

    err = await error(client, REJECT, {"id": spam["id"], "r": "  "}, moderator)
    assert err["extensions"] == {"code": "BAD_USER_INPUT", "field": "reason"}
    rej = (await ok(client, REJECT, {"id": spam["id"], "r": "Iklan"}, moderator))["rejectReport"]
    assert rej["status"] == "REJECTED" and rej["timeline"][-1]["note"] == "Iklan"
    # Hidden from everyone but the author and staff: in lookups and in lists.
    assert (await ok(client, GET, {"id": spam["id"]}, other))["report"] is None
    assert (await ok(client, GET, {"id": spam["id"]}))["report"] is None
    assert (await ok(client, GET, {"id": spam["id"]}, reporter))["report"]["status"] == "REJECTED"
    assert (await ok(client, GET, {"id": spam["id"]}, moderator))["report"]["status"] == "REJECTED"
    count = "{ reports { totalCount } }"
    assert (await ok(client, count))["reports"]["totalCount"] == 3
    assert (await ok(client, count, token=other))["reports"]["totalCount"] == 3
    assert (await ok(client, count, token=reporter))["reports"]["totalCount"] == 4
    assert (await ok(client, count, token=moderator))["reports"]["totalCount"] == 4
    err = await error(client, COMMENT, {"r": spam["id"], "b": "halo"}, other)
    assert err["extensions"]["code"] == "NOT_FOUND"

    d = (await ok(client, DUPLICATE, {"id": dup_submitted["id"], "d": original["id"]}, moderator))[
        "markDuplicate"
    ]
    assert d["status"] == "DUPLICATE" and d["duplicateOf"]["id"] == original["id"]
    await ok(client, VERIFY, {"id": dup_verified["id"]}, moderator)
    d = (await ok(client, DUPLICATE, {"id": dup_verified["id"], "d": original["id"]}, moderator))[
        "markDuplicate"
    ]
    assert steps(d)[-1] == ("VERIFIED", "DUPLICATE")
    # The original must not itself be a duplicate or rejected, nor the report itself.
    fresh = await report(client, other)
    for target in (dup_submitted["id"], spam["id"], fresh["id"], "999999"):
        err = await error(client, DUPLICATE, {"id": fresh["id"], "d": target}, moderator)
        assert err["extensions"] == {"code": "BAD_USER_INPUT", "field": "duplicateOfId"}, target
    assert (await ok(client, GET, {"id": fresh["id"]}))["report"]["status"] == "SUBMITTED"


async def test_system_closes_stale_resolved_reports(client, clock):
    from domain.lifecycle import close_stale
    from domain.tx import now

    reporter, _ = await citizen(client)
    moderator, _ = await staff(client, "MODERATOR")
    lurah, _ = await staff(client, "OFFICER", region_code=GAMBIR)
    old = await report(client, reporter)
    young = await report(client, reporter)
    for r in (old, young):
        await ok(client, VERIFY, {"id": r["id"]}, moderator)
    await ok(client, RESOLVE, {"id": old["id"], "n": "Beres"}, lurah)
    clock.advance(days=3)
    await ok(client, RESOLVE, {"id": young["id"], "n": "Beres"}, lurah)
    clock.advance(days=4, seconds=1)
    assert await close_stale(now(), 7) == 1
    closed = (await ok(client, GET, {"id": old["id"]}))["report"]
    assert closed["status"] == "CLOSED" and ts(closed["closedAt"]) == clock.at
    assert closed["timeline"][-1]["actor"] is None and "7 hari" in closed["timeline"][-1]["note"]
    assert closed["rating"] is None
    assert (await ok(client, GET, {"id": young["id"]}))["report"]["status"] == "RESOLVED"
    assert await close_stale(now(), 7) == 0


# ---------------------------------------------------------------- who may do what

ROLES = [
    "anonymous",
    "citizen",
    "reporter",
    "moderator",
    "admin",
    "partner",
    "officer_kelurahan",
    "officer_kecamatan",
    "officer_dinas",
    "officer_other_kelurahan",
    "officer_other_dinas",
]
UNIT = {"officer_kelurahan", "officer_kecamatan", "officer_dinas"}
MODS = {"moderator", "admin"}


async def _people(client) -> dict[str, tuple[str | None, str | None]]:
    return {
        "anonymous": (None, None),
        "citizen": await citizen(client),
        "moderator": await staff(client, "MODERATOR"),
        "admin": await staff(client, "ADMIN"),
        "partner": await staff(client, "AGENCY_PARTNER", agency_code="DLH"),
        "officer_kelurahan": await staff(client, "OFFICER", region_code=GAMBIR),
        "officer_kecamatan": await staff(client, "OFFICER", region_code="31.71.01"),
        "officer_dinas": await staff(client, "OFFICER", agency_code="DLH"),
        "officer_other_kelurahan": await staff(client, "OFFICER", region_code="31.74.01.1001"),
        "officer_other_dinas": await staff(client, "OFFICER", agency_code="DISHUB"),
    }


async def _in_state(client, people, reporter, state: str) -> str:
    r = await report(client, reporter)
    mod = people["moderator"][0]
    officer = people["officer_kelurahan"][0]
    if state in ("VERIFIED", "RESOLVED"):
        await ok(client, VERIFY, {"id": r["id"]}, mod)
    if state == "RESOLVED":
        await ok(client, RESOLVE, {"id": r["id"], "n": "ok"}, officer)
    return r["id"]


async def test_every_lifecycle_mutation_as_every_role(client):
    people = await _people(client)
    reporter = await citizen(client)
    people["reporter"] = reporter
    target = await report(client, reporter[0])
    officer_id = people["officer_kelurahan"][1]
    cases = [
        ("verifyReport", VERIFY, "SUBMITTED", lambda rid: {"id": rid}, MODS),
        ("rejectReport", REJECT, "SUBMITTED", lambda rid: {"id": rid, "r": "spam"}, MODS),
        ("markDuplicate", DUPLICATE, "SUBMITTED", lambda rid: {"id": rid, "d": target["id"]}, MODS),
        ("assignReport", ASSIGN, "VERIFIED", lambda rid: {"id": rid, "a": officer_id}, MODS | UNIT),
        ("startProgress", START, "VERIFIED", lambda rid: {"id": rid}, UNIT),
        ("resolveReport", RESOLVE, "VERIFIED", lambda rid: {"id": rid, "n": "done"}, UNIT),
        ("confirmResolution", CONFIRM, "RESOLVED", lambda rid: {"id": rid, "r": 4}, {"reporter"}),
        ("reopenReport", REOPEN, "RESOLVED", lambda rid: {"id": rid, "r": "belum"}, {"reporter"}),
    ]
    outcomes = {}
    for name, mutation, state, variables, allowed in cases:
        for role in ROLES:
            rid = await _in_state(client, people, reporter[0], state)
            body = await gql(client, mutation, variables(rid), people[role][0])
            if role in allowed:
                assert not body.get("errors"), (name, role, body)
                outcomes[(name, role)] = "OK"
            else:
                code = body["errors"][0]["extensions"]["code"]
                expected = "UNAUTHENTICATED" if role == "anonymous" else "FORBIDDEN"
                assert code == expected, (name, role, body["errors"])
                after = (await ok(client, GET, {"id": rid}, people["moderator"][0]))["report"]
                assert after["status"] == state, (name, role)
                outcomes[(name, role)] = code
    assert sum(1 for v in outcomes.values() if v == "OK") == 3 * 2 + 5 + 3 + 3 + 1 + 1

    # The right actor in the wrong state: INVALID_TRANSITION, and nothing changes.
    wrong = [
        (VERIFY, "VERIFIED", lambda rid: {"id": rid}, "moderator"),
        (REJECT, "RESOLVED", lambda rid: {"id": rid, "r": "x"}, "moderator"),
        (DUPLICATE, "RESOLVED", lambda rid: {"id": rid, "d": target["id"]}, "moderator"),
        (START, "SUBMITTED", lambda rid: {"id": rid}, "officer_kelurahan"),
        (START, "RESOLVED", lambda rid: {"id": rid}, "officer_kelurahan"),
        (RESOLVE, "SUBMITTED", lambda rid: {"id": rid, "n": "x"}, "officer_dinas"),
        (RESOLVE, "RESOLVED", lambda rid: {"id": rid, "n": "x"}, "officer_dinas"),
        (CONFIRM, "VERIFIED", lambda rid: {"id": rid, "r": 5}, "reporter"),
        (REOPEN, "SUBMITTED", lambda rid: {"id": rid, "r": "x"}, "reporter"),
    ]
    for mutation, state, variables, role in wrong:
        rid = await _in_state(client, people, reporter[0], state)
        err = await error(client, mutation, variables(rid), people[role][0])
        assert err["extensions"]["code"] == "INVALID_TRANSITION", (mutation[:30], state)
        after = (await ok(client, GET, {"id": rid}, people["moderator"][0]))["report"]
        assert (
            after["status"] == state
            and len(after["timeline"]) == {"SUBMITTED": 1, "VERIFIED": 2, "RESOLVED": 3}[state]
        )

    # Assigning someone who is not an officer of the unit is bad input.
    rid = await _in_state(client, people, reporter[0], "VERIFIED")
    for who in ("officer_other_kelurahan", "citizen", "moderator"):
        err = await error(client, ASSIGN, {"id": rid, "a": people[who][1]}, people["moderator"][0])
        assert err["extensions"] == {"code": "BAD_USER_INPUT", "field": "assigneeId"}, who
    err = await error(client, CONFIRM, {"id": rid, "r": 6}, reporter[0])
    assert err["extensions"] == {"code": "BAD_USER_INPUT", "field": "rating"}
    err = await error(client, VERIFY, {"id": "987654"}, people["moderator"][0])
    assert err["extensions"]["code"] == "NOT_FOUND"


async def test_concurrent_moves_on_one_report_one_wins(client):
    reporter, _ = await citizen(client)
    mod_a, _ = await staff(client, "MODERATOR")
    mod_b, _ = await staff(client, "MODERATOR")
    lurah, _ = await staff(client, "OFFICER", region_code=GAMBIR)
    dlh, _ = await staff(client, "OFFICER", agency_code="DLH")
    for _ in range(3):
        r = await report(client, reporter)
        bodies = await asyncio.gather(
            gql(client, REJECT, {"id": r["id"], "r": "spam"}, mod_a),
            gql(client, VERIFY, {"id": r["id"]}, mod_b),
        )
        codes = sorted(b["errors"][0]["extensions"]["code"] if b.get("errors") else "OK" for b in bodies)
        assert codes == ["INVALID_TRANSITION", "OK"]
        timeline = (await ok(client, GET, {"id": r["id"]}, mod_a))["report"]["timeline"]
        assert len(timeline) == 2

        bodies = await asyncio.gather(
            *[
                gql(client, RESOLVE, {"id": r["id"], "n": f"oleh {i}"}, who)
                for i, who in enumerate((lurah, dlh))
            ]
        )
        codes = sorted(b["errors"][0]["extensions"]["code"] if b.get("errors") else "OK" for b in bodies)
        timeline = (await ok(client, GET, {"id": r["id"]}, mod_a))["report"]["timeline"]
        if timeline[1]["to"] == "VERIFIED":
            assert codes == ["INVALID_TRANSITION", "OK"]
            assert [e["to"] for e in timeline] == ["SUBMITTED", "VERIFIED", "RESOLVED"]
        else:  # the rejection won; resolving a rejected report is hidden from nobody here (staff)
            assert codes == ["INVALID_TRANSITION", "INVALID_TRANSITION"]


QUEUE = """query($first: Int, $after: String) { moderationQueue(first: $first, after: $after) {
  totalCount edges { node { id status } } pageInfo { hasNextPage endCursor } } }"""
WORK = """{ myWork { totalCount edges { node { id status dueAt overdue category { code } } } } }"""


async def test_moderation_queue_and_my_work(client, clock):
    reporter, _ = await citizen(client)
    moderator, _ = await staff(client, "MODERATOR")
    lurah, _ = await staff(client, "OFFICER", region_code=GAMBIR)
    kota, _ = await staff(client, "OFFICER", region_code="31.71")
    elsewhere, _ = await staff(client, "OFFICER", region_code="31.74.01.1001")
    dishub, _ = await staff(client, "OFFICER", agency_code="DISHUB")
    ids = []
    for code in ("sampah", "kemacetan", "banjir", "jalan-rusak"):
        ids.append((await report(client, reporter, category=code))["id"])
        clock.advance(minutes=1)
    queue = (await ok(client, QUEUE, {"first": 2}, moderator))["moderationQueue"]
    assert [e["node"]["id"] for e in queue["edges"]] == ids[:2] and queue["totalCount"] == 4
    nxt = await ok(client, QUEUE, {"first": 2, "after": queue["pageInfo"]["endCursor"]}, moderator)
    assert [e["node"]["id"] for e in nxt["moderationQueue"]["edges"]] == ids[2:]
    for who, code in ((None, "UNAUTHENTICATED"), (reporter, "FORBIDDEN"), (lurah, "FORBIDDEN")):
        assert (await error(client, QUEUE, {}, who))["extensions"]["code"] == code

    # Verify all but the last; SLAs: sampah 48h, kemacetan 6h, banjir 12h.
    for rid in ids[:3]:
        await ok(client, VERIFY, {"id": rid}, moderator)
    clock.advance(hours=7)  # kemacetan is now overdue
    work = (await ok(client, WORK, token=lurah))["myWork"]
    assert [e["node"]["category"]["code"] for e in work["edges"]] == ["kemacetan", "banjir", "sampah"]
    assert [e["node"]["overdue"] for e in work["edges"]] == [True, False, False]
    assert (await ok(client, WORK, token=kota))["myWork"]["totalCount"] == 3
    assert (await ok(client, WORK, token=elsewhere))["myWork"]["totalCount"] == 0
    dishub_work = (await ok(client, WORK, token=dishub))["myWork"]
    assert [e["node"]["category"]["code"] for e in dishub_work["edges"]] == ["kemacetan"]
    assert (await error(client, WORK, {}, moderator))["extensions"]["code"] == "FORBIDDEN"
    overdue = "{ reports(filter: {overdue: true}) { edges { node { category { code } } } } }"
    assert [e["node"]["category"]["code"] for e in (await ok(client, overdue))["reports"]["edges"]] == [
        "kemacetan"
    ]
