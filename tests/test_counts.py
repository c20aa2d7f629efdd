"""Exact `totalCount` from the status rollup (issue 16, item 2): after random creates and moves
through the API, the count of any filter the rollup can express equals a count over the rows
for every kind of viewer, beyond the row-counting cap; other filters are still counted as rows,
up to the cap."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.rollups import JAKARTA
from models.enums import RegionLevel, ReportStatus
from tests.helpers import CREATE_REPORT, MONAS, category_id, citizen, gql, ok, report, staff
from tests.test_search import tuned

FEED = """query($f: ReportFilter, $n: Int) {
  reports(filter: $f, first: $n) { totalCount totalCountCapped edges { node { id } } } }"""
VERIFY = "mutation($id: ID!, $c: ID) { verifyReport(id: $id, categoryId: $c) { status } }"
REJECT = 'mutation($id: ID!) { rejectReport(id: $id, reason: "bukan laporan") { status } }'
DUPLICATE = "mutation($id: ID!, $d: ID!) { markDuplicate(id: $id, duplicateOfId: $d) { status } }"
START = "mutation($id: ID!) { startProgress(id: $id) { status } }"
RESOLVE = 'mutation($id: ID!) { resolveReport(id: $id, note: "selesai") { status } }'
CONFIRM = "mutation($id: ID!, $r: Int!) { confirmResolution(id: $id, rating: $r) { status } }"
REOPEN = 'mutation($id: ID!) { reopenReport(id: $id, reason: "belum beres") { status } }'

S = ReportStatus
# The moves a report can make from each status (domain/lifecycle.py), by who makes them.
MOVES: dict[str, list[str]] = {
    S.SUBMITTED: ["verify", "reject", "duplicate"],
    S.VERIFIED: ["start", "resolve", "duplicate"],
    S.IN_PROGRESS: ["resolve"],
    S.REOPENED: ["start", "resolve"],
    S.RESOLVED: ["confirm", "reopen"],
}
CAP = 2  # the row-counting cap while counting: most totals here are beyond it
CATEGORIES = ("banjir", "jalan-rusak", "pohon", "sampah")  # four dinas: filters often match

START_AT = datetime(2025, 12, 20, 9, tzinfo=UTC)
# (create?, a, b, hours): a create (two in three) by author b % 2 at place b % 4 in category
# a % 4; else a move of report a (the b-th of the moves open to it); then the clock moves on.
ops = st.lists(
    st.tuples(st.integers(0, 2).map(bool), st.integers(0, 10**6), st.integers(0, 10**6), st.integers(0, 60)),
    min_size=10,
    max_size=40,
)
days = st.dates(date(2025, 12, 18), date(2026, 2, 20))


def sometimes(values: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """A filter field set one time in three: most filters then match some reports."""
    return st.tuples(st.integers(0, 2), values).map(lambda t: t[1] if t[0] == 2 else None)


filters = st.fixed_dictionaries(
    {
        "status": sometimes(st.lists(st.sampled_from(list(S)), unique=True, max_size=5)),
        "categories": sometimes(st.lists(st.integers(0, 10**6), min_size=1, max_size=3)),
        "region": sometimes(st.tuples(st.sampled_from(list(RegionLevel)), st.integers(0, 3))),
        "agency": sometimes(st.integers(0, 10**6)),
        "after": sometimes(days),
        "before": sometimes(days),
        "utc": st.booleans(),  # the same instant written in UTC or in Jakarta time
    }
)


def _places() -> list[Any]:
    """Four kelurahan: two of one kecamatan, one of another kecamatan of the same kota, one of
    another kota."""
    from domain.catalog import catalog

    cat = catalog()
    by_code = sorted(cat.regions.values(), key=lambda r: r.code)
    kotas = [r for r in by_code if r.level == RegionLevel.KOTA and not r.code.startswith("31.01")]
    kids = {r.id: sorted(cat.children.get(r.id, []), key=lambda k: k.code) for r in by_code}
    kota = next(k for k in kotas if len(kids[k.id]) >= 2 and len(kids[kids[k.id][0].id]) >= 2)
    kec, other_kec = kids[kota.id][:2]
    other_kota = next(k for k in kotas if k.id != kota.id)
    far = kids[kids[other_kota.id][0].id][0]
    return [*kids[kec.id][:2], kids[other_kec.id][0], far]


def _midnight(day: date, utc: bool) -> str:
    at = datetime.combine(day, time(), JAKARTA)
    return (at.astimezone(UTC) if utc else at).isoformat()


def _ancestor(region_id: int, level: RegionLevel) -> int:
    from domain.catalog import catalog

    return next(r.id for r in catalog().ancestors(region_id) if r.level == level)


async def _world(client: Any) -> dict[str, Any]:
    from domain.catalog import catalog

    cat = catalog()
    places = _places()
    kotas = sorted(r.id for r in cat.regions.values() if r.level == RegionLevel.KOTA)
    officers = {k: await staff(client, "OFFICER", region_code=cat.regions[k].code) for k in kotas}
    agency = sorted(cat.agencies.values(), key=lambda a: a.code)[0]
    viewers = {
        "signed out": None,
        "author": (await citizen(client))[0],
        "other author": (await citizen(client))[0],
        "partner": (await staff(client, "AGENCY_PARTNER", agency_code=agency.code))[0],
        "moderator": (await staff(client, "MODERATOR"))[0],
        "officer": officers[_ancestor(places[0].id, RegionLevel.KOTA)][0],
        "admin": (await staff(client, "ADMIN"))[0],
    }
    return {"places": places, "officers": officers, "viewers": viewers}


async def _play(client: Any, world: dict[str, Any], plays: list[tuple[bool, int, int, int]]) -> None:
    """Creates and moves in order, the clock moving forward hours to days between them."""
    from domain.catalog import catalog
    from tests.conftest import Clock

    codes = CATEGORIES
    authors = [world["viewers"]["author"], world["viewers"]["other author"]]
    moderator = world["viewers"]["moderator"]
    clock = Clock(START_AT)
    live: list[dict[str, Any]] = []  # id, status, author, kota
    for n, (create, a, b, hours) in enumerate(plays):
        clock.advance(hours=hours)
        if create or not live:
            place = world["places"][b % len(world["places"])]
            variables = {"input": {"clientRequestId": f"c{n}", "categoryId": category_id(codes[a % len(codes)]),
                                   "description": f"Laporan nomor {n} untuk dihitung",
                                   "location": {"lat": place.lat, "lng": place.lng}}}  # fmt: skip
            created = (await ok(client, CREATE_REPORT, variables, authors[b % 2]))["createReport"]
            kelurahan = catalog().region_by_code[created["kelurahan"]["code"]]
            live.append({"id": created["id"], "status": S.SUBMITTED, "author": authors[b % 2],
                         "kota": _ancestor(kelurahan.id, RegionLevel.KOTA)})  # fmt: skip
            continue
        r = live[a % len(live)]
        moves = MOVES.get(r["status"], [])
        if not moves:
            continue
        move = moves[b % len(moves)]
        officer = world["officers"][r["kota"]][0]
        originals = [x for x in live if x is not r and x["status"] not in (S.DUPLICATE, S.REJECTED)]
        if move == "verify":
            corrected = category_id(codes[hours % len(codes)]) if hours % 3 == 0 else None
            body = await gql(client, VERIFY, {"id": r["id"], "c": corrected}, moderator)
        elif move == "reject":
            body = await gql(client, REJECT, {"id": r["id"]}, moderator)
        elif move == "duplicate":
            if not originals:
                continue
            body = await gql(client, DUPLICATE, {"id": r["id"], "d": originals[hours % len(originals)]["id"]},
                             moderator)  # fmt: skip
        elif move == "confirm":
            body = await gql(client, CONFIRM, {"id": r["id"], "r": 1 + hours % 5}, r["author"])
        elif move == "reopen":
            body = await gql(client, REOPEN, {"id": r["id"]}, r["author"])
        else:
            body = await gql(client, START if move == "start" else RESOLVE, {"id": r["id"]}, officer)
        assert not body.get("errors"), (move, body)
        r["status"] = S(next(iter(body["data"].values()))["status"])


def _expected(rows: list[dict[str, Any]], spec: dict[str, Any], gql_filter: dict[str, Any],
              viewer: str, author_id: int | None) -> tuple[int, bool]:  # fmt: skip
    """COUNT(*) over the rows, as domain.visibility and the filter define it; a signed-in
    viewer's own REJECTED reports are counted as rows (capped), the rest exact."""
    from domain.catalog import catalog

    staff_roles = {"moderator", "officer", "admin"}

    def matches(r: dict[str, Any]) -> bool:
        if spec["status"] and S(r["status"]) not in spec["status"]:
            return False
        if "categoryIds" in gql_filter and str(r["category_id"]) not in gql_filter["categoryIds"]:
            return False
        if "agencyId" in gql_filter and str(r["agency_id"]) != gql_filter["agencyId"]:
            return False
        if "regionId" in gql_filter:
            level, region = spec["region"][0], int(gql_filter["regionId"])
            column = {RegionLevel.KELURAHAN: "kelurahan_id", RegionLevel.KECAMATAN: "kecamatan_id"}.get(level, "kota_id")
            wanted = {k.id for k in catalog().children[region]} if level == RegionLevel.PROVINSI else {region}
            if r[column] not in wanted:
                return False
        if "createdAfter" in gql_filter and r["created_at"] < datetime.fromisoformat(gql_filter["createdAfter"]):
            return False
        before = gql_filter.get("createdBefore")
        return before is None or r["created_at"] < datetime.fromisoformat(before)

    shown = [r for r in rows if matches(r)]
    if viewer in staff_roles:
        return len(shown), False
    own_rejected = sum(1 for r in shown if r["status"] == S.REJECTED and r["author_id"] == author_id)
    if own_rejected > CAP:
        return CAP, True
    return sum(1 for r in shown if r["status"] != S.REJECTED) + own_rejected, False


@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
@given(plays=ops, specs=st.lists(filters, min_size=1, max_size=4))
async def test_exact_counts_equal_the_rows_for_every_viewer(app, client, plays, specs):
    from domain.catalog import catalog
    from domain.tx import set_clock
    from models import Report
    from tests.conftest import wipe

    await wipe()
    world = await _world(client)
    try:
        await _play(client, world, plays)
    finally:
        set_clock(None)
    rows = await Report.all().values()
    cat = catalog()
    categories = [int(category_id(code)) for code in CATEGORIES]
    agencies = sorted({cat.categories[c].agency_id for c in categories} | {min(cat.agencies)})
    tokens = world["viewers"]
    ids = {name: (await ok(client, "{ me { id } }", token=t))["me"]["id"] if t else None
           for name, t in tokens.items()}  # fmt: skip
    with tuned(app, total_count_cap=CAP):
        for spec in specs:
            f: dict[str, Any] = {}
            if spec["status"] is not None:
                f["status"] = [s.value for s in spec["status"]]
            if spec["categories"] is not None:
                f["categoryIds"] = [str(categories[i % len(categories)]) for i in spec["categories"]]
            if spec["region"] is not None:
                level, i = spec["region"]
                place = world["places"][i]
                f["regionId"] = str(_ancestor(place.id, level))
            if spec["agency"] is not None:
                f["agencyId"] = str(agencies[spec["agency"] % len(agencies)])
            if spec["after"] is not None:
                f["createdAfter"] = _midnight(spec["after"], spec["utc"])
            if spec["before"] is not None:
                f["createdBefore"] = _midnight(spec["before"], not spec["utc"])
            for name, token in tokens.items():
                page = (await ok(client, FEED, {"f": f, "n": 1}, token))["reports"]
                author = int(ids[name]) if ids[name] else None
                want = _expected(rows, spec, f, name, author)
                assert (page["totalCount"], page["totalCountCapped"]) == want, (name, f)


async def test_filters_the_rollup_cannot_express_are_counted_as_rows_up_to_the_cap(app, client):
    token, uid = await citizen(client)
    moderator, _ = await staff(client, "MODERATOR")
    for i in range(4):
        await report(client, token, description=f"Trotoar rusak nomor {i} dekat halte")
    today = datetime.now(JAKARTA).date()
    midnight = datetime.combine(today, time(), JAKARTA)
    with tuned(app, total_count_cap=3):
        for f in (
            {},
            {"status": ["SUBMITTED"]},
            {"createdAfter": midnight.isoformat()},
            {"createdBefore": (midnight + timedelta(days=1)).astimezone(UTC).isoformat()},
            {"categoryIds": [category_id("sampah")], "regionId": None},
            {"search": "   "},  # no word: nothing only rows could tell
        ):
            page = (await ok(client, FEED, {"f": f}))["reports"]
            assert (page["totalCount"], page["totalCountCapped"]) == (4, False), f
        for f in (
            {"search": "trotoar"},
            {"bbox": {"south": -6.3, "west": 106.7, "north": -6.1, "east": 106.9}},
            {"near": {**MONAS, "radiusMeters": 2000}},
            {"authorId": uid},
            {"overdue": False},
            {"createdAfter": (midnight - timedelta(hours=1)).isoformat()},  # not a Jakarta midnight
            {"createdBefore": (midnight + timedelta(days=1, minutes=1)).isoformat()},
            # (An instant without its offset is a BAD_USER_INPUT: test_bad_inputs.)
            # An instant minutes ago in Jakarta's zone: its text ("...T00:19+07:00") is hours
            # after the rows' UTC text, which SQLite once compared instead of instants.
            {"createdAfter": (datetime.now(JAKARTA) - timedelta(minutes=5)).isoformat()},
        ):
            page = (await ok(client, FEED, {"f": f}, moderator))["reports"]
            assert (page["totalCount"], page["totalCountCapped"]) == (3, True), f


async def test_a_count_is_one_statement_on_the_rollup(app, client, sql_counter):
    from tests.conftest import hub_idle

    token, _ = await citizen(client)
    moderator, _ = await staff(client, "MODERATOR")
    for i in range(3):
        created = await report(client, token, description=f"Lampu jalan mati nomor {i} sejak kemarin")
    await ok(client, REJECT, {"id": created["id"]}, moderator)
    start = datetime.combine(datetime.now(JAKARTA).date() - timedelta(days=400), time(), JAKARTA)
    f = {"status": ["SUBMITTED", "REJECTED"], "regionId": None, "createdAfter": start.isoformat()}
    for viewer, want in ((None, 2), (token, 3), (moderator, 3)):
        await hub_idle(app)
        sql_counter.statements.clear()
        page = (await ok(client, "query($f: ReportFilter) { reports(filter: $f) { totalCount } }", {"f": f},
                         viewer))["reports"]  # fmt: skip
        assert page["totalCount"] == want, sql_counter.statements
        counting = [s for s in sql_counter.statements if "status_span" in s]
        # One statement, whatever the period (13 spans for a year): for a signed-in citizen it
        # also counts their own rejected reports, in the same statement.
        assert len(counting) == 1, sql_counter.statements
        assert not any("COUNT(" in s and "status_span" not in s for s in sql_counter.statements)
        assert ("author_id" in counting[0]) == (viewer == token)


async def test_own_rejected_reports_beyond_the_cap_say_capped(app, client):
    """A signed-in citizen's own REJECTED reports are counted as rows (the rollup does not know
    authors): beyond the cap the total is "at least", as any capped count."""
    token, _ = await citizen(client)
    moderator, _ = await staff(client, "MODERATOR")
    for i in range(3):
        created = await report(client, token, description=f"Iklan sedot WC nomor {i} murah")
        await ok(client, REJECT, {"id": created["id"]}, moderator)
    await report(client, token, description="Jalan berlubang di depan pasar")
    with tuned(app, total_count_cap=2):
        for viewer, want in ((None, (1, False)), (token, (2, True)), (moderator, (4, False))):
            page = (await ok(client, FEED, {"f": {}}, viewer))["reports"]
            assert (page["totalCount"], page["totalCountCapped"]) == want
        page = (await ok(client, FEED, {"f": {"status": ["SUBMITTED"]}}, token))["reports"]
        assert (page["totalCount"], page["totalCountCapped"]) == (1, False)
    with tuned(app, total_count_cap=3):
        page = (await ok(client, FEED, {"f": {}}, token))["reports"]
        assert (page["totalCount"], page["totalCountCapped"]) == (4, False)
