"""Privacy, as a property: on random cities (anonymous reports, rejected ones, duplicates of
rejected ones, comments by the anonymous reporter, deleted comments), every kind of viewer walks
every query field that can reach a report, user, comment or timeline entry to depth 4
(generated from the schema), the event log replayed from the first cursor and the live
subscriptions (both websocket subprotocols), the CSV export and Open311; nothing reaches a
viewer who may not see it, and what they may see is still there.

The expectations below are written from the rules as the contract states them, not from
domain.visibility, so the test checks the module rather than repeating it. Viewers ask in
order of privilege, most privileged first, through the shared read cache and subscription
renderings: a field wrongly declared shareable (schema/policy.py) would hand a privileged
answer to a later, less privileged viewer, and fail here.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from types import SimpleNamespace
from typing import Any

import pytest
from graphql import (
    GraphQLEnumType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    Undefined,
    get_named_type,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import wait_until, wipe
from tests.helpers import MONAS
from tests.ws import LEGACY_WS, TRANSPORT_WS, GraphQLWebSocket

SENSITIVE = frozenset({"Report", "User", "Comment", "StatusChange"})
DEPTH = 4
FATES = ("submitted", "verified", "rejected", "duplicate_of_rejected", "in_progress", "confirmed", "reopened")
VIEWERS = (
    "admin", "moderator", "anon_author", "named_author", "officer_unit", "officer_other", "partner",
    "citizen", "signed_out",
)  # fmt: skip
EXAMPLES = int(os.environ.get("WARGA_PRIVACY_EXAMPLES", "4"))


# ---------------------------------------------------------------- queries from the schema


def _reaching(schema: GraphQLSchema) -> set[str]:
    """Object types from which a sensitive type can be reached."""
    found = set(SENSITIVE)
    changed = True
    while changed:
        changed = False
        for name, t in schema.type_map.items():
            if name in found or name.startswith("__") or not isinstance(t, GraphQLObjectType):
                continue
            if any(get_named_type(f.type).name in found for f in t.fields.values()):
                found.add(name)
                changed = True
    return found


def _args(field: Any, ids: dict[str, list[str]]) -> list[str] | None:
    """Argument lists to call a field with: every value of a required ID or enum, `first` as
    large as allowed; None when a required argument cannot be filled."""
    variants = [""]
    for name, a in field.args.items():
        named = get_named_type(a.type)
        if name == "first":
            variants = [f"{v} first: 100" for v in variants]
        elif isinstance(a.type, GraphQLNonNull) and a.default_value is Undefined:
            if isinstance(named, GraphQLEnumType):
                values = list(named.values)
            elif named.name == "ID":
                values = [json.dumps(i) for i in ids.get(name, [])]
            else:
                return None
            variants = [f"{v} {name}: {x}" for v in variants for x in values]
    return [f"({v.strip()})" if v.strip() else "" for v in variants]


def _selection(schema: GraphQLSchema, t: GraphQLObjectType, depth: int, reach: set[str]) -> str:
    parts = ["__typename"]
    for name, f in t.fields.items():
        named = get_named_type(f.type)
        if not isinstance(named, GraphQLObjectType):
            parts.append(name)
            continue
        below = depth - (1 if named.name in SENSITIVE else 0)
        if named.name not in reach or below <= 0:
            continue
        args = _args(f, {})
        if args:
            parts.append(f"{name}{args[0]} {{ {_selection(schema, named, below, reach)} }}")
    return " ".join(parts)


def walk_queries(schema: GraphQLSchema, ids: dict[str, list[str]]) -> list[str]:
    """Every root query field that can reach a sensitive type, with every argument variant."""
    reach = _reaching(schema)
    assert schema.query_type is not None
    out = []
    for name, f in schema.query_type.fields.items():
        named = get_named_type(f.type)
        if not isinstance(named, GraphQLObjectType) or named.name not in reach:
            continue
        body = _selection(schema, named, DEPTH, reach)
        for args in _args(f, ids) or []:
            out.append(f"{{ {name}{args} {{ {body} }} }}")
        if "filter" in f.args:  # the authorId filter, for every user
            out += [f'{{ {name}(first: 100, filter: {{authorId: "{u}"}}) {{ {body} }} }}' for u in ids["users"]]
    return out


def _resolved(type_name: str) -> set[str]:
    """The GraphQL names of a type's fields that have resolvers (the ones a policy covers)."""
    from schema import schema

    definition = schema.get_type_by_name(type_name)
    name = schema.config.name_converter.get_graphql_name
    return {name(f) for f in getattr(definition, "fields", []) if f.base_resolver is not None}


def field_paths(schema: GraphQLSchema, type_name: str, depth: int = 3) -> list[tuple[str, ...]]:
    """Paths from a type to each field with a resolver below it (to `depth` sensitive levels)."""
    reach = _reaching(schema)
    t = schema.type_map[type_name]
    assert isinstance(t, GraphQLObjectType)
    out: list[tuple[str, ...]] = []
    resolved = _resolved(type_name)
    for name, f in t.fields.items():
        named = get_named_type(f.type)
        if not isinstance(named, GraphQLObjectType):
            if name in resolved:
                out.append((name,))
            continue
        if named.name not in reach or _args(f, {}) is None:
            continue
        out.append((name,))
        below = depth - (1 if named.name in SENSITIVE else 0)
        if below > 0:
            out += [(name, *rest) for rest in field_paths(schema, named.name, below)]
    return out


def path_selection(schema: GraphQLSchema, type_name: str, path: tuple[str, ...]) -> str:
    """Only the objects along one path, with their ids: a selection whose only field with a
    resolver at its end is that path's, so a field wrongly declared shareable shows."""
    t = schema.type_map[type_name]
    assert isinstance(t, GraphQLObjectType)
    ident = "__typename id" if "id" in t.fields else "__typename"
    if not path:
        return ident
    f = t.fields[path[0]]
    named = get_named_type(f.type)
    args = (_args(f, {}) or [""])[0]
    if not isinstance(named, GraphQLObjectType):
        return f"{ident} {path[0]}{args}"
    return f"{ident} {path[0]}{args} {{ {path_selection(schema, named.name, path[1:])} }}"


def subscription_selection(schema: GraphQLSchema, field_name: str) -> str:
    assert schema.subscription_type is not None
    f = schema.subscription_type.fields[field_name]
    named = get_named_type(f.type)
    assert isinstance(named, GraphQLObjectType)
    return _selection(schema, named, DEPTH, _reaching(schema))


# ---------------------------------------------------------------- random cities


report_spec = st.fixed_dictionaries({
    "author": st.sampled_from(["anon1", "anon2", "named1", "named2"]),
    "anonymous": st.booleans(),
    "fate": st.sampled_from(FATES),
    "author_comments": st.integers(0, 2),
    "other_comment": st.booleans(),
    "delete_first_comment": st.booleans(),
})  # fmt: skip
cities = st.lists(report_spec, min_size=2, max_size=5)


@dataclass
class City:
    users: dict[str, Any] = field(default_factory=dict)  # key -> User row
    tokens: dict[str, str | None] = field(default_factory=dict)
    reports: dict[int, Any] = field(default_factory=dict)  # id -> Report row (as last known)
    secrets_of: dict[int, list[str]] = field(default_factory=dict)  # report id -> its texts
    deleted: list[str] = field(default_factory=list)  # bodies of deleted comments
    comments: dict[int, tuple[int, int, str]] = field(default_factory=dict)  # id -> report, author, body
    changes: dict[int, tuple[int, int | None]] = field(default_factory=dict)  # id -> report, actor

    def viewer(self, key: str) -> Any:
        return self.users.get(key)


def _word() -> str:
    return "zq" + secrets.token_hex(5)


async def build_city(specs: list[dict[str, Any]], ready: Callable[[City], Awaitable[None]] | None = None) -> City:
    """The city, built through the domain functions; `ready` runs once the accounts exist and
    before any report, so live subscribers see everything happen."""
    from domain import engagement, lifecycle, users
    from domain.catalog import catalog
    from domain.report import NewReport, create_report
    from models import Comment, Report, StatusChange, User
    from models.enums import Role

    await wipe()
    city = City()
    cat = catalog()
    gambir = cat.route(MONAS["lat"], MONAS["lng"])
    assert gambir is not None
    other = next(r for r in cat.regions.values() if r.level == "KELURAHAN" and r.id != gambir.id)
    staff = {
        "admin": (Role.ADMIN, None), "moderator": (Role.MODERATOR, None), "partner": (Role.AGENCY_PARTNER, None),
        "officer_unit": (Role.OFFICER, gambir.id), "officer_other": (Role.OFFICER, other.id),
    }  # fmt: skip
    for key, (role, region) in staff.items():
        made = await users.create_staff(
            None, handle=_word(), display_name=_word(), password="rahasia-123", role=role,
            region_id=region, agency_id=None,
        )  # fmt: skip
        contact = {"email": f"{_word()}@dinas.example", "phone": f"+62811{secrets.randbelow(10**8):08d}"}
        await User.filter(id=made.id).update(**contact)  # staff have contact data too
        city.users[key] = await User.get(id=made.id)
    for key in ("anon1", "anon2", "named1", "named2", "citizen"):
        n = secrets.randbelow(10**8)
        city.users[key] = await users.register(
            _word(), _word(), "rahasia-123", f"{_word()}@mail.example", f"0812{n:08d}"
        )
    city.users["anon_author"], city.users["named_author"] = city.users["anon1"], city.users["named1"]
    city.tokens = {k: users.token_for(u) for k, u in city.users.items()}
    city.tokens["signed_out"] = None
    v = {k: users.viewer_of(u) for k, u in city.users.items()}
    if ready is not None:
        await ready(city)

    async def post(author: str, anonymous: bool) -> Any:
        text = _word()
        r = await create_report(v[author], NewReport(
            client_request_id=_word(), category_id=next(iter(cat.categories)), description=f"Laporan {text} di sini",
            lat=MONAS["lat"] + secrets.randbelow(100) / 1e6, lng=MONAS["lng"], anonymous=anonymous,
        ))  # fmt: skip
        city.secrets_of[r.id] = [text]
        return r

    # An officer reports anonymously too (about their own unit, say), first: their count differs
    # by viewer and stays put while the rest happens. And one report is always assigned to them.
    await post("officer_unit", True)
    assigned = {"author": "named2", "anonymous": False, "fate": "in_progress", "author_comments": 0,
                "other_comment": False, "delete_first_comment": False}  # fmt: skip
    for spec in [*specs, assigned]:
        author, anonymous = spec["author"], spec["anonymous"] or spec["author"].startswith("anon")
        r = await post(author, anonymous)
        fate = spec["fate"]
        if fate == "rejected":
            reason = _word()
            city.secrets_of[r.id].append(reason)
            await lifecycle.reject(v["moderator"], r.id, f"Ditolak: {reason}")
        elif fate == "duplicate_of_rejected":
            original = await post(author, anonymous)
            await lifecycle.mark_duplicate(v["moderator"], r.id, original.id)
            reason = _word()
            city.secrets_of[original.id].append(reason)
            await lifecycle.reject(v["moderator"], original.id, f"Ditolak: {reason}")
        elif fate != "submitted":
            await lifecycle.verify(v["moderator"], r.id, None, None)
            if fate == "in_progress":
                await lifecycle.assign(v["moderator"], r.id, city.users["officer_unit"].id)
                await lifecycle.start_progress(v["officer_unit"], r.id, "Sedang ditangani")
            elif fate in ("confirmed", "reopened"):
                await lifecycle.resolve(v["officer_unit"], r.id, "Sudah diperbaiki", [])
                if fate == "confirmed":
                    await lifecycle.confirm(v[author], r.id, 4, "Terima kasih")
                else:
                    await lifecycle.reopen(v[author], r.id, "Belum beres")
        shown = fate not in ("rejected",)
        talkers = [author] * spec["author_comments"] + (["citizen"] if spec["other_comment"] and shown else [])
        first = True
        for who in talkers:
            body = f"Komentar {_word()}"
            c = await engagement.add_comment(v[who], r.id, body)
            if first and spec["delete_first_comment"]:
                await engagement.delete_comment(v[who], c.id)
                city.deleted.append(body)
            first = False
    # The last event of the log is one every viewer may see: replays read up to it.
    await post("citizen", False)
    for r in await Report.all():
        city.reports[r.id] = r
    for c in await Comment.all():
        city.comments[c.id] = (c.report_id, c.author_id, c.body)
    for s in await StatusChange.all():
        city.changes[s.id] = (s.report_id, s.actor_id)
    return city


# ---------------------------------------------------------------- the rules, as the contract says


def sees_report(u: Any, r: Any) -> bool:
    return r.status != "REJECTED" or (u is not None and (u.role in ("MODERATOR", "OFFICER", "ADMIN") or u.id == r.author_id))


def knows_author(u: Any, r: Any) -> bool:
    return not r.anonymous or (u is not None and (u.role in ("MODERATOR", "ADMIN") or u.id == r.author_id))


def sees_contact(u: Any, user_id: int) -> bool:
    return u is not None and (u.role == "ADMIN" or u.id == user_id)


def forbidden_texts(city: City, u: Any, live: bool = False) -> dict[str, str]:
    """Texts the viewer may never receive. Live, a report later rejected and a comment later
    deleted were public when delivered: only identities and contact data count then."""
    out: dict[str, str] = {}
    for rid, r in city.reports.items():
        if not sees_report(u, r) and not live:
            out.update({t: f"text of rejected report {rid}" for t in city.secrets_of.get(rid, [])})
    for body in city.deleted if not live else ():
        out[body] = "a deleted comment's body"
    for key, user in city.users.items():
        if not sees_contact(u, user.id):
            for x in (user.email, user.phone):
                if x:
                    out[x] = f"contact data of {key}"
    for key in ("anon1", "anon2"):  # these two only ever post anonymously
        a = city.users[key]
        mine = [r for r in city.reports.values() if r.author_id == a.id]
        if mine and not all(knows_author(u, r) for r in mine):
            out[a.handle] = f"handle of anonymous reporter {key}"
            out[a.display_name] = f"name of anonymous reporter {key}"
    return out


def check_structure(city: City, u: Any, value: Any, where: str, live: bool = False) -> None:
    """Objects that link an anonymous report to its author, by __typename (live: a report
    rejected since was visible when delivered)."""
    if isinstance(value, list):
        for x in value:
            check_structure(city, u, x, where, live)
        return
    if not isinstance(value, dict):
        return
    kind, oid = value.get("__typename"), value.get("id")
    if kind == "Report" and oid is not None:
        r = city.reports.get(int(oid))
        if r is not None:
            assert live or sees_report(u, r), f"{where}: rejected report {oid} shown"
            if "author" in value and not knows_author(u, r):
                assert value["author"] is None, f"{where}: anonymous author of report {oid} shown"
            if "author" in value and knows_author(u, r):
                assert value["author"] is not None and value["author"]["id"] == str(r.author_id), where
    if kind == "StatusChange" and oid is not None and int(oid) in city.changes:
        rid, actor = city.changes[int(oid)]
        shown = (value.get("actor") or {}).get("id")
        if actor is not None and actor == city.reports[rid].author_id and not knows_author(u, city.reports[rid]):
            assert shown is None, f"{where}: anonymous reporter shown as actor of change {oid}"
    if kind == "Comment" and oid is not None and int(oid) in city.comments:
        rid, author, _ = city.comments[int(oid)]
        shown = (value.get("author") or {}).get("id")
        if author == city.reports[rid].author_id and not knows_author(u, city.reports[rid]):
            assert shown != str(author), f"{where}: anonymous reporter shown as author of comment {oid}"
    if kind == "User" and oid is not None and oid.isdigit():
        account = next((a for a in city.users.values() if a.id == int(oid)), None)
        for contact in ("email", "phone"):
            if account is not None and contact in value:
                shown = getattr(account, contact) if sees_contact(u, account.id) else None
                assert value[contact] == shown, f"{where}: {contact} of user {oid}"
    staff_ids = {a.id for a in city.users.values() if a.role != "CITIZEN"}
    settled = not live or (oid is not None and oid.isdigit() and int(oid) in staff_ids)  # counts fixed early
    if kind == "User" and oid is not None and oid.isdigit() and "reportsCount" in value and settled:
        mine = [r for r in city.reports.values() if r.author_id == int(oid)]
        expected = sum(1 for r in mine if sees_report(u, r) and knows_author(u, r))
        assert value["reportsCount"] == expected, f"{where}: reportsCount of user {oid}"
    for k, x in value.items():
        check_structure(city, u, x, f"{where}.{k}", live)


def check_texts(forbidden: dict[str, str], blob: str, where: str) -> None:
    for text, what in forbidden.items():
        assert text not in blob, f"{where}: {what} ({text}) reached the viewer"


# ---------------------------------------------------------------- the property


async def _ask_everything(client: Any, city: City, key: str, queries: list[str]) -> list[Any]:
    from tests.helpers import gql

    out = []
    for q in queries:
        body = await gql(client, q, token=city.tokens[key])
        for err in body.get("errors") or []:
            assert err["extensions"]["code"] not in ("INTERNAL_SERVER_ERROR",), (q, err)
        out.append((q, body))
    return out


async def _rest(client: Any, city: City, key: str) -> list[tuple[str, str]]:
    token = city.tokens[key]
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    out = []
    csv = await client.get("/exports/reports.csv", headers=headers)
    assert csv.status_code in (200, 401, 403)
    out.append(("csv", csv.text))
    listed = await client.get("/open311/v2/requests.json", params={"start_date": "2000-01-01T00:00:00Z"})
    assert listed.status_code == 200
    out.append(("open311", listed.text))
    for rid in city.reports:
        one = await client.get(f"/open311/v2/requests/{rid}.json")
        assert one.status_code in (200, 404)
        out.append((f"open311/{rid}", one.text))
    return out


async def _replay(live_url: str, city: City, key: str, protocol: str, selections: list[str], last: str) -> list[Any]:
    """Each selection of reportEvents replayed from the first cursor, on one connection, up to
    the log's last event."""
    from subscriptions.log import START

    got: list[Any] = []
    async with GraphQLWebSocket(f"ws://{live_url}/graphql", protocol, city.tokens[key]) as ws:
        waiting = set()
        for selection in selections:
            query = f"subscription($a: String) {{ reportEvents(after: $a) {{ cursor {selection} }} }}"
            waiting.add(await ws.subscribe(query, {"a": START.encode()}))
        while waiting:
            message = await ws.receive(10)
            assert message["type"] in ("next", "data"), message
            payload = message["payload"]
            assert not payload.get("errors"), payload
            got.append(payload["data"])
            if payload["data"]["reportEvents"]["cursor"] == last:
                waiting.discard(message["id"])
    return got


@pytest.fixture
def deep_queries(app: Any) -> Any:
    """The walk is deliberately deeper and wider than a client's query: lift the cost limits
    (schema/limits.py) and the subscriptions per socket (a replay subscribes every path on one)
    for this test only."""
    from schema.limits import limits_of

    before = limits_of(SimpleNamespace(request=SimpleNamespace(app=app)))
    per_socket = app.state.graphql.max_subscriptions_per_connection
    app.state.graphql_limits = replace(before, max_cost=10**9, max_depth=100, max_tokens=10**6)
    app.state.graphql.max_subscriptions_per_connection = None
    yield
    app.state.graphql_limits = before
    app.state.graphql.max_subscriptions_per_connection = per_socket


@pytest.mark.usefixtures("deep_queries")
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(specs=cities)
async def test_no_viewer_sees_what_they_may_not_and_sees_what_they_may(app, client, live_url, specs):
    from schema import schema
    from subscriptions import log

    gschema = schema._schema
    # The whole selection, and single paths: a path's own field decides whether it is shared.
    selections = [subscription_selection(gschema, "reportEvents")]
    selections += [path_selection(gschema, "ReportEvent", p) for p in field_paths(gschema, "ReportEvent")]
    live: dict[str, tuple[GraphQLWebSocket, set[str]]] = {}

    async def subscribe_everyone(city: City) -> None:
        """Every viewer at once, live: the hub's fan-out shares renderings between them."""
        for n, key in enumerate(VIEWERS):
            ws = GraphQLWebSocket(f"ws://{live_url}/graphql", (LEGACY_WS, TRANSPORT_WS)[n % 2], city.tokens[key])
            await ws.__aenter__()
            ops = [await ws.subscribe(f"subscription {{ reportEvents {{ cursor {sel} }} }}") for sel in selections]
            # The live-only subscriptions too, with everything they can reach.
            for name in ("reportCreated", "reportStatusChanged"):
                await ws.subscribe(f"subscription {{ {name} {{ {subscription_selection(gschema, name)} }} }}")
            live[key] = (ws, set(ops))
        hub = app.state.hub
        await wait_until(lambda: hub.subscriber_count >= len(VIEWERS) * (len(selections) + 2), timeout=20)

    try:
        city = await build_city(specs, subscribe_everyone)
        # The last event of the log is one every viewer may see: replays read up to it.
        last = (await log.head()).encode()
        for key, (ws, ops) in live.items():
            got = []
            while ops:
                message = await ws.receive(10)
                assert message["type"] in ("next", "data"), message
                assert not message["payload"].get("errors"), (key, message)
                got.append(message["payload"]["data"])
                event = message["payload"]["data"].get("reportEvents")
                if event is not None and event["cursor"] == last:
                    ops.discard(message["id"])
            while True:  # what the live-only subscriptions still have on their way
                try:
                    message = await ws.receive(0.3)
                except TimeoutError:
                    break
                assert not message["payload"].get("errors"), (key, message)
                got.append(message["payload"]["data"])
            assert any("reportCreated" in g for g in got) and any("reportStatusChanged" in g for g in got), key
            u = city.viewer(key)
            check_structure(city, u, got, f"{key} live", live=True)
            check_texts(forbidden_texts(city, u, live=True), json.dumps(got), f"{key} live")
    finally:
        for ws, _ in live.values():
            await ws.__aexit__(None, None, None)
    ids = {"id": [str(i) for i in city.reports], "users": [str(u.id) for u in city.users.values()]}
    queries = walk_queries(gschema, ids)
    assert any(q.startswith("{ report(") for q in queries) and any("rankings(" in q for q in queries)
    for n, key in enumerate(VIEWERS):
        u = city.viewer(key)
        forbidden = forbidden_texts(city, u)
        answers = await _ask_everything(client, city, key, queries)
        for q, body in answers:
            check_structure(city, u, body.get("data"), f"{key} {q[:60]}")
            if "authorId:" in q and body.get("data"):  # membership must not attribute either
                author = int(q.split('authorId: "')[1].split('"')[0])
                for edge in body["data"]["reports"]["edges"]:
                    r = city.reports.get(int(edge["node"]["id"]))
                    if r is not None:
                        assert r.author_id == author and knows_author(u, r), f"{key}: authorId {author} found {r.id}"
            check_texts(forbidden, json.dumps(body), f"{key} {q[:60]}")
        for where, text in await _rest(client, city, key):
            check_texts(forbidden, text, f"{key} {where}")
        protocol = (TRANSPORT_WS, LEGACY_WS)[n % 2]
        events = await _replay(live_url, city, key, protocol, selections, last)
        check_structure(city, u, events, f"{key} replay")
        check_texts(forbidden, json.dumps(events), f"{key} replay")
        # ... and what the viewer may see is still there.
        seen = json.dumps([b for _, b in answers]) + json.dumps(events)
        for rid, r in city.reports.items():
            if sees_report(u, r):
                assert city.secrets_of[rid][0] in seen, f"{key}: visible report {rid} missing"
            if r.anonymous and knows_author(u, r):
                assert f'"author": {{"__typename": "User", "id": "{r.author_id}"' in seen, (key, rid)
        for cid, (rid, _, body) in city.comments.items():
            if body not in city.deleted and sees_report(u, city.reports[rid]):
                assert body in seen, f"{key}: comment {cid} missing"
        if u is not None and u.email:
            assert u.email in seen, f"{key}: own e-mail missing"


# ---------------------------------------------------------------- shared report renderings

FEED_NODE = """__typename id description status anonymous createdAt voteCount commentCount viewerHasVoted
  category { code } kelurahan { name parent { name } } viewerFollows
  author { __typename id handle displayName reportsCount email phone emailVerified }"""


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(specs=cities)
async def test_shared_report_renderings_answer_as_the_regular_executor(app, client, specs):
    """The feed's reports rendered once for the public and shared (schema/renderings.py), the
    viewer's own marks filled in per request: every viewer, twice in turn (the second round
    served from renderings made for others), gets what graphql-core computes for them alone
    (an @include on a fragment keeps a document off the compiled path), and what the rules say."""
    from domain import engagement, notifications_follow, users
    from models import Follow, Vote
    from schema import schema
    from tests.helpers import gql

    city = await build_city(specs)
    ids = sorted(city.reports)
    for n, key in enumerate(VIEWERS):  # marks of their own, on reports they may see
        u = city.viewer(key)
        if u is None:
            continue
        visible = [rid for rid in ids if sees_report(u, city.reports[rid])]
        await engagement.set_vote(users.viewer_of(u), visible[n % len(visible)], True)
        await notifications_follow.follow(users.viewer_of(u), visible[(n + 1) % len(visible)], True)
    shared = f"{{ reports(first: 100) {{ edges {{ node {{ {FEED_NODE} }} }} }} }}"
    regular = f"{{ reports(first: 100) {{ edges {{ node {{ ... @include(if: true) {{ {FEED_NODE} }} }} }} }} }}"
    assert schema.renderings is not None
    hits = schema.renderings.hits
    for _ in range(2):
        for key in VIEWERS:
            u = city.viewer(key)
            got = await gql(client, shared, token=city.tokens[key])
            assert got == await gql(client, regular, token=city.tokens[key]), key
            check_structure(city, u, got["data"], f"{key} feed")
            check_texts(forbidden_texts(city, u), json.dumps(got), f"{key} feed")
            voted = {v.report_id for v in await Vote.filter(user_id=u.id)} if u else set()
            followed = {f.report_id for f in await Follow.filter(user_id=u.id)} if u else set()
            for edge in got["data"]["reports"]["edges"]:
                rid = int(edge["node"]["id"])
                assert (edge["node"]["viewerHasVoted"], edge["node"]["viewerFollows"]) == (rid in voted, rid in followed)
    assert schema.renderings.hits > hits  # the shared renderings were used, not only computed
