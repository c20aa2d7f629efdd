"""A compiled fast path for read queries.

graphql-core resolves every field through a generic, per-field machinery (info objects,
middleware, awaitable checks, error paths): for a 20-report feed that is over 400 field
executions and most of the request's time. Here a query document is compiled once (cached by
its text) into a plan that knows, for each selected field, whether it is a plain attribute or
a resolver, its arguments, and how to serialise or descend into the result; executing the
plan is then a tight loop with the same resolvers, DataLoaders (siblings are gathered level by
level, so batching is unchanged) and scalar serialisers.

Anything the plan does not cover (mutations, interfaces or unions, merged duplicate fields, a
field error or null in a non-null position, a leaf its type cannot represent, an Info
attribute FastInfo does not provide, invalid documents) falls back to the regular executor,
which produces the exact errors: a query is side-effect free, so running it again there is
safe. The first failing field cancels its siblings (a TaskGroup per level) rather than leaving
them running meanwhile. Every fallback is counted by its reason (`FastExecutor.fallbacks`,
shown in /healthz).

Subscriptions: the same plans render each event, and once per event for every subscriber
with the same selection (and the same viewer, where the selection shows viewer-specific
fields): subscriptions/sharing.py.

The plans walk strawberry's and graphql-core's own structures (resolvers, argument
conversion, type maps): BUILT_AGAINST names the versions they were written for, pinned in
pyproject.toml (tests/unit/test_fast_path_versions.py fails on any other).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import Counter, OrderedDict
from collections.abc import AsyncGenerator, Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from typing import Any
from weakref import WeakMethod

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLEnumType,
    GraphQLField,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLResolveInfoHelpers,
    GraphQLScalarType,
    GraphQLSchema,
    InlineFragmentNode,
    Node,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    Undefined,
    VariableNode,
    execute,
    parse,
    validate,
)
from graphql.error import GraphQLError
from graphql.execution.values import get_argument_values, get_directive_values, get_variable_values
from graphql.type.directives import GraphQLIncludeDirective, GraphQLSkipDirective
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.types.arguments import convert_arguments
from strawberry.types.execution import ExecutionResult

from schema import policy
from schema.errors import to_client_error
from schema.tasks import close_unstarted
from subscriptions.sharing import SharedEvent, SharedRenderings

# The versions the plans were written against (pinned in pyproject.toml): strawberry's field
# and resolver objects and graphql-core's execution helpers are read here as they are there.
BUILT_AGAINST = {"strawberry-graphql": "0.341.2", "graphql-core": "3.3.2"}


class ExecutionContext(StrawberryGraphQLCoreExecutionContext):
    """The regular executor, taught to unwrap SharedEvent payloads (selections the plan does
    not cover), each rendered with the event's own context."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # graphql-core's helpers are bound methods of the executor it holds: a reference cycle
        # per execution (and, for a subscription, its context kept until a full collection, or
        # frozen with the connection until a thaw, off by default). Weak ones free it by refcount.
        self.async_helpers = GraphQLResolveInfoHelpers(
            gather=_weak_method(self.gather_async_work), track=_weak_method(self.track_async_work)
        )

    def build_per_event_executor(self, payload: Any) -> Any:
        if not isinstance(payload, SharedEvent):
            return super().build_per_event_executor(payload)
        context = payload.context()
        executor = super().build_per_event_executor(payload.make())
        executor.context_value = context
        return executor


def _weak_method(method: Any) -> Callable[..., Any]:
    """`method` called through a weak reference to its object (alive while it runs)."""
    ref = WeakMethod(method)

    def call(*args: Any, **kwargs: Any) -> Any:
        return ref()(*args, **kwargs)  # type: ignore[misc]

    return call


def _awaitable(value: Any) -> bool:
    """Cheaper than inspect.isawaitable for the common case of plain values."""
    return hasattr(value, "__await__")


class Unsupported(Exception):
    """The plan cannot (or must not) answer this request: use the regular executor. `reason`
    names the construct or event, as counted in FastExecutor.fallbacks."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _reason(exc: BaseException) -> str:
    """Why a run fell back: an Unsupported's reason, else a field's error (graphql-core reports
    it). A failing level raises its TaskGroup's group: its first error names it."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc.reason if isinstance(exc, Unsupported) else "field error"


@dataclass
class FieldPlan:
    key: str
    node: FieldNode
    typename: str | None = None  # for __typename
    python_name: str = ""
    resolver: Any = None  # strawberry StrawberryResolver, or None for a plain attribute
    field_def: GraphQLField | None = None
    strawberry_field: Any = None
    kind: str = "leaf"  # leaf | object | list_leaf | list_object
    nullable: bool = True
    item_nullable: bool = True
    serialize: Callable[[Any], Any] | None = None
    sub: list[FieldPlan] = field(default_factory=list)
    conditional: bool = False
    has_args: bool = False
    info_name: str | None = None
    self_param: bool = False
    root_name: str | None = None
    is_async: bool = False
    # A root field's resolver that takes info is told the names selected below it (once per
    # request, so the per-item fields below pay nothing).
    selected: frozenset[str] | None = None
    # Renders this object in place of the plain walk (schema/renderings.py: shared renderings).
    render: Callable[[FastExecutor, Any, FastInfo], Any] | None = None


@dataclass
class Plan:
    operation: OperationDefinitionNode
    fields: list[FieldPlan]
    document: DocumentNode | None = None
    share_variables: tuple[str, ...] = ()  # variables the root field's selection reads
    per_viewer: bool = False  # the selection shows viewer-specific fields
    aggregate: bool = False  # some field is an aggregate: versioned by every process's commits
    min_interval: float = 0.0  # all are: recomputed at most this often (schema/cache.py)
    source: Hashable = None  # (document text, operation name): what renderings are shared by

    def audience(self, viewer: Any) -> Hashable:
        """Who may be given the same answer as this viewer (schema/policy.py)."""
        return policy.audience(self.per_viewer, viewer)


class FastInfo:
    """What our resolvers read from `info`: the context and the variables, nothing else. Any
    other attribute read is counted (FastExecutor.info_misses, by name) and makes the request
    fall back: graphql-core's Info has it. tests/conftest.py fails the test in which it
    happened, so a resolver starting to read one is noticed, not silently slower."""

    __slots__ = ("_executor", "context", "selected_names", "variable_values")

    def __init__(
        self, context: Any, variables: dict[str, Any], executor: FastExecutor,
        selected_names: frozenset[str] | None = None,
    ) -> None:  # fmt: skip
        self.context = context
        self.variable_values = variables
        self._executor = executor
        # A root field's own: the names of the fields selected below it (resolvers.convert.asks).
        self.selected_names = selected_names

    def with_context(self, context: Any) -> FastInfo:
        """The same request's info over another context (a rendering's own, the public's)."""
        return FastInfo(context, self.variable_values, self._executor, self.selected_names)

    def __getattr__(self, name: str) -> Any:  # only for what the slots do not provide
        if name.startswith("__"):
            raise AttributeError(name)  # Python's own protocol probes (copy, pickle)
        self._executor.info_misses[name] += 1
        raise Unsupported("info attribute")


class FastExecutor:
    def __init__(self, schema: Any, max_plans: int = 256) -> None:
        self.schema = schema
        self.gql: GraphQLSchema = schema._schema
        # A document's plan, or why it has none (the fallback's reason, counted per request).
        self.plans: OrderedDict[tuple[str, str | None], Plan | str] = OrderedDict()
        self.max_plans = max_plans
        self._fields: dict[str, dict[str, Any]] = {}
        self.sharing = SharedRenderings()  # subscription events rendered once per selection
        self.prepare: Callable[[Plan], None] | None = None  # called on each new plan
        # Requests (and subscription events) the regular executor answered instead, by reason:
        # "compile: <construct>" for documents the plans do not cover, "run: <reason>" for a
        # query that started here, "event: <reason>" for a subscription event.
        self.fallbacks: Counter[str] = Counter()
        self.info_misses: Counter[str] = Counter()  # Info attributes resolvers asked for, by name

    def _fell_back(self, where: str, reason: str) -> None:
        self.fallbacks[f"{where}: {reason}"] += 1

    def status(self) -> dict[str, Any]:
        """For /healthz."""
        return {
            "enabled": True,
            "plans": sum(1 for p in self.plans.values() if isinstance(p, Plan)),
            "uncovered_documents": sum(1 for p in self.plans.values() if isinstance(p, str)),
            "fallbacks": dict(sorted(self.fallbacks.items())),
            "info_attributes_missing": dict(sorted(self.info_misses.items())),
            "subscription_renders": self.sharing.renders,
        }

    # ------------------------------------------------------------ compiling

    def plan(
        self, query: str, operation_name: str | None, kind: OperationType = OperationType.QUERY,
        document: DocumentNode | None = None,
    ) -> Plan | None:  # fmt: skip
        """The plan of a document; `document` is the parsed and validated one of the shared
        cache (schema/documents.py: limits and validation rules already passed)."""
        if not isinstance(operation_name, str | None):
            self._fell_back("compile", "operation name")
            return None
        key = (query, operation_name)
        plan: Plan | str
        if key in self.plans:
            self.plans.move_to_end(key)
            plan = self.plans[key]
        else:
            try:
                if document is None:
                    document = parse(query)
                    if validate(self.gql, document):
                        raise Unsupported("invalid document")
                plan = self._compile(document, operation_name)
                plan.source = key
                if self.prepare is not None:
                    self.prepare(plan)
            except Unsupported as exc:
                plan = exc.reason
            except GraphQLError:
                plan = "invalid document"
            self.plans[key] = plan
            if len(self.plans) > self.max_plans:
                self.plans.popitem(last=False)
        if isinstance(plan, str):
            self._fell_back("compile", plan)
            return None
        if plan.operation.operation != kind:
            self._fell_back("compile", f"{plan.operation.operation.value} where a {kind.value} runs")
            return None
        return plan

    def _compile(self, document: DocumentNode, operation_name: str | None) -> Plan:
        operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
        if operation_name is not None:
            operations = [o for o in operations if o.name and o.name.value == operation_name]
        if len(operations) != 1:
            raise Unsupported("operation choice")
        operation = operations[0]
        fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
        if operation.operation == OperationType.QUERY:
            assert self.gql.query_type is not None
            fields = self._selection(self.gql.query_type, operation.selection_set, fragments)
            intervals = [_metadata(f, "min_interval") for f in fields]
            return Plan(operation, fields, document, per_viewer=_per_viewer(walk(fields)),
                        aggregate=any(intervals), min_interval=min(intervals))  # fmt: skip
        if operation.operation != OperationType.SUBSCRIPTION:
            raise Unsupported(operation.operation.value)
        assert self.gql.subscription_type is not None
        fields = self._selection(self.gql.subscription_type, operation.selection_set, fragments)
        if len(fields) != 1 or fields[0].conditional or fields[0].resolver is None:
            raise Unsupported("subscription shape")
        below = walk(fields[0].sub)
        variables = sorted({v for f in below for v in _variables(f.node)})
        return Plan(operation, fields, document, tuple(variables), _per_viewer(below))

    def _strawberry_fields(self, type_name: str) -> dict[str, Any]:
        found = self._fields.get(type_name)
        if found is None:
            definition = self.schema.get_type_by_name(type_name)
            if definition is None or not hasattr(definition, "fields"):
                raise Unsupported("type without fields")
            converter = self.schema.config.name_converter
            found = self._fields[type_name] = {converter.get_graphql_name(f): f for f in definition.fields}
        return found

    def _selection(
        self, parent: GraphQLObjectType, selection_set: SelectionSetNode, fragments: dict[str, Any]
    ) -> list[FieldPlan]:
        out: list[FieldPlan] = []
        seen: set[str] = set()
        for node, conditional in self._flatten(parent, selection_set, fragments, False):
            key = node.alias.value if node.alias else node.name.value
            if key in seen:
                raise Unsupported("merged fields")  # merging repeated fields is left to graphql-core
            seen.add(key)
            out.append(self._field(parent, node, key, conditional, fragments))
        return out

    def _flatten(
        self, parent: GraphQLObjectType, selection_set: SelectionSetNode, fragments: dict[str, Any],
        conditional: bool,
    ) -> list[tuple[FieldNode, bool]]:  # fmt: skip
        nodes: list[tuple[FieldNode, bool]] = []
        for sel in selection_set.selections:
            has_directives = bool(sel.directives)
            if has_directives and any(d.name.value not in ("skip", "include") for d in sel.directives):
                raise Unsupported("directive")
            if isinstance(sel, FieldNode):
                nodes.append((sel, conditional or has_directives))
                continue
            if has_directives:
                raise Unsupported("conditional fragment")  # rare: leave them to graphql-core
            if isinstance(sel, FragmentSpreadNode):
                frag = fragments.get(sel.name.value)
                if frag is None or frag.type_condition.name.value != parent.name:
                    raise Unsupported("fragment on another type")
                nodes += self._flatten(parent, frag.selection_set, fragments, conditional)
            elif isinstance(sel, InlineFragmentNode):
                if sel.type_condition is not None and sel.type_condition.name.value != parent.name:
                    raise Unsupported("fragment on another type")
                nodes += self._flatten(parent, sel.selection_set, fragments, conditional)
        return nodes

    def _field(
        self,
        parent: GraphQLObjectType,
        node: FieldNode,
        key: str,
        conditional: bool,
        fragments: dict[str, Any],
    ) -> FieldPlan:
        name = node.name.value
        if name == "__typename":
            return FieldPlan(key=key, node=node, typename=parent.name, conditional=conditional)
        if name.startswith("__"):
            raise Unsupported("introspection")
        field_def = parent.fields[name]
        sfield = self._strawberry_fields(parent.name).get(name)
        if sfield is None:
            raise Unsupported("field strawberry does not define")
        plan = FieldPlan(key=key, node=node, python_name=sfield.python_name, resolver=sfield.base_resolver,
                         field_def=field_def, strawberry_field=sfield, conditional=conditional)  # fmt: skip
        if sfield.extensions or getattr(sfield, "permission_classes", None):
            raise Unsupported("field extension")
        if plan.resolver is not None:
            r = plan.resolver
            plan.has_args = bool(r.arguments)
            plan.info_name = r.info_parameter.name if r.info_parameter else None
            plan.self_param = r.self_parameter is not None
            plan.root_name = r.root_parameter.name if r.root_parameter else None
            plan.is_async = r.is_async
        gtype = field_def.type
        if isinstance(gtype, GraphQLNonNull):
            plan.nullable = False
            gtype = gtype.of_type
        listed = isinstance(gtype, GraphQLList)
        if listed:
            gtype = gtype.of_type  # type: ignore[union-attr]
            if isinstance(gtype, GraphQLNonNull):
                plan.item_nullable = False
                gtype = gtype.of_type
        if isinstance(gtype, GraphQLScalarType | GraphQLEnumType):
            plan.kind = "list_leaf" if listed else "leaf"
            # graphql-core 3.3's result coercion (`serialize` is its deprecated alias).
            plan.serialize = getattr(gtype, "coerce_output_value", None) or gtype.serialize
        elif isinstance(gtype, GraphQLObjectType):
            if node.selection_set is None:
                raise Unsupported("invalid document")
            plan.kind = "list_object" if listed else "object"
            plan.sub = self._selection(gtype, node.selection_set, fragments)
            if plan.info_name and parent is self.gql.query_type:
                # A conditional field may be left out: counted as not selected (nothing early).
                plan.selected = frozenset(f.node.name.value for f in plan.sub if not f.conditional)
        else:
            raise Unsupported("abstract type or nested list")  # interfaces, unions, [[T]]
        return plan

    # ------------------------------------------------------------ executing

    async def try_execute(
        self, query: str | None, variables: dict[str, Any] | None, context: Any, operation_name: str | None
    ) -> ExecutionResult | None:
        plan = self.plan(query, operation_name) if query else None
        return await self.run(plan, variables, context) if plan is not None else None

    async def run(self, plan: Plan, variables: dict[str, Any] | None, context: Any) -> ExecutionResult | None:
        """A query plan's answer, or None when the regular executor must answer instead."""
        coerced = get_variable_values(self.gql, plan.operation.variable_definitions or [], variables or {})
        if isinstance(coerced, list):
            self._fell_back("run", "variables")  # variable errors: the regular path reports them
            return None
        info = FastInfo(context, coerced, self)
        try:
            data = self._object(plan.fields, None, info)
            if _awaitable(data):
                data = await data
        except Exception as exc:
            self._fell_back("run", _reason(exc))
            return None
        return ExecutionResult(data=data, errors=None)

    def subscribe(
        self, query: str | None, variables: dict[str, Any] | None, context: Any, operation_name: str | None,
        document: DocumentNode | None = None,
    ) -> AsyncGenerator[ExecutionResult, None] | None:  # fmt: skip
        """The response stream of a covered subscription, or None for the regular path."""
        if not query:
            return None
        plan = self.plan(query, operation_name, OperationType.SUBSCRIPTION, document)
        if plan is None:
            return None
        coerced = get_variable_values(self.gql, plan.operation.variable_definitions or [], variables or {})
        if isinstance(coerced, list):
            self._fell_back("run", "variables")
            return None
        return self._stream(plan, coerced, context, variables)

    async def _stream(
        self, plan: Plan, coerced: dict[str, Any], context: Any, raw_variables: dict[str, Any] | None
    ) -> AsyncGenerator[ExecutionResult, None]:
        root = plan.fields[0]
        info = FastInfo(context, coerced, self)
        # Keyed by the document and operation (a freed plan's id could be reused by another).
        selection = (plan.source, json.dumps([coerced.get(v) for v in plan.share_variables], default=str))
        try:
            source = self._resolve(root, None, info)
            async with contextlib.aclosing(source):
                async for payload in source:
                    yield await self._event_result(plan, payload, selection, info, raw_variables)
                    # Waiting for its next event, a stream keeps nothing of its last one alive:
                    # survivors of a young collection are walked again (subscriptions/heap.py).
                    del payload
        except Exception as exc:  # as graphql-core reports an error raised by the source stream
            error = exc if isinstance(exc, GraphQLError) else GraphQLError(str(exc), original_error=exc)
            yield ExecutionResult(data=None, errors=[to_client_error(error)])

    async def _event_result(
        self, plan: Plan, payload: Any, selection: tuple[str, str], info: FastInfo,
        raw_variables: dict[str, Any] | None,
    ) -> ExecutionResult:  # fmt: skip
        """One event of a subscription as its subscriber receives it: the shared rendering of
        a SharedEvent, else one of its own, else the regular executor's."""
        root, context = plan.fields[0], info.context
        if isinstance(payload, SharedEvent):
            # The audience is read per event: a role change applies to the next one.
            audience = plan.audience(getattr(context, "viewer", None))
            data = await self.sharing.once(
                (payload.key, *selection, audience), _event_renderer(self, root, payload, info), RENDERER_GONE
            )
        else:
            data = await self._render(root, payload, info)
        if not isinstance(data, _Fallback):
            return ExecutionResult(data={root.key: data}, errors=None)
        self._fell_back("event", data.reason)  # the plan cannot render it: the regular executor
        if isinstance(payload, SharedEvent):
            value, own = payload.make(), payload.context()
        else:
            value, own = payload, context
        return await self._regular_event(plan, value, own, raw_variables)

    async def _render(self, root: FieldPlan, value: Any, info: FastInfo) -> Any:
        """An event's rendering, or a _Fallback saying why the regular executor must render it."""
        try:
            data = self._complete(root, value, info)
            return await data if _awaitable(data) else data
        except Exception as exc:
            return _Fallback(_reason(exc))

    async def _regular_event(
        self, plan: Plan, value: Any, context: Any, variables: dict[str, Any] | None
    ) -> ExecutionResult:
        result = execute(
            self.gql, plan.document, root_value=value, context_value=context,  # type: ignore[arg-type]
            variable_values=variables, executor_class=ExecutionContext,
            operation_name=plan.operation.name.value if plan.operation.name else None,
        )  # fmt: skip
        if _awaitable(result):
            result = await result  # type: ignore[misc]
        errors = [to_client_error(e) for e in result.errors] if result.errors else None  # type: ignore[union-attr]
        return ExecutionResult(data=result.data, errors=errors)  # type: ignore[union-attr]

    def _included(self, f: FieldPlan, info: FastInfo) -> bool:
        skip = get_directive_values(GraphQLSkipDirective, f.node, info.variable_values)
        if skip and skip.get("if") is True:
            return False
        include = get_directive_values(GraphQLIncludeDirective, f.node, info.variable_values)
        return not (include and include.get("if") is False)

    def _resolve(self, f: FieldPlan, source: Any, info: FastInfo) -> Any:
        if f.resolver is None:
            return getattr(source, f.python_name)
        kwargs: dict[str, Any] = {}
        if f.has_args:
            raw = get_argument_values(f.field_def, f.node, info.variable_values)  # type: ignore[arg-type]
            registry = self.schema.schema_converter.scalar_registry
            kwargs = convert_arguments(raw, f.resolver.arguments, registry, self.schema.config)
        if f.info_name:
            kwargs[f.info_name] = (
                info if f.selected is None else FastInfo(info.context, info.variable_values, self, f.selected)
            )
        if f.root_name:
            kwargs[f.root_name] = source
        func = f.resolver.wrapped_func
        return func(source, **kwargs) if f.self_param else func(**kwargs)

    def _object(self, fields: list[FieldPlan], source: Any, info: FastInfo) -> Any:
        out: dict[str, Any] = {}
        pending: list[tuple[str, Awaitable[Any]]] = []
        try:
            self._fill(fields, source, info, out, pending)
        except BaseException:
            for _, aw in pending:  # never started: close them, and what they would have awaited
                close_unstarted(aw)
            raise
        if not pending:
            return out
        return self._gather_into(out, pending)

    def _fill(
        self, fields: list[FieldPlan], source: Any, info: FastInfo, out: dict[str, Any],
        pending: list[tuple[str, Awaitable[Any]]],
    ) -> None:  # fmt: skip
        for f in fields:
            if f.conditional and not self._included(f, info):
                continue
            if f.typename is not None:
                out[f.key] = f.typename
                continue
            value = self._resolve(f, source, info)
            if _awaitable(value):
                out[f.key] = None
                pending.append((f.key, self._after(f, value, info)))
                continue
            done = self._complete(f, value, info)
            if _awaitable(done):
                out[f.key] = None
                pending.append((f.key, done))
            else:
                out[f.key] = done

    async def _gather_into(
        self, out: dict[str, Any], pending: list[tuple[str, Awaitable[Any]]]
    ) -> dict[str, Any]:
        """The pending fields, concurrently: the first to fail cancels the others (they must not
        go on running while the regular executor answers the request again)."""
        if len(pending) == 1:  # no need for a task (this coroutine is one already, gathered above)
            key, aw = pending[0]
            out[key] = await aw
            return out
        async with asyncio.TaskGroup() as group:
            tasks = [(key, group.create_task(aw)) for key, aw in pending]  # type: ignore[arg-type]
        for key, task in tasks:
            out[key] = task.result()
        return out

    async def _after(self, f: FieldPlan, awaitable: Awaitable[Any], info: FastInfo) -> Any:
        done = self._complete(f, await awaitable, info)
        return await done if _awaitable(done) else done

    def _complete(self, f: FieldPlan, value: Any, info: FastInfo) -> Any:
        if value is None:
            if not f.nullable:
                raise Unsupported(NULL)  # null propagation: let graphql-core do it by the book
            return None
        kind = f.kind
        if kind == "leaf":  # _leaf, inlined: most fields are leaves
            try:
                out = f.serialize(value)  # type: ignore[misc]
            except Exception as exc:
                raise Unsupported(LEAF) from exc
            if out is None or out is Undefined:
                raise Unsupported(LEAF)
            return out
        if kind == "object":
            if f.render is not None:
                return f.render(self, value, info)
            return self._object(f.sub, value, info)
        if kind == "list_leaf":
            if not f.item_nullable and any(v is None for v in value):
                raise Unsupported(NULL)
            return [None if v is None else _leaf(f, v) for v in value]
        items = []
        waiting = False
        try:
            for v in value:
                if v is None:
                    if not f.item_nullable:
                        raise Unsupported(NULL)
                    items.append(None)
                    continue
                done = self._object(f.sub, v, info)
                waiting = waiting or _awaitable(done)
                items.append(done)
        except BaseException:
            for item in items:  # the items built so far never started
                close_unstarted(item)
            raise
        if not waiting:
            return items
        return self._gather_list(items)

    async def _gather_list(self, items: list[Any]) -> list[Any]:
        """The awaitable items, concurrently; the first to fail cancels the others."""
        async with asyncio.TaskGroup() as group:
            tasks = [(i, group.create_task(x)) for i, x in enumerate(items) if _awaitable(x)]
        for i, task in tasks:
            items[i] = task.result()
        return items


NULL = "null in a non-null position"
LEAF = "leaf coercion"


def _leaf(f: FieldPlan, value: Any) -> Any:
    """A scalar or enum value as graphql-core coerces it: its type's coerce_output_value, whose
    None (or Undefined) is an error there, as is an exception. Either falls back."""
    try:
        out = f.serialize(value)  # type: ignore[misc]
    except Exception as exc:
        raise Unsupported(LEAF) from exc
    if out is None or out is Undefined:
        raise Unsupported(LEAF)
    return out


class _Fallback:
    """An event rendering that could not be made here, and why (shared with every subscriber
    of the same rendering, each of whom then asks the regular executor)."""

    __slots__ = ("reason",)

    def __init__(self, reason: str) -> None:
        self.reason = reason


RENDERER_GONE = _Fallback("shared rendering failed")


def _event_renderer(executor: FastExecutor, root: FieldPlan, event: SharedEvent, info: FastInfo) -> Any:
    """What renders a shared event, with its own context (fresh loaders primed with its rows),
    when the first of its subscribers asks."""

    async def render() -> Any:
        return await executor._render(root, event.make(), info.with_context(event.context()))

    return render


def _metadata(f: FieldPlan, name: str) -> float:
    return float(f.strawberry_field.metadata.get(name, 0.0)) if f.strawberry_field is not None else 0.0


def _per_viewer(fields: list[FieldPlan]) -> bool:
    """Whether any of the fields may answer differently to different viewers (schema/policy.py)."""
    return any(f.strawberry_field is not None and policy.per_viewer(f.strawberry_field) for f in fields)


def walk(fields: list[FieldPlan]) -> list[FieldPlan]:
    """Every field of a plan's selection, depth first."""
    out: list[FieldPlan] = []
    for f in fields:
        out.append(f)
        out += walk(f.sub)
    return out


def _variables(node: FieldNode) -> set[str]:
    """Variables a field's own arguments and directives read (not its selection's)."""
    found: set[str] = set()
    stack: list[Any] = [*(node.arguments or ()), *(node.directives or ())]
    while stack:
        n = stack.pop()
        if isinstance(n, VariableNode):
            found.add(n.name.value)
        elif isinstance(n, Node):
            for k in n.keys:
                v = getattr(n, k, None)
                if isinstance(v, list | tuple):
                    stack.extend(v)
                elif isinstance(v, Node):
                    stack.append(v)
    return found
