"""What a document may ask for, measured on its syntax tree before anything runs.

The endpoint is public, and one small document can ask for a great deal: a report's timeline
leads back to its report, a region's children to their parent, and each turn of such a cycle
multiplies the answer. Four limits, all from the environment (config.Settings), refuse a
document with QUERY_TOO_COMPLEX before it costs any execution, on every path alike (the
compiled fast path, graphql-core, both websocket protocols; aliases count one by one):

- tokens: the parser stops after `max_tokens` (graphql-core's own guard), so an enormous
  document costs no more than a small one to refuse;
- aliases: a response key per alias is how one request asks for the same heavy field a
  thousand times;
- depth: nested selection sets (introspection is bounded by graphql-core's own
  MaxIntrospectionDepthRule instead);
- cost: Saleor's query cost map and GitHub's node limit, together. Every field costs its weight
  (1 unless COSTS says otherwise), times the number of items its parents can return: a list
  field multiplies everything below it by its page size (`first`) or by its real bound (a
  region's children, a report's timeline, the catalog's regions), and the bounds of the
  reference data come from the loaded catalog, so they follow the city's real data.

Fragments are measured once each (cost is linear in the multiplier), so a fragment spread a
thousand times costs a thousand times without a thousand walks.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from graphql import (
    BooleanValueNode,
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLList,
    GraphQLNamedType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    ObjectValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    StringValueNode,
    VariableNode,
)

from domain.catalog import catalog
from domain.notifications_follow import MAX_ALERTS
from domain.performance import DEFAULT_DAYS, MAX_DAYS
from models.enums import RegionLevel, ReportStatus

TOO_COMPLEX = "QUERY_TOO_COMPLEX"


@dataclass(frozen=True)
class Limits:
    max_depth: int = 10
    max_aliases: int = 100
    max_tokens: int = 5000
    max_cost: int = 25000
    introspection: bool = True
    trusted_only_anonymous: bool = False

    @classmethod
    def of(cls, settings: Any) -> Limits:
        return cls(
            max_depth=settings.graphql_max_depth,
            max_aliases=settings.graphql_max_aliases,
            max_tokens=settings.graphql_max_tokens,
            max_cost=settings.graphql_max_cost,
            introspection=settings.graphql_introspection,
            trusted_only_anonymous=settings.graphql_trusted_documents == "anonymous",
        )


DEFAULT_LIMITS = Limits()


def limits_of(context: Any) -> Limits:
    """The limits of the app serving this request (its Settings), computed once per app."""
    app = getattr(getattr(context, "request", None), "app", None)
    state = getattr(app, "state", None)
    if state is None:
        return DEFAULT_LIMITS
    found = getattr(state, "graphql_limits", None)
    if found is None:
        settings = getattr(state, "settings", None)
        found = Limits.of(settings) if settings is not None else DEFAULT_LIMITS
        state.graphql_limits = found
    return found


def too_complex(message: str, limit: str, maximum: int, actual: float) -> GraphQLError:
    return GraphQLError(
        message,
        extensions={"code": TOO_COMPLEX, "limit": limit, "maximum": maximum, "actual": math.ceil(actual)},
    )


# ---------------------------------------------------------------------- the cost map

Args = dict[str, Any]
Bound = Callable[[Args, Args], float]
"""A list field's bound from its own arguments and its parent field's arguments."""


def _arg(name: str, default: int, maximum: int) -> Bound:
    """A page size: the argument, within what the resolver accepts (beyond, it refuses)."""

    def bound(args: Args, parent: Args) -> float:
        value = args.get(name, default)
        if not isinstance(value, int) or isinstance(value, bool):
            value = default
        return float(min(max(value, 0), maximum))

    return bound


def _const(n: float) -> Bound:
    return lambda args, parent: n


@dataclass
class _Numbers:
    """The catalog's bounds, computed once per loaded catalog (not per request)."""

    catalog: Any
    regions: int
    by_level: dict[str, int]
    max_children: int
    categories: int
    agencies: int
    categories_per_agency: int


_numbers: list[_Numbers] = []


def numbers() -> _Numbers:
    cat = catalog()
    if _numbers and _numbers[0].catalog is cat:
        return _numbers[0]
    by_level: dict[str, int] = {}
    for r in cat.regions.values():
        by_level[str(r.level)] = by_level.get(str(r.level), 0) + 1
    per_agency: dict[int, int] = {}
    for c in cat.categories.values():
        per_agency[c.agency_id] = per_agency.get(c.agency_id, 0) + 1  # type: ignore[attr-defined]
    found = _Numbers(
        cat, len(cat.regions) or 1, by_level,
        max((len(v) for k, v in cat.children.items() if k is not None), default=1) or 1,
        len(cat.categories) or 1, len(cat.agencies) or 1, max(per_agency.values(), default=1),
    )  # fmt: skip
    _numbers[:] = [found]
    return found


def _regions(args: Args, parent: Args) -> float:
    n = numbers()
    if args.get("parentId") is not None:
        return float(n.max_children)
    level = args.get("level")
    if isinstance(level, str):
        return float(n.by_level.get(level, 0) or 1)
    return float(n.regions)


def _max_children(*_: Any) -> float:
    return float(numbers().max_children)


def _by_region(args: Args, parent: Args) -> float:
    """stats.byRegion: the children of the filtered region, or the KOTA level."""
    n = numbers()
    return float(max(n.max_children, n.by_level.get(RegionLevel.KOTA.value, 0), 1))


def _days(args: Args, parent: Args) -> float:
    """stats.daily: one row per day of the period (`stats(period:)` of the parent field)."""
    period = parent.get("period")
    if isinstance(period, dict):
        start, end = period.get("from"), period.get("to")
        if isinstance(start, str) and isinstance(end, str):
            try:
                days = (date.fromisoformat(end) - date.fromisoformat(start)).days + 1
                return float(min(max(days, 1), MAX_DAYS))
            except ValueError:
                return float(MAX_DAYS)
        return float(MAX_DAYS)
    return float(DEFAULT_DAYS)


def _heat_cells(args: Args, parent: Args) -> float:
    """H3 cells over a city the size of Jakarta (about 700 km² with the bay) at the resolution."""
    import h3

    resolution = args.get("resolution", 8)
    if not isinstance(resolution, int) or not 0 <= resolution <= 15:
        resolution = 8
    return float(min(5000, math.ceil(700 / h3.average_hexagon_area(resolution, "km^2")) + 1))


def _categories(*_: Any) -> float:
    return float(numbers().categories)


def _agencies(*_: Any) -> float:
    return float(numbers().agencies)


def _categories_per_agency(*_: Any) -> float:
    return float(numbers().categories_per_agency)


PAGE_MAX = 100  # domain/validate.page_size
RANKINGS_MAX = 500  # domain/performance.rankings
TIMELINE_BOUND = 12  # the lifecycle's transitions, with a reopening or two
MEDIA_BOUND = 5  # photos per report or status change
API_KEYS_BOUND = 50
BOUNDARY_BYTES = 250  # a point per 250 bytes of polygon: a scalar field is some 20 to 80 bytes
FLAT_TYPES = {"HeatCell"}  # five numbers computed with the list: one point per item, whatever is selected


Weight = Callable[[Args, str], float]
"""A field's weight per item, from its parent field's arguments and name (`Type.field`)."""


@dataclass(frozen=True)
class FieldCost:
    weight: float | Weight = 1.0  # per item
    base: float = 0.0  # once per resolution (an aggregate's query), whatever the items
    bound: Bound | None = None  # list fields (and connections): how many items at most


_boundary_sizes: list[Any] = []  # [catalog, {level: KB}]


def _boundary(parent_args: Args, parent_field: str) -> float:
    """A polygon's JSON weighs one point per BOUNDARY_BYTES, on average for its level in the
    loaded catalog (some 35 for a kelurahan, 600 for a kota); the heaviest level when the path
    does not tell which level the region is. So the cost limit also bounds the bytes of
    polygons one answer may carry (25,000 points: about 6 MB)."""
    cat = catalog()
    if not _boundary_sizes or _boundary_sizes[0] is not cat:
        sums: dict[str, list[int]] = {}
        for r in cat.regions.values():
            size = len(json.dumps(r.boundary)) if r.boundary else 0
            sums.setdefault(str(r.level), []).append(size)
        average = {k: max(1.0, sum(v) / len(v) / BOUNDARY_BYTES) for k, v in sums.items()}
        _boundary_sizes[:] = [cat, average]
    sizes: dict[str, float] = _boundary_sizes[1]
    level = parent_args.get("level") if parent_field == "Query.regions" else None
    if parent_field in ("Report.kelurahan", "Query.locate"):
        level = RegionLevel.KELURAHAN.value
    if isinstance(level, str) and level in sizes:
        return sizes[level]
    return max(sizes.values(), default=1.0)


COSTS: dict[str, FieldCost] = {
    # connections: the page size multiplies everything below (Saleor's "multipliers")
    "Query.reports": FieldCost(bound=_arg("first", 20, PAGE_MAX)),
    "Query.moderationQueue": FieldCost(bound=_arg("first", 20, PAGE_MAX)),
    "Query.myWork": FieldCost(bound=_arg("first", 20, PAGE_MAX)),
    "Report.comments": FieldCost(bound=_arg("first", 20, PAGE_MAX)),
    "ReportConnection.edges": FieldCost(bound=_const(1)),
    "CommentConnection.edges": FieldCost(bound=_const(1)),
    # lists bounded by the data
    "Query.regions": FieldCost(bound=_regions),
    "Region.children": FieldCost(bound=_max_children),
    "Region.boundary": FieldCost(weight=_boundary),
    "Query.categories": FieldCost(bound=_categories),
    "Query.agencies": FieldCost(bound=_agencies),
    "Agency.categories": FieldCost(bound=_categories_per_agency),
    "Report.timeline": FieldCost(bound=_const(TIMELINE_BOUND)),
    "Report.media": FieldCost(bound=_const(MEDIA_BOUND)),
    "StatusChange.media": FieldCost(bound=_const(MEDIA_BOUND)),
    "Query.apiKeys": FieldCost(bound=_const(API_KEYS_BOUND)),
    "User.areaAlerts": FieldCost(bound=_const(MAX_ALERTS)),
    "AreaAlert.categories": FieldCost(bound=_categories),
    # performance: aggregates over months weigh more than a row
    "Query.rankings": FieldCost(base=10, bound=_arg("first", 50, RANKINGS_MAX)),
    "Query.stats": FieldCost(base=10),
    "Query.heatmap": FieldCost(base=10, bound=_heat_cells),
    "Stats.byStatus": FieldCost(bound=_const(len(ReportStatus))),
    "Stats.byCategory": FieldCost(bound=_categories),
    "Stats.byRegion": FieldCost(bound=_by_region),
    "Stats.daily": FieldCost(bound=_days),
}
INTROSPECTION_COST = 100.0  # a __schema or __type subtree: bounded by the schema's size


def list_fields(schema: GraphQLSchema) -> list[str]:
    """Every field returning a list, outside introspection: each must have a bound in COSTS."""
    out = []
    for name, gtype in schema.type_map.items():
        if name.startswith("__") or not isinstance(gtype, GraphQLObjectType):
            continue
        for fname, fdef in gtype.fields.items():
            t = fdef.type.of_type if isinstance(fdef.type, GraphQLNonNull) else fdef.type
            if isinstance(t, GraphQLList):
                out.append(f"{name}.{fname}")
    return out


# ---------------------------------------------------------------------- measuring


def _named(gtype: Any) -> GraphQLNamedType:
    while isinstance(gtype, GraphQLNonNull | GraphQLList):
        gtype = gtype.of_type
    return gtype


def _is_list(gtype: Any) -> bool:
    if isinstance(gtype, GraphQLNonNull):
        gtype = gtype.of_type
    return isinstance(gtype, GraphQLList)


def _value(node: Any, variables: dict[str, Any]) -> Any:
    """An argument's value as far as the cost model needs it (ints, enums, dates)."""
    if isinstance(node, VariableNode):
        return variables.get(node.name.value)
    if isinstance(node, IntValueNode):
        try:
            return int(node.value)
        except ValueError:
            return None
    if isinstance(node, StringValueNode | BooleanValueNode):
        return node.value
    if isinstance(node, ObjectValueNode):
        return {f.name.value: _value(f.value, variables) for f in node.fields}
    value = getattr(node, "value", None)
    return value if isinstance(value, str) else None


def _plain(value: Any) -> Any:
    """Coerced variables hold enums and dates; the cost model reads their plain forms."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {k.rstrip("_"): _plain(v) for k, v in vars(value).items()}  # input objects (`from_`)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "value") and not isinstance(value, int | str | float):
        return value.value
    return value


Memo = dict[tuple[str, str, str], float]  # a fragment's cost, by type and context


class Measure:
    """Depth and aliases of a document's operation (from the syntax alone, before validation,
    so a refused document is never validated), and its cost (after validation, per request,
    because `first: $first` is read from the variables)."""

    def __init__(self, document: DocumentNode) -> None:
        self.fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        self._depth: dict[str, int] = {}
        self._aliases: dict[str, int] = {}

    # -- depth and aliases: syntax only, cycles guarded (the document is not validated yet)

    def depth(self, selection_set: SelectionSetNode | None, visiting: frozenset[str] = frozenset()) -> int:
        if selection_set is None:
            return 0
        deepest = 0
        for sel in selection_set.selections:
            if isinstance(sel, FieldNode):
                if sel.name.value in ("__schema", "__type"):
                    continue  # MaxIntrospectionDepthRule bounds introspection
                deepest = max(deepest, 1 + self.depth(sel.selection_set, visiting))
            elif isinstance(sel, InlineFragmentNode):
                deepest = max(deepest, self.depth(sel.selection_set, visiting))
            elif isinstance(sel, FragmentSpreadNode):
                deepest = max(deepest, self._fragment_depth(sel.name.value, visiting))
        return deepest

    def _fragment_depth(self, name: str, visiting: frozenset[str]) -> int:
        if name in self._depth:
            return self._depth[name]
        frag = self.fragments.get(name)
        if frag is None or name in visiting:
            return 0  # unknown or cyclic: validation refuses it
        found = self._depth[name] = self.depth(frag.selection_set, visiting | {name})
        return found

    def aliases(self, selection_set: SelectionSetNode | None, visiting: frozenset[str] = frozenset()) -> int:
        """Aliased fields as the response would hold them (a fragment spread n times counts n)."""
        if selection_set is None:
            return 0
        count = 0
        for sel in selection_set.selections:
            if isinstance(sel, FieldNode):
                count += (sel.alias is not None) + self.aliases(sel.selection_set, visiting)
            elif isinstance(sel, InlineFragmentNode):
                count += self.aliases(sel.selection_set, visiting)
            elif isinstance(sel, FragmentSpreadNode):
                name = sel.name.value
                if name not in self._aliases:
                    frag = self.fragments.get(name)
                    if frag is None or name in visiting:
                        continue
                    self._aliases[name] = self.aliases(frag.selection_set, visiting | {name})
                count += self._aliases[name]
        return count

    # -- cost: on a validated document, with the request's variables

    def cost(
        self, schema: GraphQLSchema, operation: OperationDefinitionNode, variables: dict[str, Any]
    ) -> float:
        root = schema.get_root_type(operation.operation)
        if root is None:
            return 0.0
        plain = {k: _plain(v) for k, v in variables.items()}
        memo: Memo = {}
        return self._cost(schema, root, operation.selection_set, plain, {}, "", memo)

    def _cost(
        self, schema: GraphQLSchema, parent: GraphQLNamedType, selection_set: SelectionSetNode,
        variables: dict[str, Any], parent_args: Args, parent_field: str, memo: Memo,
    ) -> float:  # fmt: skip
        total = 0.0
        for sel in selection_set.selections:
            if isinstance(sel, FieldNode):
                total += self._field_cost(schema, parent, sel, variables, parent_args, parent_field, memo)
            elif isinstance(sel, InlineFragmentNode):
                cond = sel.type_condition
                target = schema.get_type(cond.name.value) if cond is not None else parent
                total += self._cost(
                    schema, target or parent, sel.selection_set, variables, parent_args, parent_field, memo
                )  # fmt: skip
            elif isinstance(sel, FragmentSpreadNode):
                frag = self.fragments.get(sel.name.value)
                if frag is None:
                    continue
                target = schema.get_type(frag.type_condition.name.value) or parent
                context = json.dumps([parent_field, parent_args], sort_keys=True, default=str)
                key = (sel.name.value, target.name, context)
                if key not in memo:
                    memo[key] = math.inf  # a cycle would recurse forever; validation refuses it
                    memo[key] = self._cost(
                        schema, target, frag.selection_set, variables, parent_args, parent_field, memo
                    )  # fmt: skip
                total += memo[key]
        return total

    def _field_cost(
        self, schema: GraphQLSchema, parent: GraphQLNamedType, node: FieldNode, variables: dict[str, Any],
        parent_args: Args, parent_field: str, memo: Memo,
    ) -> float:  # fmt: skip
        name = node.name.value
        if name == "__typename":
            return 1.0
        if name.startswith("__"):
            return INTROSPECTION_COST
        fields = getattr(parent, "fields", None)
        field_def = fields.get(name) if fields else None
        if field_def is None:
            return 1.0
        spec = COSTS.get(f"{parent.name}.{name}", FieldCost())
        args = {a.name.value: _value(a.value, variables) for a in node.arguments or ()}
        if spec.bound is not None:
            multiplier = spec.bound(args, parent_args)
        elif _is_list(field_def.type):
            multiplier = float(PAGE_MAX)  # a list without a declared bound: assume a full page
        else:
            multiplier = 1.0
        weight = spec.weight(parent_args, parent_field) if callable(spec.weight) else spec.weight
        below = 0.0
        if node.selection_set is not None and _named(field_def.type).name in FLAT_TYPES:
            below = 1.0
        elif node.selection_set is not None:
            path = f"{parent.name}.{name}"
            target = _named(field_def.type)
            below = self._cost(schema, target, node.selection_set, variables, args, path, memo)
        return spec.base + weight * max(multiplier, 1.0) + multiplier * below


