"""The printed SDL is committed, current, and a superset of the contract, read from
../shared/api/ (schema.graphql and notifications.graphql; never copied into the project),
except for the names still PENDING, each with the issue that will bring it. That list only
shrinks: a pending name that exists fails the test until it is taken off."""

from __future__ import annotations

from pathlib import Path

import pytest
from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLSchema,
    build_schema,
    print_ast,
)

ROOT = Path(__file__).resolve().parents[1]
CONTRACT = [ROOT.parent / "shared/api/schema.graphql", ROOT.parent / "shared/api/notifications.graphql"]

PENDING: dict[str, int] = {}


def contract() -> GraphQLSchema:
    """The contract as one schema (notifications.graphql extends schema.graphql's types)."""
    missing = [p for p in CONTRACT if not p.exists()]
    if missing:
        pytest.fail(f"the contract is read from ../shared/api/: {missing[0]} is missing")
    return build_schema("\n".join(p.read_text() for p in CONTRACT))


def _default(arg: object) -> str | None:
    node = getattr(arg, "ast_node", None)
    value = getattr(node, "default_value", None)
    # An omitted nullable argument is null: `x: String` and `x: String = null` mean the same.
    return print_ast(value) if value is not None and print_ast(value) != "null" else None


def missing_from(contract: GraphQLSchema, ours: GraphQLSchema) -> list[str]:
    """Every type, field, argument and enum value of the contract, with the same type."""
    out: list[str] = []
    for name, want in contract.type_map.items():
        if name.startswith("__"):
            continue
        have = ours.type_map.get(name)
        if have is None or type(have) is not type(want):
            out.append(name)
            continue
        if isinstance(want, GraphQLEnumType):
            out += [f"{name}.{v}" for v in want.values if v not in have.values]  # type: ignore[attr-defined]
        if isinstance(want, (GraphQLObjectType, GraphQLInterfaceType, GraphQLInputObjectType)):
            for fname, wfield in want.fields.items():
                hfield = have.fields.get(fname)  # type: ignore[attr-defined]
                if hfield is None or str(hfield.type) != str(wfield.type):
                    out.append(f"{name}.{fname}")
                    continue
                for aname, warg in getattr(wfield, "args", {}).items():
                    harg = hfield.args.get(aname)
                    if harg is None or str(harg.type) != str(warg.type):
                        out.append(f"{name}.{fname}({aname})")
                    elif _default(warg) != _default(harg):
                        out.append(f"{name}.{fname}({aname} default)")
                extra_required = [
                    a
                    for a, h in getattr(hfield, "args", {}).items()
                    if a not in getattr(wfield, "args", {})
                    and str(h.type).endswith("!")
                    and h.default_value is None
                ]
                out += [f"{name}.{fname}({a} must be optional)" for a in extra_required]
    return out


def test_printed_sdl_is_committed_and_current():
    from schema import schema

    committed = (ROOT / "schema.graphql").read_text()
    assert committed == schema.as_str(), "schema.graphql is stale: regenerate it (make schema)"


def test_sdl_is_a_superset_of_the_contract_but_for_the_pending_names():
    from schema import schema

    missing = missing_from(contract(), build_schema(schema.as_str()))
    assert [m for m in missing if m not in PENDING] == []
    done = sorted(set(PENDING) - set(missing))
    assert done == [], f"implemented: take these off PENDING: {done}"


def test_checker_catches_a_missing_field():
    contract = build_schema("type Query { a(x: Int = 1): Int b: String }")
    ours = build_schema("type Query { a(x: Int): Int }")
    assert missing_from(contract, ours) == ["Query.a(x default)", "Query.b"]
