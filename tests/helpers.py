"""Talking to the service the way clients do, and factories for test data."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import httpx

_seq = itertools.count(1)

MONAS = {"lat": -6.1754, "lng": 106.8272}


def json_body(query: str, variables: dict[str, Any] | None = None) -> bytes:
    """A GraphQL request as a client's JSON library writes it: ASCII with escapes, so that any
    string, an unpaired surrogate too (`\\ud800`), reaches the server as sent."""
    return json.dumps({"query": query, "variables": variables or {}}).encode()


def json_headers(token: str | None = None) -> dict[str, str]:
    return {"content-type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})}


async def gql(
    client: httpx.AsyncClient,
    query: str,
    variables: dict[str, Any] | None = None,
    token: str | None = None,
) -> dict[str, Any]:
    resp = await client.post("/graphql", content=json_body(query, variables), headers=json_headers(token))
    assert resp.status_code in (200, 401), resp.text
    return resp.json()


async def ok(
    client: httpx.AsyncClient, query: str, variables: dict[str, Any] | None = None, token: str | None = None
) -> dict[str, Any]:
    body = await gql(client, query, variables, token)
    assert not body.get("errors"), body["errors"]
    return body["data"]


async def error(
    client: httpx.AsyncClient, query: str, variables: dict[str, Any] | None = None, token: str | None = None
) -> dict[str, Any]:
    """The first error of a call that must fail; it must carry a contract code."""
    body = await gql(client, query, variables, token)
    assert body.get("errors"), f"expected an error, got {body}"
    err = body["errors"][0]
    assert err["extensions"]["code"] in {
        "UNAUTHENTICATED",
        "FORBIDDEN",
        "BAD_USER_INPUT",
        "NOT_FOUND",
        "CONFLICT",
        "INVALID_TRANSITION",
        "RATE_LIMITED",
        "INTERNAL_SERVER_ERROR",
        "GRAPHQL_PARSE_FAILED",
        "GRAPHQL_VALIDATION_FAILED",
        "QUERY_TOO_COMPLEX",
        "QUERY_TIMEOUT",
        "SERVICE_UNAVAILABLE",
    }, err
    return err


REGISTER = """mutation($input: RegisterInput!) { register(input: $input) {
  token user { id handle displayName role email phone } } }"""
LOGIN = """mutation($input: LoginInput!) { login(input: $input) { token user { id role } } }"""


async def citizen(client: httpx.AsyncClient, handle: str | None = None) -> tuple[str, str]:
    """Register a citizen; returns (token, user id)."""
    handle = handle or f"warga{next(_seq)}"
    data = await ok(
        client,
        REGISTER,
        {
            "input": {
                "handle": handle,
                "displayName": handle.title(),
                "password": "rahasia-123",
                "email": f"{handle}@example.id",
            }
        },
    )
    return data["register"]["token"], data["register"]["user"]["id"]


async def staff(
    client: httpx.AsyncClient, role: str, *, region_code: str | None = None, agency_code: str | None = None
) -> tuple[str, str]:
    """Create a staff account as `warga create-user` does, then log in over GraphQL."""
    from domain.catalog import catalog
    from domain.users import create_staff
    from models.enums import Role

    cat = catalog()
    region_id = cat.region_by_code[region_code].id if region_code else None
    agency_id = next(a.id for a in cat.agencies.values() if a.code == agency_code) if agency_code else None
    handle = f"{role.lower()}{next(_seq)}"
    await create_staff(
        None,
        handle=handle,
        display_name=handle,
        password="rahasia-123",
        role=Role(role),
        region_id=region_id,
        agency_id=agency_id,
    )
    data = await ok(client, LOGIN, {"input": {"login": handle, "password": "rahasia-123"}})
    return data["login"]["token"], data["login"]["user"]["id"]


def category_id(code: str) -> str:
    from domain.catalog import catalog

    return str(next(c.id for c in catalog().categories.values() if c.code == code))


CREATE_REPORT = """mutation($input: CreateReportInput!) { createReport(input: $input) {
  id status description anonymous
  category { id code agency { code } }
  kelurahan { name code parent { name parent { name } } }
  agency { code name }
  author { id handle }
  location { lat lng }
  timeline { from to actor { id } }
} }"""


async def report(
    client: httpx.AsyncClient,
    token: str,
    *,
    category: str = "sampah",
    location: dict[str, float] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    payload = {
        "clientRequestId": f"req-{next(_seq)}",
        "categoryId": category_id(category),
        "description": "Sampah menumpuk di pinggir jalan sejak kemarin",
        "location": location or MONAS,
        **extra,
    }
    data = await ok(client, CREATE_REPORT, {"input": payload}, token)
    return data["createReport"]


async def plan_of(sql: str, *args: Any, off: tuple[str, ...] = ("seqscan",)) -> str:
    """PostgreSQL's plan of `sql` (EXPLAIN, text) with the planner's `enable_<x>` methods in
    `off` turned off for that one transaction: on a test's few rows a sequential scan is the
    cheapest, so an index's use shows only without it."""
    from tortoise.transactions import in_transaction

    from models.sql import fetch

    async with in_transaction() as conn:  # one connection for the SETs and the EXPLAIN
        for method in off:
            await fetch(f"SET LOCAL enable_{method} = off", conn=conn)
        rows = await fetch(f"EXPLAIN {sql}", *args, conn=conn)
    return "\n".join(r["QUERY PLAN"] for r in rows)


OPERATOR_TOKEN = "test-operator"
OPERATOR = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}


@contextmanager
def as_operator(app: Any) -> Iterator[dict[str, str]]:
    """The app with an operators' token (METRICS_TOKEN) for the block; yields the header that
    shows /healthz's counters and /metrics."""
    settings = app.state.settings
    app.state.settings = replace(settings, metrics_token=OPERATOR_TOKEN)
    try:
        yield OPERATOR
    finally:
        app.state.settings = settings
