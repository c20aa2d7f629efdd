"""Refused GraphQL requests answered again without running the pipeline.

A document the gate refuses (schema/documents.py: it does not parse or validate, or is too
deep, too wide or too costly with its variables) is refused the same way every time it is
sent, whoever sends it: nothing in those verdicts depends on the caller. A client that
sends such a request in a loop would still cost one trip through the GraphQL view per
request (body parsing, context, authentication, error formatting: about as much as an honest
request). So the view's answer to a refused request is kept here by the request's exact
bytes (query string, content type, Accept, body) and sent again as it was, before the view
runs. Refusals that depend on the caller (an unregistered document from a signed-out client
when only registered ones are accepted) are not kept.

Bounded by entries and by the bytes of the bodies kept; cleared when the reference data (the
catalog, whose sizes bound the cost model) is reloaded.

Even answered from here, a refusal is a request the server reads and answers: a client that
sends refused documents in a loop (issue 12's cycle query, eight connections) took a fifth
of the server from honest clients. So a client address whose requests keep being refused
waits before each further refusal (Slowdown): its first few come at once (a developer's
mistakes while writing a query), then they come as slowly as the client is allowed to err,
which costs the server a sleeping coroutine, not a core. Honest requests from the same
address (a carrier's shared address) are never delayed.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from domain.catalog import catalog
from schema.documents import GATE_PASSED, GATE_REFUSED
from serving.guard import pause_refused
from telemetry import metrics

Scope = dict[str, Any]
Message = dict[str, Any]
Send = Callable[[Message], Awaitable[None]]

MAX_BODY = 16 * 1024  # larger requests are not kept (nor read ahead)


@dataclass(frozen=True)
class Refusal:
    start: Message
    body: bytes
    kind: str
    code: str | None


class Refusals:
    def __init__(self, max_entries: int = 1024, max_bytes: int = 8 << 20) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.bytes = 0
        self.hits = 0
        self._entries: OrderedDict[tuple[bytes, ...], Refusal] = OrderedDict()
        self._catalog: Any = None

    def _key(self, scope: Scope, body: bytes) -> tuple[bytes, ...]:
        content_type = accept = b""
        signed_in = b"-"
        for name, value in scope["headers"]:
            if name == b"content-type":
                content_type = value
            elif name == b"accept":
                accept = value
            elif name == b"authorization":
                signed_in = b"+"  # which refusal comes first may depend on it (trusted documents)
        return scope["method"].encode(), scope.get("query_string", b""), content_type, accept, signed_in, body

    def lookup(self, scope: Scope, body: bytes) -> Refusal | None:
        if self._catalog is not catalog():
            self._entries.clear()
            self.bytes = 0
            self._catalog = catalog()
        found = self._entries.get(self._key(scope, body))
        if found is not None:
            self.hits += 1
        return found

    def keep(self, scope: Scope, body: bytes, refusal: Refusal) -> None:
        key = self._key(scope, body)
        size = len(body) + len(refusal.body) + len(scope.get("query_string", b""))
        if key in self._entries:
            return
        self._entries[key] = refusal
        self.bytes += size
        while len(self._entries) > self.max_entries or self.bytes > self.max_bytes:
            (*_, old_body), old = self._entries.popitem(last=False)
            self.bytes -= len(old_body) + len(old.body)

    async def serve(
        self,
        scope: Scope,
        receive: Callable[[], Awaitable[Message]],
        send: Callable[[Message], Awaitable[None]],
        app: Callable[..., Awaitable[None]],
        kind_of: Callable[[bytes], str],
    ) -> None:
        """Answer a kept refusal, or run `app` and keep its answer if the gate refused it;
        either way, a refusal waits first if its client has erred too often (Slowdown)."""
        if scope["method"] not in ("GET", "POST"):
            await app(scope, receive, send)
            return
        body = b""
        more = scope["method"] == "POST"
        replay: list[Message] = []
        while more:
            message = await receive()
            replay.append(message)
            if message["type"] != "http.request":
                break
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if more and len(body) > MAX_BODY:  # not one to keep: hand over what was read
                await app(scope, _replaying(replay, receive), self._slowed(scope, send))
                return
        if not more and len(body) <= MAX_BODY:
            found = self.lookup(scope, body)
            if found is not None:
                await pause_refused(scope)
                started = time.perf_counter()
                await send({**found.start, "headers": list(found.start["headers"])})  # copies: the
                await send({"type": "http.response.body", "body": found.body})  # layers outside edit them
                metrics.graphql_request(found.kind, found.code, time.perf_counter() - started)
                return
        sent: list[Message] = []
        slowed = self._slowed(scope, send)

        async def capture(message: Message) -> None:
            sent.append({**message, "headers": list(message.get("headers", ()))})
            await slowed(message)

        await app(scope, _replaying(replay, receive), capture)
        code = _refused(scope)
        if code is None or len(body) > MAX_BODY:
            return
        if len(sent) != 2 or sent[1].get("more_body"):
            return
        self.keep(scope, body, Refusal(sent[0], sent[1].get("body", b""), kind_of(body), code))

    def _slowed(self, scope: Scope, send: Send) -> Send:
        """`send`, which first waits (pause_refused) when the answer it starts is a gate's refusal: a
        client varying its refused documents' bytes (none kept) waits as well."""

        async def slowed(message: Message) -> None:
            if message["type"] == "http.response.start" and _refused(scope) is not None:
                await pause_refused(scope)
            await send(message)

        return slowed


def _refused(scope: Scope) -> str | None:
    """The gate's refusal code of this request, when it was refused for anyone (not kept when
    the refusal depends on the caller: GATE_PASSED)."""
    state = scope.get("state") or {}
    code = state.get(GATE_REFUSED)
    return None if code is None or state.get(GATE_PASSED) else code


Receive = Callable[[], Awaitable[Message]]


def _replaying(messages: list[Message], receive: Receive) -> Receive:
    pending = list(messages)

    async def replay() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replay
