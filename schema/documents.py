"""Every GraphQL document is parsed, measured and validated once per distinct text, and every
request is checked against it before anything runs: one gate for every path (the compiled
fast path, graphql-core, both websocket protocols).

A request's document passes, in order: the parser (at most `max_tokens` tokens), the aliases
and depth limits (on the syntax tree alone, so a document built to be expensive to validate,
like 100,000 aliases, is refused before validation), the validation rules (the specification's,
strawberry's own two, and no introspection when it is switched off), then, per request, the
variables (coerced as graphql-core would; NUL characters refused, since PostgreSQL cannot
store them) and the cost with those variables. A refusal is answered as the GraphQL-over-HTTP
spec's request error (no `data`), with a code: GRAPHQL_PARSE_FAILED,
GRAPHQL_VALIDATION_FAILED, QUERY_TOO_COMPLEX, BAD_USER_INPUT (with `field`) or
FORBIDDEN (an unregistered document from a signed-out client when only registered ones
are accepted).

Registered (trusted) documents: the dashboard's queries, listed with their SHA-256 in
schema/documents.json (`make documents` regenerates it from dashboard/queries.js). A client
may send one by hash (Apollo's `extensions.persistedQuery.sha256Hash`, or the trusted
documents convention `documentId`), and with GRAPHQL_TRUSTED_DOCUMENTS=anonymous signed-out
clients may run nothing else.
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from graphql import (
    DocumentNode,
    GraphQLError,
    GraphQLSchema,
    OperationDefinitionNode,
    OperationType,
    StringValueNode,
    parse,
    specified_rules,
    validate,
    visit,
)
from graphql.execution.values import get_variable_values
from graphql.language import Visitor
from graphql.validation import NoSchemaIntrospectionCustomRule
from strawberry.schema.validation_rules.maybe_null import MaybeNullValidationRule
from strawberry.schema.validation_rules.one_of import OneOfInputValidationRule

from domain.catalog import catalog
from domain.validate import storable
from schema.limits import Limits, Measure, too_complex

MANIFEST = Path(__file__).resolve().parent / "documents.json"
PARSE_FAILED = "GRAPHQL_PARSE_FAILED"
VALIDATION_FAILED = "GRAPHQL_VALIDATION_FAILED"
NOT_FOUND = "PERSISTED_QUERY_NOT_FOUND"
NOT_TRUSTED = "FORBIDDEN"
BAD_INPUT = "BAD_USER_INPUT"
# Request scope state the gate leaves for the HTTP layer (serving/refusals.py): the code of a
# refusal that does not depend on the caller, or that a document passed.
GATE_REFUSED = "warga.gate_refused"
GATE_PASSED = "warga.gate_passed"

RULES = (*specified_rules, MaybeNullValidationRule, OneOfInputValidationRule)


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def request_error(message: str, code: str, **extensions: Any) -> GraphQLError:
    return GraphQLError(message, extensions={"code": code, **extensions})


def _with_code(error: GraphQLError, code: str) -> GraphQLError:
    return GraphQLError(
        error.message, nodes=error.nodes, source=error.source, positions=error.positions,
        extensions={"code": code, **(error.extensions or {})},
    )  # fmt: skip


class _StringLiterals(Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.unstorable = False

    def enter_string_value(self, node: StringValueNode, *_: Any) -> None:
        if not storable(node.value):
            self.unstorable = True


@dataclass
class Document:
    """One distinct text, parsed, measured and validated once."""

    text: str
    node: DocumentNode | None = None
    errors: list[GraphQLError] = field(default_factory=list)
    measure: Measure | None = None
    operations: dict[str | None, OperationDefinitionNode] = field(default_factory=dict)
    # The per-request half of the gate (variables coerced, NUL checked, cost), by operation
    # name and variables: a client sending the same request again is not measured again.
    verdicts: OrderedDict[tuple[Any, ...], Verdict] = field(default_factory=OrderedDict)
    catalog: Any = None  # the reference data the cost bounds were read from

    def operation(self, name: str | None) -> OperationDefinitionNode | None:
        if name is None and len(self.operations) == 1:
            return next(iter(self.operations.values()))
        return self.operations.get(name) if name is not None else None


@dataclass
class Checked:
    """A request that may run: its document, operation and coerced variables."""

    document: Document
    operation: OperationDefinitionNode | None
    variables: dict[str, Any] | None
    cost: float = 0.0


Verdict = Checked | list[GraphQLError] | None


class Documents:
    """The bounded cache of documents (by count and by the bytes of their texts)."""

    def __init__(self, schema: GraphQLSchema, max_entries: int = 1024, max_bytes: int = 16 << 20) -> None:
        self.schema = schema
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.bytes = 0
        self._entries: OrderedDict[tuple[str, Limits], Document] = OrderedDict()
        self.parses = 0  # documents parsed (tests count them)
        self.trusted = Registry.load(MANIFEST)

    def clear(self) -> None:
        self._entries.clear()
        self.bytes = 0

    def get(self, text: str, limits: Limits) -> Document:
        key = (text, limits)
        found = self._entries.get(key)
        if found is not None:
            self._entries.move_to_end(key)
            return found
        doc = self._build(text, limits)
        if len(text) <= self.max_bytes // 16:  # one huge document may not evict all the others
            self._entries[key] = doc
            self.bytes += len(text)
            while len(self._entries) > self.max_entries or self.bytes > self.max_bytes:
                (old, _), _ = self._entries.popitem(last=False)
                self.bytes -= len(old)
        return doc

    def _build(self, text: str, limits: Limits) -> Document:
        self.parses += 1
        doc = Document(text)
        try:
            # The source length bounds the lexer's work before the first token (and the cost of
            # locating an error in a huge text); the token count bounds the parser's.
            node = parse(text, max_tokens=limits.max_tokens, max_source_length=limits.max_tokens * 20)
        except GraphQLError as exc:
            if "Parsing aborted" in exc.message:  # too many tokens, code points, or nesting
                doc.errors = [too_complex(exc.message, "tokens", limits.max_tokens, limits.max_tokens + 1)]
            else:
                doc.errors = [_with_code(exc, PARSE_FAILED)]
            return doc
        measure = Measure(node)
        operations = [d for d in node.definitions if isinstance(d, OperationDefinitionNode)]
        aliases = max((measure.aliases(o.selection_set) for o in operations), default=0)
        if aliases > limits.max_aliases:
            doc.errors = [too_complex(
                f"The document has {aliases} aliases; at most {limits.max_aliases} are allowed.",
                "aliases", limits.max_aliases, aliases,
            )]  # fmt: skip
            return doc
        depth = max((measure.depth(o.selection_set) for o in operations), default=0)
        if depth > limits.max_depth:
            doc.errors = [too_complex(
                f"The document is {depth} levels deep; at most {limits.max_depth} are allowed.",
                "depth", limits.max_depth, depth,
            )]  # fmt: skip
            return doc
        rules = RULES if limits.introspection else (*RULES, NoSchemaIntrospectionCustomRule)
        errors = validate(self.schema, node, rules)
        if errors:
            doc.errors = [_with_code(e, VALIDATION_FAILED) for e in errors]
            return doc
        literals = _StringLiterals()
        visit(node, literals)
        if literals.unstorable:
            doc.errors = [request_error(UNSTORABLE.format("Text"), BAD_INPUT, field="query")]
            return doc
        doc.node, doc.measure = node, measure
        doc.operations = {o.name.value if o.name else None: o for o in operations}
        return doc

    def check(
        self, text: str | None, operation_name: Any, variables: Any, limits: Limits, viewer: Any
    ) -> Checked | list[GraphQLError] | None:
        """The request, checked; or the errors that refuse it; or None when there is no
        document to check (strawberry answers a missing query)."""
        if not isinstance(operation_name, str | None):
            return [request_error("`operationName` must be a string.", BAD_INPUT, field="operationName")]
        if not isinstance(variables, dict | None):
            return [request_error("`variables` must be an object.", BAD_INPUT, field="variables")]
        if not isinstance(text, str) or not text:
            return None
        if limits.trusted_only_anonymous and viewer is None and not self.trusted.knows(text):
            return [request_error(
                "Signed-out clients may only send registered documents: sign in, or send one by hash.",
                NOT_TRUSTED,
            )]  # fmt: skip
        doc = self.get(text, limits)
        if doc.errors:
            return doc.errors
        operation = doc.operation(operation_name)
        # A mutation's variables are new every time (its clientRequestId): not kept.
        mutation = operation is not None and operation.operation == OperationType.MUTATION
        key = None if mutation else _verdict_key(operation_name, variables)
        if key is None:
            return self._verdict(doc, operation_name, variables, limits)
        current = catalog()
        if doc.catalog is not current:  # new regions: new bounds, so new costs
            doc.verdicts.clear()
            doc.catalog = current
        found = doc.verdicts.get(key, _MISSING)
        if found is _MISSING:
            found = self._verdict(doc, operation_name, variables, limits)
            doc.verdicts[key] = found
            if len(doc.verdicts) > VERDICTS_PER_DOCUMENT:
                doc.verdicts.popitem(last=False)
        return found  # type: ignore[return-value]

    def _verdict(
        self, doc: Document, operation_name: str | None, variables: dict[str, Any] | None, limits: Limits
    ) -> Checked | list[GraphQLError] | None:
        operation = doc.operation(operation_name)
        if operation is None and operation_name is None and len(doc.operations) > 1:
            # The specification's request error. Let through, strawberry ran the first operation,
            # a mutation included, past the admission of its rate limits (a review, session 16).
            return [request_error(
                "The document holds several operations: name the one to run in `operationName`.",
                BAD_INPUT, field="operationName",
            )]  # fmt: skip
        if operation is None:
            return None  # strawberry answers an unknown operation name (400)
        coerced = get_variable_values(self.schema, operation.variable_definitions or [], variables or {})
        if isinstance(coerced, list):
            return [_variable_error(e) for e in coerced]
        bad = _unstorable_path(variables or {})
        if bad is not None:
            return [request_error(UNSTORABLE.format(f"`{bad}`"), BAD_INPUT, field=bad)]
        assert doc.measure is not None
        cost = doc.measure.cost(self.schema, operation, getattr(coerced, "coerced", coerced))
        if cost > limits.max_cost:
            return [too_complex(
                f"The query would cost {cost:.0f} points; at most {limits.max_cost} are allowed.",
                "cost", limits.max_cost, cost,
            )]  # fmt: skip
        return Checked(doc, operation, coerced, cost)


VERDICTS_PER_DOCUMENT = 64
MAX_VERDICT_VARIABLES = 2048  # bytes of JSON: larger variables are measured every time
_MISSING = object()


def _verdict_key(operation_name: str | None, variables: dict[str, Any] | None) -> tuple[Any, ...] | None:
    """The request's operation and variables as a key, or None when they are too large to keep
    (or not JSON: then they are coerced, and refused, every time)."""
    if not variables:
        return (operation_name,)
    try:
        text = json.dumps(variables, sort_keys=True, allow_nan=True)
    except (TypeError, ValueError):
        return None
    return (operation_name, text) if len(text) <= MAX_VERDICT_VARIABLES else None


def _variable_error(error: GraphQLError) -> GraphQLError:
    """graphql-core's coercion error, with the variable it concerns as `field`."""
    name = None
    for node in error.nodes or ():
        variable = getattr(node, "variable", None)
        if variable is not None:
            name = variable.name.value
            break
    return GraphQLError(
        error.message, nodes=error.nodes, source=error.source, positions=error.positions,
        extensions={"code": BAD_INPUT, "field": name or "variables"},
    )  # fmt: skip


UNSTORABLE = "{} may not contain NUL characters or unpaired surrogates."


def _unstorable_path(value: Any, path: str = "") -> str | None:
    """The path of the first string that is not `storable`, or None."""
    stack: list[tuple[str, Any]] = [(path, value)]
    while stack:
        where, v = stack.pop()
        if isinstance(v, str):
            if not storable(v):
                return where or "variables"
        elif isinstance(v, dict):
            for k, item in v.items():
                if isinstance(k, str) and not storable(k):
                    return f"{where}.{k}".lstrip(".")
                stack.append((f"{where}.{k}".lstrip("."), item))
        elif isinstance(v, list):
            stack.extend((f"{where}[{i}]", item) for i, item in enumerate(v))
    return None


@dataclass
class Registry:
    """The registered documents: hash -> text, from the manifest."""

    documents: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> Registry:
        if not path.exists():
            return cls()
        data = json.loads(path.read_text())
        return cls({sha256(d["document"]): d["document"] for d in data.get("documents", [])})

    def knows(self, text: str) -> bool:
        return sha256(text) in self.documents

    def lookup(self, document_id: str) -> str | None:
        key = document_id.removeprefix("sha256:").lower()
        return self.documents.get(key)

    def __iter__(self) -> Iterator[str]:
        return iter(self.documents.values())
