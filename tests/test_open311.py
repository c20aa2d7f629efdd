"""Open311 GeoReport v2 errors as the spec lists them (400 a missing or malformed required
field, 403 a bad api_key, 404 an unknown service code or request id), its date window (a
start_date alone runs to now; an empty range is an empty list), and fuzzing of every endpoint:
whatever a client sends, never a 5xx."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers import MONAS, citizen, ok, report, staff

ISSUE = """mutation($name: String!, $user: ID) { issueApiKey(name: $name, userId: $user) { key } }"""
BASE = "/open311/v2"


async def _key(client) -> str:
    admin, _ = await staff(client, "ADMIN")
    partner, partner_id = await staff(client, "AGENCY_PARTNER")
    assert partner
    return (await ok(client, ISSUE, {"name": "FixMyStreet", "user": partner_id}, admin))["issueApiKey"]["key"]


def _spec_error(resp, status: int) -> str:
    """The spec's error shape: an array of {code, description}, with the HTTP status."""
    assert resp.status_code == status, (resp.status_code, resp.text)
    body = resp.json()
    assert isinstance(body, list) and len(body) == 1 and body[0]["code"] == status, body
    assert isinstance(body[0]["description"], str) and body[0]["description"]
    return body[0]["description"]


async def _post_json(client, url: str, body: object):
    """json.dumps escapes lone surrogates (httpx's encoder refuses them) and writes NaN as is."""
    return await client.post(url, content=json.dumps(body), headers={"content-type": "application/json"})


FORM = {
    "service_code": "jalan-rusak",
    "lat": str(MONAS["lat"]),
    "long": str(MONAS["lng"]),
    "description": "Lubang besar di jalan depan halte",
}


async def test_post_errors_follow_the_spec(client):
    key = await _key(client)
    url = f"{BASE}/requests.json"
    # 403: no key, a wrong key, a key that is not a string (JSON number, list, object, null)
    _spec_error(await client.post(url, data=FORM), 403)
    _spec_error(await client.post(url, data={**FORM, "api_key": "wk_nope"}), 403)
    for bad in (123, ["wk_x"], {"k": key}, None, True, "wk_\ud800"):
        _spec_error(await _post_json(client, url, {**FORM, "api_key": bad}), 403)
    _spec_error(await client.post(url, content=json.dumps([FORM]), headers={"content-type": "application/json"}), 403)
    # 400: service_code missing or not text
    no_code = {k: v for k, v in FORM.items() if k != "service_code"}
    assert "service_code" in _spec_error(await client.post(url, data={**no_code, "api_key": key}), 400)
    assert "service_code" in _spec_error(await client.post(url, data={**FORM, "service_code": "", "api_key": key}), 400)
    for bad in ({"a": 1}, ["jalan-rusak"], True):
        assert "service_code" in _spec_error(await _post_json(client, url, {**FORM, "service_code": bad, "api_key": key}), 400)
    # 404: a service code that is no service
    _spec_error(await client.post(url, data={**FORM, "service_code": "unknown", "api_key": key}), 404)
    # 400: no location, or a malformed one
    no_point = {k: v for k, v in FORM.items() if k not in ("lat", "long")}
    assert "lat" in _spec_error(await client.post(url, data={**no_point, "api_key": key}), 400)
    for lat in ("x", "nan", "inf", "1e999", [1], {"x": 1}):
        body = {**FORM, "api_key": key, "lat": lat}
        assert "lat" in _spec_error(await _post_json(client, url, body), 400)
    # 400: malformed text fields, a body that is not JSON, a point outside the city
    for field, bad in (("description", "ada\x00nul"), ("description", {"x": 1}), ("address_string", ["a"])):
        assert field in _spec_error(await _post_json(client, url, {**FORM, "api_key": key, field: bad}), 400)
    lone = json.dumps({**FORM, "api_key": key, "description": "rusak \ud800 parah sekali"})
    assert "\\ud800" in lone  # escaped in the JSON text, a lone surrogate once parsed
    _spec_error(await client.post(url, content=lone, headers={"content-type": "application/json"}), 400)
    _spec_error(await client.post(url, content=b"{not json", headers={"content-type": "application/json"}), 400)
    broken = b'--xx\r\nContent-Disposition: form-data; name="api_key"\r\n\r\n' + key.encode()
    resp = await client.post(url, content=broken, headers={"content-type": "multipart/form-data; boundary=xx"})
    _spec_error(resp, 403 if resp.status_code == 403 else 400)  # unterminated: no key read, or unreadable
    upload = {"description": ("a.txt", b"Lubang besar di jalan depan halte", "text/plain")}
    assert "description" in _spec_error(await client.post(url, data={**FORM, "api_key": key}, files=upload), 400)
    outside = {**FORM, "api_key": key, "lat": "-5.0", "long": "107.5"}
    assert "location" in _spec_error(await client.post(url, data=outside), 400)
    # and a good one still goes through, as JSON and as a form
    assert (await _post_json(client, url, {**FORM, "api_key": key, "lat": MONAS["lat"], "long": MONAS["lng"]})).status_code == 200
    assert (await client.post(url, data={**FORM, "api_key": key})).status_code == 200


async def test_unknown_ids_and_codes_are_404_and_malformed_lists_400(client):
    reporter, _ = await citizen(client)
    made = await report(client, reporter)
    got = await client.get(f"{BASE}/requests/{made['id']}.json")
    assert got.status_code == 200 and got.json()[0]["service_request_id"] == made["id"]
    for raw in ("%C2%B2", "%D9%A1", "99999999999999999999999999", str(2**31), str(2**63), "0", "-1", "abc", "1e3", "%00"):
        _spec_error(await client.get(f"{BASE}/requests/{raw}.json"), 404)
    _spec_error(await client.get(f"{BASE}/services/nope.json"), 404)
    _spec_error(await client.get(f"{BASE}/services/%C2%B2.json"), 404)
    # service_request_id: ids too large for any report match nothing; non-ids are malformed
    huge = await client.get(f"{BASE}/requests.json?service_request_id={made['id']},{2**31},{10**30}")
    assert [r["service_request_id"] for r in huge.json()] == [made["id"]]
    for bad in ("%C2%B2", "1,x", "%D9%A1", "-3"):
        assert "service_request_id" in _spec_error(await client.get(f"{BASE}/requests.json?service_request_id={bad}"), 400)
    for bad in ("start_date=kemarin", "end_date=2026-13-40", "start_date=0001-01-01T00:00:00%2B14:00", "status=DONE"):
        _spec_error(await client.get(f"{BASE}/requests.json?{bad}"), 400)


async def test_date_window(client, clock):
    """start_date alone: from then to now (even past the 90-day default); end_date alone: the 90
    days before it; start after end (a start in the future): an empty list."""
    clock.at = clock.at - timedelta(days=200)
    clock.advance(seconds=0)
    reporter, _ = await citizen(client)
    old = await report(client, reporter)
    clock.advance(days=190)
    recent = await report(client, reporter)
    clock.advance(days=10)
    today = clock.at

    def iso(at: datetime) -> str:
        return quote(at.astimezone(UTC).isoformat())

    async def ids(query: str) -> list[str]:
        resp = await client.get(f"{BASE}/requests.json?{query}")
        assert resp.status_code == 200, resp.text
        return sorted(r["service_request_id"] for r in resp.json())

    assert await ids("") == [recent["id"]]  # the last 90 days
    assert await ids(f"start_date={iso(today - timedelta(days=300))}") == sorted([old["id"], recent["id"]])
    assert await ids(f"start_date={iso(today - timedelta(days=11))}") == [recent["id"]]
    assert await ids(f"end_date={iso(today - timedelta(days=150))}") == [old["id"]]
    assert await ids(f"start_date={iso(today + timedelta(days=1))}") == []  # tomorrow: nothing yet
    window = f"start_date={iso(today - timedelta(days=5))}&end_date={iso(today - timedelta(days=50))}"
    assert await ids(window) == []
    assert await ids("end_date=0001-01-02T00:00:00Z") == []


# ---------------------------------------------------------------- fuzzing

TEXT = st.text(max_size=40) | st.sampled_from(["", "²", "1" * 30, "2147483648", "-1", "1,2", "nan", "\x00"])
VALUE = st.none() | st.booleans() | st.integers() | st.floats() | TEXT | st.lists(st.integers(), max_size=2) | st.dictionaries(TEXT, st.integers(), max_size=2)
PARAMS = st.dictionaries(
    st.sampled_from(["service_request_id", "service_code", "start_date", "end_date", "status", "api_key", "jurisdiction_id"]) | TEXT,
    TEXT,
    max_size=4,
)
FIELDS = st.sampled_from(["api_key", "service_code", "lat", "long", "description", "address_string", "address_id", "email"])


def _no_5xx(resp) -> None:
    assert resp.status_code < 500, (resp.request.method, str(resp.request.url), resp.status_code, resp.text[:300])
    if resp.status_code >= 400 and resp.headers.get("content-type", "").startswith("application/json"):
        body = resp.json()
        assert isinstance(body, list) and body[0]["code"] == resp.status_code, body


FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck), database=None)


@pytest.fixture
async def api_key(client) -> str:
    return await _key(client)


@FUZZ
@given(segment=TEXT, params=PARAMS)
async def test_fuzz_reads_never_5xx(client, segment, params):
    path = quote(segment, safe="")
    for url in (f"{BASE}/requests/{path}.json", f"{BASE}/services/{path}.json", f"{BASE}/requests.json"):
        _no_5xx(await client.get(url, params=params))
    _no_5xx(await client.get(f"{BASE}/services.json", params=params))


@FUZZ
@given(
    body=st.dictionaries(FIELDS, VALUE, max_size=7),
    with_key=st.booleans(),
    as_json=st.booleans(),
    raw=st.none() | st.binary(max_size=60),
)
async def test_fuzz_posts_never_5xx(client, api_key, body, with_key, as_json, raw):
    if with_key:
        body = {**body, "api_key": api_key}
    url = f"{BASE}/requests.json"
    if raw is not None:
        resp = await client.post(url, content=raw, headers={"content-type": "application/json"})
    elif as_json:
        resp = await client.post(url, content=json.dumps(body), headers={"content-type": "application/json"})
    else:
        form = {k: v if isinstance(v, str) else json.dumps(v) for k, v in body.items()}
        resp = await client.post(url, data=form)
    _no_5xx(resp)


async def test_a_list_holds_one_of_its_addresss_searches(app, client):
    """A list of up to 1,000 requests is one of its address's expensive reads, as a GraphQL
    search is: while the address holds its cap, 429 in the spec's shape with Retry-After; a
    single request is not gated; once the slot is free, the list is served."""
    token, _ = await citizen(client)
    created = await report(client, token, description="Lubang besar di jalan depan halte")
    gate = app.state.read_gate
    before, gate.per_client = gate.per_client, 1
    try:
        with gate.enter("ip:127.0.0.1"):
            resp = await client.get(f"{BASE}/requests.json")
            assert "searches at once" in _spec_error(resp, 429)
            assert int(resp.headers["retry-after"]) >= 1
            one = await client.get(f"{BASE}/requests/{created['id']}.json")
            assert one.status_code == 200 and one.json()[0]["service_request_id"] == created["id"]
        listed = await client.get(f"{BASE}/requests.json")
        assert [r["service_request_id"] for r in listed.json()] == [created["id"]]
        assert gate.running("ip:127.0.0.1") == 0
    finally:
        gate.per_client = before
