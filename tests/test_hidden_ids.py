"""A hidden thing is indistinguishable from a missing one, on every mutation that takes an id.

Generated from the live schema: every mutation argument of type ID (at any depth of its
input) is classified by what it names; for each kind of viewer, the answer to the mutation
with the id of something this viewer may not see (a REJECTED report of someone else, a
comment on it, a deleted comment, another user's area alert or upload) must be the very
answer to the same mutation with an id that never existed (the ids themselves aside). A new
mutation taking an id fails `test_every_id_argument_is_classified` until it is listed here.
"""

from __future__ import annotations

import json
import re
from typing import Any

from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLScalarType,
    get_named_type,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers import citizen, ok, report, staff

GAMBIR = "31.71.01.1001"
MISSING = 987_654_321

REPORT_MOVES = ("verifyReport", "rejectReport", "markDuplicate", "assignReport", "startProgress",
                "resolveReport", "confirmResolution", "reopenReport")  # fmt: skip
# What an ID argument names, by (mutation, argument path); "catalog" ids (categories, regions)
# and users are public, so nothing is hidden behind them.
KINDS: dict[tuple[str, str], str] = {
    **{(m, "id"): "report" for m in REPORT_MOVES},
    ("markDuplicate", "duplicateOfId"): "report",
    ("assignReport", "assigneeId"): "user",
    ("resolveReport", "mediaIds"): "media",
    ("addComment", "reportId"): "report",
    ("deleteComment", "id"): "comment",
    ("vote", "reportId"): "report",
    ("unvote", "reportId"): "report",
    ("followReport", "id"): "report",
    ("unfollowReport", "id"): "report",
    ("deleteAreaAlert", "id"): "alert",
    ("revokeApiKey", "id"): "apikey",
    ("setUserRole", "userId"): "user",
    ("createReport", "input.categoryId"): "catalog",
    ("createReport", "input.mediaIds"): "media",
    ("createStaffAccount", "input.regionId"): "catalog",
    ("createStaffAccount", "input.agencyId"): "catalog",
    ("setUserRole", "regionId"): "catalog",
    ("setUserRole", "agencyId"): "catalog",
    ("verifyReport", "categoryId"): "catalog",
    ("createAreaAlert", "input.regionId"): "catalog",
    ("createAreaAlert", "input.categoryIds"): "catalog",
    ("issueApiKey", "userId"): "user",
}
VIEWERS = ("anonymous", "citizen", "author", "partner", "officer", "moderator", "admin")


def _schema() -> Any:
    from schema import schema

    return schema._schema


def _id_paths(type_: Any, prefix: str) -> list[str]:
    """The paths of the ID-typed places in an argument's type (inputs walked)."""
    named = get_named_type(type_)
    if isinstance(named, GraphQLScalarType) and named.name == "ID":
        return [prefix]
    if isinstance(named, GraphQLInputObjectType):
        return [p for name, f in named.fields.items() for p in _id_paths(f.type, f"{prefix}.{name}")]
    return []


def _cases() -> list[tuple[str, str]]:
    mutation = _schema().mutation_type
    return [(name, path) for name, field in mutation.fields.items()
            for arg_name, arg in field.args.items() for path in _id_paths(arg.type, arg_name)]  # fmt: skip


def test_every_id_argument_is_classified():
    assert sorted(set(_cases()) - set(KINDS)) == []


def _value(type_: Any, path: str, target: str, ids: dict[str, Any]) -> Any:
    """A plausible value for an argument: the id under test at `target`, valid ids elsewhere."""
    if isinstance(type_, GraphQLNonNull):
        return _value(type_.of_type, path, target, ids)
    if isinstance(type_, GraphQLList):
        inner = _value(type_.of_type, path, target, ids)
        return inner if isinstance(inner, list) else [inner]
    if path == target:
        return ids["target"]
    if isinstance(type_, GraphQLInputObjectType):
        out = {}
        for name, f in type_.fields.items():
            if isinstance(f.type, GraphQLNonNull) or f"{path}.{name}" == target or target.startswith(f"{path}.{name}"):
                out[name] = _value(f.type, f"{path}.{name}", target, ids)
        return out
    if isinstance(type_, GraphQLEnumType):
        return next(iter(type_.values))
    name = type_.name
    if name == "ID":
        return ids["catalog"] if "category" in path.lower() else ids["report"]
    return {"String": "Catatan yang cukup panjang", "Int": 3, "Float": 1.5, "Boolean": True}.get(
        name, "x"
    )


def _document(name: str, target: str, ids: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    field = _schema().mutation_type.fields[name]
    variables, declared, passed = {}, [], []
    for arg_name, arg in field.args.items():
        if isinstance(arg.type, GraphQLNonNull) or target.split(".")[0] == arg_name:
            variables[arg_name] = _value(arg.type, arg_name, target, ids)
            declared.append(f"${arg_name}: {arg.type}")
            passed.append(f"{arg_name}: ${arg_name}")
    named = get_named_type(field.type)
    selection = " { __typename }" if isinstance(named, GraphQLObjectType) else ""
    head = f"({', '.join(declared)})" if declared else ""
    call = f"({', '.join(passed)})" if passed else ""
    return f"mutation{head} {{ {name}{call}{selection} }}", variables


async def _city(client: Any) -> dict[str, Any]:
    """Someone's report, commented then REJECTED; a deleted comment on a public report; an
    area alert and an upload of that someone; and one token per kind of viewer."""
    from tests.test_uploads import jpeg_with_gps, upload

    author, _ = await citizen(client)
    moderator, _ = await staff(client, "MODERATOR")
    admin, _ = await staff(client, "ADMIN")
    tokens = {
        "anonymous": None,
        "citizen": (await citizen(client))[0],
        "author": author,
        "partner": (await staff(client, "AGENCY_PARTNER", agency_code="DLH"))[0],
        "officer": (await staff(client, "OFFICER", region_code=GAMBIR))[0],
        "moderator": moderator,
        "admin": admin,
    }
    hidden = await report(client, author)
    public = await report(client, author)
    comment = "mutation($r: ID!) { addComment(reportId: $r, body: \"Masih ada\") { id } }"
    on_hidden = (await ok(client, comment, {"r": hidden["id"]}, author))["addComment"]["id"]
    deleted = (await ok(client, comment, {"r": public["id"]}, author))["addComment"]["id"]
    await ok(client, "mutation($id: ID!) { deleteComment(id: $id) }", {"id": deleted}, author)
    reject = 'mutation($id: ID!) { rejectReport(id: $id, reason: "Bukan laporan") { id } }'
    await ok(client, reject, {"id": hidden["id"]}, moderator)
    alert = "mutation { createAreaAlert(input: {regionId: null, center: {lat: -6.1754, lng: 106.8272}," \
            " radiusMeters: 500}) { id } }"  # fmt: skip
    alert_id = (await ok(client, alert, None, author))["createAreaAlert"]["id"]
    media_id = (await upload(client, author, jpeg_with_gps()))["data"]["uploadMedia"]["id"]
    from domain.catalog import catalog

    return {
        "tokens": tokens,
        "public": public["id"],
        "catalog": str(next(iter(catalog().categories))),
        # What each kind of viewer may not see, by kind of id (staff see REJECTED reports and
        # comments on them; nobody sees a deleted comment, or another user's alert or upload).
        "hidden": {
            "report": [hidden["id"]],
            "comment": [on_hidden, deleted],
            "alert": [alert_id],
            "media": [media_id],
        },
        "sees_rejected": {"author", "officer", "moderator", "admin"},
    }


def _hidden_for(city: dict[str, Any], viewer: str, kind: str) -> list[str]:
    found = city["hidden"].get(kind, [])
    if viewer in city["sees_rejected"] and kind == "report":
        return []
    if viewer in city["sees_rejected"] and kind == "comment":
        return found[1:]  # the deleted one only
    if viewer == "author" and kind in ("alert", "media"):
        return []  # their own
    return found


def _answer(body: dict[str, Any], ids: tuple[str, ...]) -> str:
    """The answer with the ids of the request taken out."""
    text = json.dumps({"data": body.get("data"), "errors": [
        {"message": e.get("message"), "path": e.get("path"), "extensions": e.get("extensions")}
        for e in body.get("errors") or []]}, sort_keys=True)  # fmt: skip
    for i in ids:
        text = re.sub(rf"\b{re.escape(str(i))}\b", "<id>", text)
    return text


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
async def test_a_hidden_id_answers_as_a_missing_one(client, data):
    city = getattr(test_a_hidden_id_answers_as_a_missing_one, "city", None)
    if city is None or city["client"] is not client:
        city = {**await _city(client), "client": client}
        test_a_hidden_id_answers_as_a_missing_one.city = city  # type: ignore[attr-defined]
    cases = [(m, p, v, h) for (m, p) in sorted(KINDS) for v in VIEWERS
             for h in _hidden_for(city, v, KINDS[(m, p)])]  # fmt: skip
    mutation, path, viewer, hidden = data.draw(st.sampled_from(cases))
    token = city["tokens"][viewer]
    answers = []
    for target in (hidden, str(MISSING)):
        ids = {"target": target, "report": city["public"], "catalog": city["catalog"]}
        document, variables = _document(mutation, path, ids)
        resp = await client.post("/graphql", json={"query": document, "variables": variables},
                                 headers={"Authorization": f"Bearer {token}"} if token else {})  # fmt: skip
        answers.append((resp.status_code, _answer(resp.json(), (target,))))
    assert answers[0] == answers[1], f"{viewer} {mutation}({path}): hidden {answers[0]} vs missing {answers[1]}"
    # Not a vacuous pass: what is hidden is never done.
    assert '"data": null' in answers[0][1] or '"errors": [{' in answers[0][1]


async def test_delete_comment_on_a_hidden_report_is_not_found(client):
    """The finding itself: FORBIDDEN used to confirm the comment on a REJECTED report."""
    city = await _city(client)
    for viewer in ("anonymous", "citizen", "partner"):
        token = city["tokens"][viewer]
        for comment_id in (city["hidden"]["comment"][0], str(MISSING)):
            resp = await client.post("/graphql", json={"query": "mutation($id: ID!) { deleteComment(id: $id) }",
                                                       "variables": {"id": comment_id}},
                                     headers={"Authorization": f"Bearer {token}"} if token else {})  # fmt: skip
            code = resp.json()["errors"][0]["extensions"]["code"]
            assert code == ("UNAUTHENTICATED" if token is None else "NOT_FOUND"), (viewer, comment_id, code)
