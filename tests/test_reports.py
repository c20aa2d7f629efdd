"""Posting reports, routing them, finding them, and the errors clients can cause."""

from __future__ import annotations

import asyncio

from tests.conftest import official_geojson
from tests.helpers import CREATE_REPORT, MONAS, category_id, citizen, error, ok, plan_of, report, staff

LOCATE = (
    "query($lat: Float!, $lng: Float!) { locate(lat: $lat, lng: $lng) { name level code parent { name } } }"
)

LANDMARKS = {
    "Monas": ((-6.1754, 106.8272), "Gambir"),
    "Istiqlal": ((-6.1702, 106.8314), "Pasar Baru"),
    "Gelora Bung Karno": ((-6.2183, 106.8018), "Gelora"),
    "Kota Tua (Fatahillah)": ((-6.1352, 106.8133), "Pinangsia"),
    "Blok M": ((-6.2443, 106.8005), "Melawai"),
    "Pulau Pramuka": ((-5.7457, 106.6135), "Pulau Panggang"),
}


async def test_locate_landmarks_on_official_polygons(client):
    official_geojson()
    for name, ((lat, lng), kelurahan) in LANDMARKS.items():
        found = (await ok(client, LOCATE, {"lat": lat, "lng": lng}))["locate"]
        assert found is not None and found["name"] == kelurahan, name
        assert found["level"] == "KELURAHAN"
    airport = (await ok(client, LOCATE, {"lat": -6.1256, "lng": 106.6559}))["locate"]
    assert airport is None
    err = await error(client, LOCATE, {"lat": 95.0, "lng": 106.8})
    assert err["extensions"] == {"code": "BAD_USER_INPUT", "field": "location"}


async def test_report_at_monas_lands_in_gambir_with_the_category_dinas(client):
    official_geojson()
    token, uid = await citizen(client)
    r = await report(client, token, category="sampah", location=MONAS)
    assert r["status"] == "SUBMITTED"
    assert r["kelurahan"]["name"] == "Gambir"
    assert r["kelurahan"]["parent"]["name"] == "Gambir"  # kecamatan Gambir
    assert "Jakarta Pusat" in r["kelurahan"]["parent"]["parent"]["name"]
    assert r["agency"]["code"] == "DLH" == r["category"]["agency"]["code"]
    assert r["author"]["id"] == uid
    assert r["timeline"] == [{"from": None, "to": "SUBMITTED", "actor": {"id": uid}}]
    me = (await ok(client, "{ me { reportsCount } }", token=token))["me"]
    assert me["reportsCount"] == 1


async def test_create_report_is_idempotent_on_client_request_id(client):
    token, _ = await citizen(client)
    payload = {
        "clientRequestId": "phone-42",
        "categoryId": category_id("banjir"),
        "description": "Genangan air setinggi lutut di depan sekolah",
        "location": MONAS,
    }
    first = (await ok(client, CREATE_REPORT, {"input": payload}, token))["createReport"]
    again = (await ok(client, CREATE_REPORT, {"input": payload}, token))["createReport"]
    assert first["id"] == again["id"]
    racing = await asyncio.gather(
        *[
            ok(client, CREATE_REPORT, {"input": {**payload, "clientRequestId": "phone-43"}}, token)
            for _ in range(4)
        ]
    )
    assert len({r["createReport"]["id"] for r in racing}) == 1
    # The retries moved no rollup: what is stored equals a computation from the rows.
    from domain import rollups

    assert await rollups.snapshot() == await rollups.recompute()
    total = await ok(client, "{ reports { totalCount } }")
    assert total["reports"]["totalCount"] == 2
    assert (await ok(client, "{ me { reportsCount } }", token=token))["me"]["reportsCount"] == 2
    # Another author may use the same key: keys are per author.
    other, _ = await citizen(client)
    theirs = (await ok(client, CREATE_REPORT, {"input": payload}, other))["createReport"]
    assert theirs["id"] != first["id"]


async def test_create_report_input_errors(client):
    token, _ = await citizen(client)
    base = {
        "clientRequestId": "x",
        "categoryId": category_id("sampah"),
        "description": "Sampah menumpuk di pinggir jalan",
        "location": MONAS,
    }
    cases = [
        ({"location": {"lat": -91, "lng": 106.8}}, "location"),
        ({"location": {"lat": -6.2, "lng": 181}}, "location"),
        ({"location": {"lat": -6.0, "lng": 107.5}}, "location"),  # in the sea, far outside
        ({"categoryId": "99999"}, "categoryId"),
        ({"categoryId": "sampah"}, "categoryId"),
        ({"description": "pendek"}, "description"),
        ({"description": "x" * 2001}, "description"),
        ({"address": "x" * 301}, "address"),
        ({"clientRequestId": "k" * 65}, "clientRequestId"),
        ({"mediaIds": ["1", "2", "3", "4", "5", "6"]}, "mediaIds"),
        ({"mediaIds": ["12345"]}, "mediaIds"),
    ]
    for override, field in cases:
        payload = {**base, "clientRequestId": f"bad-{field}-{len(str(override))}", **override}
        err = await error(client, CREATE_REPORT, {"input": payload}, token)
        assert err["extensions"] == {"code": "BAD_USER_INPUT", "field": field}, override
        assert "Traceback" not in err["message"] and "SELECT" not in err["message"]
    err = await error(client, CREATE_REPORT, {"input": base})
    assert err["extensions"]["code"] == "UNAUTHENTICATED"
    assert (await ok(client, "{ reports { totalCount } }"))["reports"]["totalCount"] == 0


async def test_query_argument_errors(client):
    err = await error(client, "{ reports(first: 101) { totalCount } }")
    assert err["extensions"] == {"code": "BAD_USER_INPUT", "field": "first"}
    err = await error(client, "{ reports(first: -1) { totalCount } }")
    assert err["extensions"] == {"code": "BAD_USER_INPUT", "field": "first"}
    err = await error(client, '{ reports(after: "not-a-cursor") { totalCount } }')
    assert err["extensions"] == {"code": "BAD_USER_INPUT", "field": "after"}
    # A well-formed cursor of another order (a vote count where a time is due): refused, not a 500.
    from domain.pagination import encode_cursor

    for order, cursor in (("NEWEST", encode_cursor(7, 1)), ("MOST_VOTED", encode_cursor("2026-01-01", 1))):
        err = await error(client, f'{{ reports(orderBy: {order}, after: "{cursor}") {{ totalCount }} }}')
        assert err["extensions"] == {"code": "BAD_USER_INPUT", "field": "after"}
    err = await error(client, '{ report(id: "abc") { id } }')
    assert err["extensions"] == {"code": "BAD_USER_INPUT", "field": "id"}
    err = await error(
        client, "{ reports(filter: {bbox: {south: 1, west: 0, north: 0, east: 1}}) { totalCount } }"
    )
    assert err["extensions"] == {"code": "BAD_USER_INPUT", "field": "filter.bbox"}
    err = await error(
        client, "{ reports(filter: {near: {lat: -6.2, lng: 106.8, radiusMeters: 0}}) { totalCount } }"
    )
    assert err["extensions"]["field"] == "filter.near.radiusMeters"
    err = await error(client, '{ reports(filter: {regionId: "424242"}) { totalCount } }')
    assert err["extensions"] == {"code": "BAD_USER_INPUT", "field": "filter.regionId"}
    err = await error(client, "{ reports { nope } }")
    assert err["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert (await ok(client, '{ report(id: "777") { id } }'))["report"] is None


POINTS = {
    "gambir": {"lat": -6.1754, "lng": 106.8272},  # Jakarta Pusat
    "blok_m": {"lat": -6.2443, "lng": 106.8005},  # Jakarta Selatan
    "kota_tua": {"lat": -6.1352, "lng": 106.8133},  # Jakarta Barat
}

FEED = """query($filter: ReportFilter, $order: ReportOrder, $first: Int, $after: String) {
  reports(filter: $filter, orderBy: $order, first: $first, after: $after) {
    totalCount pageInfo { hasNextPage endCursor }
    edges { cursor node { id voteCount description kelurahan { id code } category { code } } }
  } }"""


async def _ids(client, token=None, **variables):
    data = (await ok(client, FEED, variables, token))["reports"]
    return [e["node"]["id"] for e in data["edges"]], data


async def test_filters_orders_and_pagination(client):
    from domain.catalog import catalog

    a, a_id = await citizen(client)
    b, _ = await citizen(client)
    made = {}
    for name, point in POINTS.items():
        made[name] = await report(
            client,
            a,
            category="sampah",
            location=point,
            description=f"Tumpukan sampah dekat {name} belum diangkut",
        )
    made["banjir"] = await report(
        client,
        b,
        category="banjir",
        location=POINTS["gambir"],
        address="Jl. Medan Merdeka Barat",
        anonymous=True,
        description="Genangan air tinggi setelah hujan deras",
    )
    await ok(
        client, "mutation($id: ID!) { vote(reportId: $id) { voteCount } }", {"id": made["blok_m"]["id"]}, b
    )

    newest, page = await _ids(client)
    assert newest == [made[k]["id"] for k in ("banjir", "kota_tua", "blok_m", "gambir")]
    assert page["totalCount"] == 4
    oldest, _ = await _ids(client, order="OLDEST")
    assert oldest == list(reversed(newest))
    voted, _ = await _ids(client, order="MOST_VOTED")
    assert voted[0] == made["blok_m"]["id"]
    updated, _ = await _ids(client, order="RECENTLY_UPDATED")
    assert set(updated) == set(newest)

    # Pages of one, in every order: no gap, no repeat.
    for order in ("NEWEST", "OLDEST", "MOST_VOTED", "RECENTLY_UPDATED"):
        seen, after = [], None
        while True:
            ids, page = await _ids(client, order=order, first=1, after=after)
            seen += ids
            if not page["pageInfo"]["hasNextPage"]:
                break
            after = page["pageInfo"]["endCursor"]
        assert sorted(seen) == sorted(newest) and len(seen) == 4, order

    cat = catalog()
    gambir_kel = made["gambir"]["kelurahan"]["code"]
    kelurahan = cat.region_by_code[gambir_kel]
    kecamatan = cat.parent(kelurahan)
    kota = cat.parent(kecamatan)
    province = cat.parent(kota)
    for region, expected in ((kelurahan, 2), (kecamatan, 2), (kota, 2), (province, 4)):
        ids, _ = await _ids(client, filter={"regionId": str(region.id)})
        assert len(ids) == expected, region.name
    ids, _ = await _ids(client, filter={"categoryIds": [category_id("banjir")]})
    assert ids == [made["banjir"]["id"]]
    ids, _ = await _ids(client, filter={"search": "merdeka"})
    assert ids == [made["banjir"]["id"]]
    ids, _ = await _ids(client, filter={"search": "TUMPUKAN blok_m"})
    assert ids == [made["blok_m"]["id"]]
    ids, _ = await _ids(
        client, filter={"bbox": {"south": -6.26, "west": 106.79, "north": -6.23, "east": 106.81}}
    )
    assert ids == [made["blok_m"]["id"]]
    ids, _ = await _ids(client, filter={"near": {**POINTS["kota_tua"], "radiusMeters": 500}})
    assert ids == [made["kota_tua"]["id"]]
    ids, _ = await _ids(client, filter={"near": {**POINTS["gambir"], "radiusMeters": 50}})
    assert set(ids) == {made["gambir"]["id"], made["banjir"]["id"]}
    ids, _ = await _ids(
        client,
        filter={
            "status": ["SUBMITTED"],
            "agencyId": made["banjir"]["agency"]
            and str(next(x.id for x in cat.agencies.values() if x.code == "SDA")),
        },
    )
    assert ids == [made["banjir"]["id"]]
    ids, _ = await _ids(client, filter={"status": ["CLOSED"]})
    assert ids == []
    ids, _ = await _ids(client, filter={"authorId": a_id})
    assert len(ids) == 3
    ids, _ = await _ids(client, filter={"overdue": False})
    assert len(ids) == 4


async def test_anonymous_author_hidden_from_public_only(client):
    token, uid = await citizen(client)
    other, _ = await citizen(client)
    moderator, _ = await staff(client, "MODERATOR")
    r = await report(client, token, anonymous=True)
    q = "query($id: ID!) { report(id: $id) { anonymous author { id } } }"
    assert (await ok(client, q, {"id": r["id"]}))["report"]["author"] is None
    assert (await ok(client, q, {"id": r["id"]}, other))["report"]["author"] is None
    assert (await ok(client, q, {"id": r["id"]}, token))["report"]["author"]["id"] == uid
    assert (await ok(client, q, {"id": r["id"]}, moderator))["report"]["author"]["id"] == uid
    # Filtering by author must not unmask an anonymous report either.
    by_author = "query($a: ID!) { reports(filter: {authorId: $a}) { totalCount } }"
    assert (await ok(client, by_author, {"a": uid}, other))["reports"]["totalCount"] == 0
    assert (await ok(client, by_author, {"a": uid}, token))["reports"]["totalCount"] == 1
    assert (await ok(client, by_author, {"a": uid}, moderator))["reports"]["totalCount"] == 1


async def test_search_filter_is_indexed_on_postgresql(app, client):
    """The `search` filter can use the full-text index of migration 0011 on PostgreSQL (which
    dropped 0002's trigram indexes); SQLite has neither (both migrations are no-ops there)."""
    from domain.report import ReportQuery, conditions
    from domain.tx import now
    from models.sql import fetch, is_postgres

    args: list = []
    where = " AND ".join(conditions(None, ReportQuery(search="banjir"), now(), args))
    if is_postgres():
        plan = await plan_of(f"SELECT id FROM report WHERE {where}", *args)
        assert "idx_report_words" in plan and "trgm" not in plan, plan
    else:
        rows = await fetch("SELECT name FROM sqlite_master WHERE type = 'index' AND name LIKE '%trgm%'")
        assert rows == []


async def test_the_full_text_migration_goes_back_to_the_trigram_indexes(app, client):
    """Migration 0011 both ways: backward restores 0002's trigram indexes (where pg_trgm can be
    created) and drops the stored words and their index; forward again computes the words of
    the reports already stored. 0015 (the vocabulary of those words, kept by triggers on
    them) goes back before and forward after, as the migrator runs them, and refills the
    vocabulary. SQLite: all no-ops."""
    import importlib
    from types import SimpleNamespace

    from tortoise.transactions import in_transaction

    from models.sql import fetch, is_postgres

    token, _ = await citizen(client)
    made = await report(client, token, description="Pohon tumbang di Jl.Kwitang")
    words = importlib.import_module("models.migrations.0011_search_words")
    vocabulary = importlib.import_module("models.migrations.0015_search_vocabulary")
    listed = (
        "SELECT indexname AS name FROM pg_indexes WHERE tablename = 'report' AND indexname LIKE 'idx_report_%'"
        if is_postgres()
        else "SELECT name FROM sqlite_master WHERE type = 'index' AND (name LIKE '%trgm%' OR name LIKE '%words%')"
    )
    search = '{ reports(filter: {search: "kwitang"}) { edges { node { id } } } }'

    async def indexes() -> set[str]:
        return {r["name"] for r in await fetch(listed)} & {
            "idx_report_words",
            "idx_report_description_trgm",
            "idx_report_address_trgm",
        }

    assert await indexes() == ({"idx_report_words"} if is_postgres() else set())
    async with in_transaction() as conn:  # as the migrator runs it: in a transaction
        await vocabulary.backward(None, SimpleNamespace(client=conn))
        await words.backward(None, SimpleNamespace(client=conn))
    try:
        expected = {"idx_report_description_trgm", "idx_report_address_trgm"} if is_postgres() else set()
        assert await indexes() == expected
    finally:
        async with in_transaction() as conn:
            await words.forward(None, SimpleNamespace(client=conn))
            await vocabulary.forward(None, SimpleNamespace(client=conn))
    assert await indexes() == ({"idx_report_words"} if is_postgres() else set())
    if is_postgres():
        assert await fetch("SELECT word FROM search_word WHERE word IN ('kwitang', 'tumbang') ORDER BY 1") == [
            {"word": "kwitang"},
            {"word": "tumbang"},
        ]
    assert [e["node"]["id"] for e in (await ok(client, search))["reports"]["edges"]] == [made["id"]]
