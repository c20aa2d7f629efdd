"""Rate-limit admission of a whole mutation request before any of it runs.

Mutation fields are non-null in the contract, so one refused field would null `data` and
hide which of its siblings had been saved (40 aliased `createReport` used to save 30 and
answer `data: null`). Instead the request's limited fields are counted one by one (aliases,
fragments and inline fragments included) and every budget they spend is reserved at once:
either all of them fit and the request runs, or none is reserved, nothing runs, `data` is
null and each limited field gets its own RATE_LIMITED error (with `retryAfter`) on its
path. "Nothing was saved" is then exactly what the answer says.

Also here: a websocket operation the gate refused is paused as a refused HTTP request is
(slow_down; domain.ratelimit.Slowdown).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
)

from domain.ratelimit import TooMany, address_key
from schema.documents import NOT_TRUSTED

# Mutation field -> the limited action it is (domain/ratelimit.py Limits.actions).
ACTIONS = {"register": "register", "login": "login", "createReport": "create_report",
           "uploadMedia": "upload_media", "addComment": "add_comment"}  # fmt: skip


def _operation(document: DocumentNode, name: str | None) -> OperationDefinitionNode | None:
    ops = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if name:
        return next((o for o in ops if o.name and o.name.value == name), None)
    return ops[0] if len(ops) == 1 else None


def root_fields(document: DocumentNode, operation_name: str | None) -> Iterator[tuple[str, str]]:
    """(field name, response key) of every root field of the operation, through fragments;
    @skip/@include are ignored (a field that might run is counted)."""
    op = _operation(document, operation_name)
    if op is None:
        return
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    yield from _walk(op.selection_set, fragments, set())


def _walk(
    selection_set: SelectionSetNode, fragments: dict[str, FragmentDefinitionNode], seen: set[str]
) -> Iterator[tuple[str, str]]:
    """root_fields' recursion; a module function, not a closure (a recursive closure is a
    reference cycle per request, left to the garbage collector)."""
    for sel in selection_set.selections:
        if isinstance(sel, FieldNode):
            yield sel.name.value, (sel.alias or sel.name).value
        elif isinstance(sel, InlineFragmentNode):
            yield from _walk(sel.selection_set, fragments, seen)
        elif isinstance(sel, FragmentSpreadNode) and sel.name.value not in seen:
            seen.add(sel.name.value)
            fragment = fragments.get(sel.name.value)
            if fragment is not None:
                yield from _walk(fragment.selection_set, fragments, seen)


def client_address(request: Any) -> str:
    """The rate-limit key of the caller's address (uvicorn has already applied a trusted
    proxy's X-Forwarded-For to `client`: see README "Behind a reverse proxy")."""
    client = getattr(request, "client", None)
    return address_key(client.host if client else None)


async def admit(document: DocumentNode, operation_name: str | None, context: Any) -> list[GraphQLError]:
    """A mutation request's limited fields, all admitted at once (nothing refused: []) or
    each refused on its own path (nothing may run)."""
    limiter = _limiter(context)
    if limiter is None:
        return []
    # Every other mutation spends the user's budget of writes: a vote, a follow, a setting each
    # writes and publishes an event every subscriber hears (aliased by the hundred, unbudgeted).
    fields = root_fields(document, operation_name)
    limited = [(name, key) for name, key in fields if not name.startswith("__")]
    if not limited:
        return []
    actions = Counter(ACTIONS.get(name, "write") for name, _ in limited)
    viewer = getattr(context, "viewer", None)
    try:
        await limiter.admit(dict(actions), viewer.id if viewer else None, client_address(context.request))
    except TooMany as exc:
        return [GraphQLError(exc.message, path=[key], original_error=exc) for _, key in limited]
    return []


def _app_state(context: Any, name: str) -> Any:
    """The app's `name` (app.state), or None outside an app."""
    app = getattr(getattr(context, "request", None), "app", None)
    return getattr(getattr(app, "state", None), name, None)


def _limiter(context: Any) -> Any:
    return _app_state(context, "limiter")


async def slow_down(context: Any, refusal: list[GraphQLError]) -> None:
    """A websocket operation the gate refused waits as a refused HTTP request does when its
    client address has erred too often (domain.ratelimit.Slowdown, serving/refusals.py):
    refused documents in a loop cost no more over a socket. Not for refusals that depend on
    the caller (an unregistered document from a signed-out client)."""
    slowdown = _app_state(context, "slowdown")
    code = (refusal[0].extensions or {}).get("code") if refusal else None
    if slowdown is None or code == NOT_TRUSTED:
        return
    client = getattr(context.request, "client", None)
    await slowdown.pause(client.host if client else None)
