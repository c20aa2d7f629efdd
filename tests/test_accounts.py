"""Registration, login, tokens, staff accounts and who sees contact data."""

from __future__ import annotations

from tests.helpers import LOGIN, REGISTER, citizen, error, gql, ok, staff

ME = "{ me { id handle role email phone reportsCount } }"


async def test_register_then_me_and_login_by_handle_email_phone(client):
    data = await ok(
        client,
        REGISTER,
        {
            "input": {
                "handle": "Budi.Santoso",
                "displayName": "Budi",
                "password": "rahasia-123",
                "email": "Budi@Example.id",
                "phone": "0812-3456-7890",
            }
        },
    )
    payload = data["register"]
    assert payload["user"]["handle"] == "budi.santoso"
    assert payload["user"]["role"] == "CITIZEN"
    assert payload["user"]["email"] == "budi@example.id"
    assert payload["user"]["phone"] == "+6281234567890"
    me = (await ok(client, ME, token=payload["token"]))["me"]
    assert me["handle"] == "budi.santoso" and me["reportsCount"] == 0
    for login in ("budi.santoso", "budi@example.id", "081234567890", "+6281234567890"):
        data = await ok(client, LOGIN, {"input": {"login": login, "password": "rahasia-123"}})
        assert data["login"]["user"]["id"] == payload["user"]["id"]
    assert (await ok(client, ME))["me"] is None


async def test_register_input_errors_name_the_field(client):
    base = {"handle": "siti", "displayName": "Siti", "password": "rahasia-123"}
    cases = [
        ({"handle": "ab"}, "handle"),
        ({"handle": "Siti Nur!"}, "handle"),
        ({"password": "short"}, "password"),
        ({"email": "not-an-email"}, "email"),
        ({"phone": "12ab"}, "phone"),
        ({"displayName": "x" * 81}, "displayName"),
    ]
    for override, field in cases:
        err = await error(client, REGISTER, {"input": {**base, **override}})
        assert err["extensions"] == {"code": "BAD_USER_INPUT", "field": field}, override
    await ok(client, REGISTER, {"input": {**base, "email": "siti@example.id"}})
    err = await error(client, REGISTER, {"input": {**base}})
    assert err["extensions"]["code"] == "CONFLICT"
    err = await error(client, REGISTER, {"input": {**base, "handle": "siti2", "email": "siti@example.id"}})
    assert err["extensions"]["code"] == "CONFLICT" and err["extensions"]["field"] == "email"


async def test_wrong_password_and_rate_limit(client):
    """Guesses are slowed (tests/test_abuse.py has the whole policy): after five failures
    from one address the next attempt waits, whether or not its password is right."""
    await citizen(client, "ani")
    for _ in range(6):
        err = await error(client, LOGIN, {"input": {"login": "ani", "password": "salah-salah"}})
        assert err["extensions"]["code"] == "UNAUTHENTICATED"
    err = await error(client, LOGIN, {"input": {"login": "ani", "password": "rahasia-123"}})
    assert err["extensions"]["code"] == "RATE_LIMITED" and err["extensions"]["retryAfter"] >= 1
    err = await error(client, LOGIN, {"input": {"login": "nobody", "password": "rahasia-123"}})
    assert err["extensions"]["code"] == "UNAUTHENTICATED"


async def test_invalid_token_is_unauthenticated_not_anonymous(client):
    body = await gql(client, ME, token="forged.token")
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    resp = await client.post("/graphql", json={"query": ME}, headers={"Authorization": "Basic x"})
    assert resp.status_code == 401
    assert resp.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_contact_data_only_for_self_and_admin(client):
    token_a, id_a = await citizen(client, "alpha")
    token_b, _ = await citizen(client, "beta")
    admin, _ = await staff(client, "ADMIN")
    moderator, _ = await staff(client, "MODERATOR")
    query = """query($id: ID!) { reports(filter: {authorId: $id}) { totalCount } }"""
    await ok(client, query, {"id": id_a}, token_b)
    # The only way to reach another user is through a report; post one as alpha.
    from tests.helpers import report

    r = await report(client, token_a)
    q = """query($id: ID!) { report(id: $id) { author { handle email phone } } }"""
    seen_by_b = (await ok(client, q, {"id": r["id"]}, token_b))["report"]["author"]
    assert seen_by_b == {"handle": "alpha", "email": None, "phone": None}
    seen_by_mod = (await ok(client, q, {"id": r["id"]}, moderator))["report"]["author"]
    assert seen_by_mod["email"] is None
    seen_by_admin = (await ok(client, q, {"id": r["id"]}, admin))["report"]["author"]
    assert seen_by_admin["email"] == "alpha@example.id"
    seen_by_self = (await ok(client, q, {"id": r["id"]}, token_a))["report"]["author"]
    assert seen_by_self["email"] == "alpha@example.id"


CREATE_STAFF = """mutation($input: CreateStaffInput!) { createStaffAccount(input: $input) {
  id handle role region { code } agency { code } } }"""


async def test_create_staff_account_admin_only(client):
    from domain.catalog import catalog

    admin, _ = await staff(client, "ADMIN")
    citizen_token, _ = await citizen(client)
    gambir = catalog().region_by_code["31.71.01.1001"]
    dlh = next(a for a in catalog().agencies.values() if a.code == "DLH")
    officer = {
        "handle": "lurah.gambir",
        "displayName": "Lurah",
        "password": "rahasia-123",
        "role": "OFFICER",
        "regionId": str(gambir.id),
    }
    err = await error(client, CREATE_STAFF, {"input": officer})
    assert err["extensions"]["code"] == "UNAUTHENTICATED"
    err = await error(client, CREATE_STAFF, {"input": officer}, citizen_token)
    assert err["extensions"]["code"] == "FORBIDDEN"
    made = (await ok(client, CREATE_STAFF, {"input": officer}, admin))["createStaffAccount"]
    assert made["role"] == "OFFICER" and made["region"]["code"] == "31.71.01.1001"
    partner = {
        "handle": "mitra",
        "displayName": "Mitra",
        "password": "rahasia-123",
        "role": "AGENCY_PARTNER",
        "agencyId": str(dlh.id),
    }
    made = (await ok(client, CREATE_STAFF, {"input": partner}, admin))["createStaffAccount"]
    assert made["agency"]["code"] == "DLH"
    bad = [
        ({**officer, "handle": "x1", "regionId": None}, "regionId"),
        ({**officer, "handle": "x2", "regionId": "999999"}, "regionId"),
        ({**officer, "handle": "x3", "regionId": "abc"}, "regionId"),
        ({**officer, "handle": "x4", "role": "CITIZEN"}, "role"),
        ({**officer, "handle": "x5", "agencyId": str(dlh.id)}, "regionId"),
    ]
    for payload, field in bad:
        err = await error(client, CREATE_STAFF, {"input": payload}, admin)
        assert err["extensions"] == {"code": "BAD_USER_INPUT", "field": field}, payload
