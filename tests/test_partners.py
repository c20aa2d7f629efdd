"""Partner access: CSV exports, API keys, and Open311 GeoReport v2 validated against the
schemas of open311/schema-validation (read from shared/, never committed)."""

from __future__ import annotations

import csv
import io
import json
import os
from datetime import timedelta
from pathlib import Path

import pytest

from tests.conftest import IN_CI, SHARED
from tests.helpers import MONAS, citizen, error, ok, report, staff

SCHEMAS = Path(os.environ.get("OPEN311_SCHEMAS", SHARED / "data/open311/georeport-v2"))
ISSUE = """mutation($name: String!, $user: ID) { issueApiKey(name: $name, userId: $user) {
  key apiKey { id name prefix user { id } revokedAt } } }"""
REVOKE = "mutation($id: ID!) { revokeApiKey(id: $id) { id revokedAt } }"
VERIFY = "mutation($id: ID!) { verifyReport(id: $id) { id } }"
REJECT = 'mutation($id: ID!) { rejectReport(id: $id, reason: "spam") { id } }'


def validator(name: str):
    """A validator for one GeoReport v2 schema, with $refs resolved in its folder."""
    if not SCHEMAS.exists():
        if IN_CI:
            pytest.fail(f"Open311 schemas missing: {SCHEMAS}")
        pytest.skip("Open311 schemas not available")
    from jsonschema import Draft7Validator, FormatChecker
    from referencing import Registry, Resource

    resources = {
        p.name: Resource.from_contents(json.loads(p.read_text()), default_specification=_draft7())
        for p in SCHEMAS.glob("*.json")
        if p.name != "swagger.json"
    }
    registry = Registry().with_resources(resources.items())
    return Draft7Validator(resources[name].contents, registry=registry, format_checker=FormatChecker())


def _draft7():
    from referencing.jsonschema import DRAFT7

    return DRAFT7


def valid(name: str, body: object) -> None:
    errors = list(validator(name).iter_errors(body))
    assert not errors, [e.message for e in errors]
    items = body if isinstance(body, list) else [body]
    assert all(isinstance(i, dict) for i in items)  # the schemas accept non-objects vacuously


async def test_api_keys_admin_only_shown_once_and_revocable(client):
    admin, _ = await staff(client, "ADMIN")
    partner, partner_id = await staff(client, "AGENCY_PARTNER", agency_code="DLH")
    citizen_token, _ = await citizen(client)
    assert (await error(client, ISSUE, {"name": "x"}))["extensions"]["code"] == "UNAUTHENTICATED"
    assert (await error(client, ISSUE, {"name": "x"}, partner))["extensions"]["code"] == "FORBIDDEN"
    assert (await error(client, ISSUE, {"name": "x"}, citizen_token))["extensions"]["code"] == "FORBIDDEN"
    issued = (await ok(client, ISSUE, {"name": "Aplikasi Mitra", "user": partner_id}, admin))["issueApiKey"]
    assert (
        issued["key"].startswith(issued["apiKey"]["prefix"]) and issued["apiKey"]["user"]["id"] == partner_id
    )
    listed = (await ok(client, "{ apiKeys { id name prefix } }", token=admin))["apiKeys"]
    assert listed == [
        {"id": issued["apiKey"]["id"], "name": "Aplikasi Mitra", "prefix": issued["apiKey"]["prefix"]}
    ]
    assert issued["key"] not in json.dumps(listed)
    from models import ApiKey

    assert issued["key"] not in json.dumps(await ApiKey.all().values(), default=str)  # only a hash is kept
    revoked = (await ok(client, REVOKE, {"id": issued["apiKey"]["id"]}, admin))["revokeApiKey"]
    assert revoked["revokedAt"] is not None
    err = await error(client, ISSUE, {"name": "x", "user": "99999"}, admin)
    assert err["extensions"] == {"code": "BAD_USER_INPUT", "field": "userId"}


async def test_csv_export_for_partners_without_contact_data(client):
    reporter, _ = await citizen(client)
    partner, _ = await staff(client, "AGENCY_PARTNER", agency_code="DLH")
    admin, _ = await staff(client, "ADMIN")
    moderator, _ = await staff(client, "MODERATOR")
    made = [await report(client, reporter, address="Jl. Merdeka, RT 01") for _ in range(3)]
    made.append(await report(client, reporter, category="banjir", location={"lat": -6.2443, "lng": 106.8005}))
    await ok(client, VERIFY, {"id": made[0]["id"]}, moderator)

    assert (await client.get("/exports/reports.csv")).status_code == 401
    resp = await client.get("/exports/reports.csv", headers={"Authorization": f"Bearer {reporter}"})
    assert resp.status_code == 403 and resp.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    resp = await client.get("/exports/reports.csv", headers={"Authorization": f"Bearer {partner}"})
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(resp.text)))
    assert sorted(r["id"] for r in rows) == sorted(m["id"] for m in made)
    assert "reporter" not in resp.text and "example.id" not in resp.text
    assert not {"author", "email", "phone", "author_id"} & set(rows[0])
    first = next(r for r in rows if r["id"] == made[0]["id"])
    assert first["status"] == "VERIFIED" and first["kelurahan"] == made[0]["kelurahan"]["name"]
    assert first["address"] == "Jl. Merdeka, RT 01" and first["due_at"]

    from domain.catalog import catalog

    auth = {"Authorization": f"Bearer {admin}"}
    banjir = str(next(c.id for c in catalog().categories.values() if c.code == "banjir"))
    resp = await client.get(f"/exports/reports.csv?categoryId={banjir}", headers=auth)
    assert [r["id"] for r in csv.DictReader(io.StringIO(resp.text))] == [made[3]["id"]]
    resp = await client.get("/exports/reports.csv?status=VERIFIED,SUBMITTED&status=CLOSED", headers=auth)
    assert len(list(csv.DictReader(io.StringIO(resp.text)))) == 4
    resp = await client.get("/exports/reports.csv?status=VERIFIED", headers=auth)
    assert len(list(csv.DictReader(io.StringIO(resp.text)))) == 1
    gambir = made[0]["kelurahan"]["code"]
    resp = await client.get(
        f"/exports/reports.csv?regionId={catalog().region_by_code[gambir].id}", headers=auth
    )
    assert len(list(csv.DictReader(io.StringIO(resp.text)))) == 3
    resp = await client.get("/exports/reports.csv?from=2020-01-01&to=2020-01-31", headers=auth)
    assert list(csv.DictReader(io.StringIO(resp.text))) == []
    # One date alone: from it to today, or the 30 days up to it (it was ignored before).
    from domain.rollups import jakarta_day
    from domain.tx import now

    today = jakarta_day(now())
    for one, count in ((f"from={today}", 4), (f"to={today - timedelta(days=1)}", 0), (f"to={today}", 4)):
        resp = await client.get(f"/exports/reports.csv?{one}", headers=auth)
        assert len(list(csv.DictReader(io.StringIO(resp.text)))) == count, one
    resp = await client.get("/exports/reports.csv?from=1990-01-01", headers=auth)  # to today: over 10 years
    assert resp.status_code == 400 and resp.json()["errors"][0]["extensions"]["field"] == "period"
    for bad, field in (("from=yesterday", "from"), ("status=DONE", "status"), ("regionId=x", "regionId")):
        resp = await client.get(f"/exports/reports.csv?{bad}", headers=auth)
        assert resp.status_code == 400 and resp.json()["errors"][0]["extensions"]["field"] == field


async def test_csv_export_pages_in_creation_order_from_the_periods_start(client, monkeypatch):
    """The export reads BATCH rows at a time after the last one's (created_at, id): by id from
    0, a period late in the history walked the primary key past every older report first
    (5.1 s for a first batch on two years). Across batches no row is lost or repeated, in
    creation order, the older reports outside the period left out."""
    import rest.exports
    from domain.tx import now
    from models.sql import execute

    reporter, _ = await citizen(client)
    admin, _ = await staff(client, "ADMIN")
    made = [await report(client, reporter, description=f"Jalan berlubang nomor {i}") for i in range(7)]
    old = now() - timedelta(days=40)  # before the default 30 days: not exported
    await execute("UPDATE report SET created_at = $1, updated_at = $1 WHERE id = $2", old, int(made[0]["id"]))
    monkeypatch.setattr(rest.exports, "BATCH", 2)
    resp = await client.get("/exports/reports.csv", headers={"Authorization": f"Bearer {admin}"})
    assert resp.status_code == 200, resp.text
    assert [r["id"] for r in csv.DictReader(io.StringIO(resp.text))] == [m["id"] for m in made[1:]]


async def test_open311_reads_validate_against_georeport_v2(client):
    reporter, _ = await citizen(client)
    moderator, _ = await staff(client, "MODERATOR")
    made = [await report(client, reporter) for _ in range(3)]
    await ok(client, VERIFY, {"id": made[0]["id"]}, moderator)
    await ok(client, REJECT, {"id": made[2]["id"]}, moderator)

    discovery = (await client.get("/open311/v2/discovery.json")).json()
    assert discovery["endpoints"][0]["url"].endswith("/open311/v2")
    services = (await client.get("/open311/v2/services.json")).json()
    valid("services.json", services)
    assert len(services) == 18 and {"service_code": "sampah"}.items() <= services[0].items()
    for s in services:
        definition = await client.get(f"/open311/v2/services/{s['service_code']}.json")
        valid("service-definition.json", definition.json())
    resp = await client.get("/open311/v2/services/nope.json")
    assert resp.status_code == 404 and resp.json()[0]["code"] == 404

    listed = (await client.get("/open311/v2/requests.json")).json()
    valid("requests.json", listed)
    assert sorted(r["service_request_id"] for r in listed) == sorted([made[0]["id"], made[1]["id"]])
    one = (await client.get(f"/open311/v2/requests/{made[0]['id']}.json")).json()
    valid("request.json", one[0])
    assert one[0]["status"] == "open" and one[0]["agency_responsible"] == "Dinas Lingkungan Hidup"
    assert one[0]["expected_datetime"] is not None and "Gambir" in one[0]["address"]
    assert (await client.get(f"/open311/v2/requests/{made[2]['id']}.json")).status_code == 404  # rejected
    assert (await client.get("/open311/v2/requests/abc.json")).status_code == 404
    only = (await client.get(f"/open311/v2/requests.json?service_request_id={made[1]['id']}")).json()
    assert [r["service_request_id"] for r in only] == [made[1]["id"]]
    assert (await client.get("/open311/v2/requests.json?status=closed")).json() == []
    assert len((await client.get("/open311/v2/requests.json?status=open&service_code=sampah")).json()) == 2
    assert (await client.get("/open311/v2/requests.json?service_code=banjir")).json() == []
    old = await client.get(
        "/open311/v2/requests.json?start_date=2020-01-01T00:00:00Z&end_date=2020-02-01T00:00:00Z"
    )
    assert old.json() == []
    bad = await client.get("/open311/v2/requests.json?start_date=kemarin")
    assert bad.status_code == 400 and bad.json()[0]["code"] == 400


async def test_open311_post_needs_a_live_api_key(client):
    admin, _ = await staff(client, "ADMIN")
    partner, partner_id = await staff(client, "AGENCY_PARTNER")
    issued = (await ok(client, ISSUE, {"name": "FixMyStreet", "user": partner_id}, admin))["issueApiKey"]
    form = {
        "service_code": "jalan-rusak",
        "lat": str(MONAS["lat"]),
        "long": str(MONAS["lng"]),
        "description": "Lubang besar di jalan depan halte",
        "email": "rahasia@example.id",
    }
    resp = await client.post("/open311/v2/requests.json", data=form)
    assert resp.status_code == 403 and resp.json()[0]["code"] == 403
    resp = await client.post("/open311/v2/requests.json", data={**form, "api_key": issued["key"]})
    assert resp.status_code == 200, resp.text
    created = resp.json()[0]
    assert created["account_id"] == partner_id
    got = (await client.get(f"/open311/v2/requests/{created['service_request_id']}.json")).json()[0]
    valid("request.json", got)
    assert got["service_code"] == "jalan-rusak" and got["agency_responsible"] == "Dinas Bina Marga"
    assert "rahasia" not in json.dumps(got)
    resp = await client.post("/open311/v2/requests.json", json={**form, "api_key": issued["key"], "lat": "x"})
    assert resp.status_code == 400 and "lat" in resp.json()[0]["description"]
    resp = await client.post(
        "/open311/v2/requests.json", data={**form, "api_key": issued["key"], "service_code": "unknown"}
    )
    assert resp.status_code == 404
    resp = await client.post(
        "/open311/v2/requests.json", data={**form, "api_key": issued["key"], "lat": "-5.0", "long": "107.5"}
    )
    assert resp.status_code == 400 and "location" in resp.json()[0]["description"]
    await ok(client, REVOKE, {"id": issued["apiKey"]["id"]}, admin)
    resp = await client.post("/open311/v2/requests.json", data={**form, "api_key": issued["key"]})
    assert resp.status_code == 403
    assert partner


def test_the_schema_check_itself_rejects_bad_documents():
    assert list(validator("request.json").iter_errors({"status": "pending"}))  # required fields, enum
    assert list(validator("requests.json").iter_errors([{"service_request_id": 1}]))  # $ref resolved
    with pytest.raises(AssertionError):
        valid("services.json", ["not an object"])
