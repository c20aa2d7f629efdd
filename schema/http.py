"""GraphQL over HTTP as its specification says, on strawberry's ASGI view.

- `application/graphql-response+json`: a client that accepts it gets it, and then a request
  error (the document does not parse, validate, pass the limits, or its variables do not
  coerce: nothing ran) is a 400 without `data`; a client that accepts only
  `application/json` keeps the legacy behaviour (200).
- `operationName`, `variables` and `extensions` of the wrong JSON type are a 400, as
  graphql-core's own server answers (never a 500 from a cache keyed by a list).
- Registered documents by hash (schema/documents.py): Apollo's persisted-query protocol
  (`extensions.persistedQuery.sha256Hash`, query optional) and the trusted-documents
  convention (`documentId`, in the body or the query string).
- GraphiQL only where the settings allow it (GRAPHIQL).
"""

from __future__ import annotations

import json
from typing import Any

import orjson
from cross_web import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from strawberry.asgi import GraphQL
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData, process_result
from strawberry.types.execution import ExecutionResult, PreExecutionError
from strawberry.types.unset import UNSET

from schema.documents import NOT_FOUND, sha256

GRAPHQL_RESPONSE = "application/graphql-response+json"
JSON = "application/json"


def _accepts(accept: str, media_type: str) -> float:
    """The quality the Accept header gives a media type (0 when it is not accepted)."""
    best = 0.0
    for part in accept.split(","):
        name, *params = (p.strip() for p in part.split(";"))
        if name.lower() not in (media_type, "*/*", media_type.split("/")[0] + "/*"):
            continue
        q = 1.0
        for p in params:
            if p.lower().startswith("q="):
                try:
                    q = float(p[2:])
                except ValueError:
                    q = 0.0
        exact = name.lower() == media_type
        best = max(best, q + (0.001 if exact else 0.0))
    return best


def response_media_type(accept: str | None) -> str:
    """graphql-response+json when the client prefers it (or names it as much as JSON), the
    legacy application/json otherwise (also when the client sends no Accept)."""
    if not accept:
        return JSON
    new, legacy = _accepts(accept, GRAPHQL_RESPONSE), _accepts(accept, JSON)
    if new > 0 and new >= legacy and GRAPHQL_RESPONSE in accept.lower():
        return GRAPHQL_RESPONSE
    return JSON


class PersistedQueryNotFound(Exception):
    pass


# No input of the contract nests deeper than a few levels; copied and walked recursively later,
# a JSON value 2,000 arrays deep raised RecursionError (a 500).
MAX_NESTING = 32


def nesting(value: Any) -> int:
    """How deep a JSON value nests (a scalar: 0), without recursion, stopping past MAX_NESTING."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list) and item:
            if depth + 1 > MAX_NESTING:
                return depth + 1
            deepest = max(deepest, depth + 1)
            stack.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


# Websocket messages that name an operation by its id (both protocols').
BY_ID = frozenset({"subscribe", "start", "complete", "stop"})


def ws_message_problem(message: object) -> str | None:
    """What makes a websocket message unfit for either protocol's handler (None: fit).
    strawberry indexes a message unchecked: a list, an id that is an object, a payload that is
    a string were a TypeError or a KeyError, a traceback logged per frame and the socket
    dropped without a close frame (1,627 in 3 s from one client; helper review)."""
    if not isinstance(message, dict):
        return "A message must be a JSON object."
    kind = message.get("type")
    if not isinstance(kind, str):
        return "A message's `type` must be a string."
    if ("id" in message or kind in BY_ID) and not isinstance(message.get("id"), str):
        return "A message's `id` must be a string."
    if kind in ("subscribe", "start"):
        payload = message.get("payload")
        if not isinstance(payload, dict) or not isinstance(payload.get("query"), str):
            return "An operation's `payload` must be an object with a `query` string."
        if not isinstance(payload.get("operationName"), str | None):
            return "An operation's `operationName` must be a string or null."
        for part in ("variables", "extensions"):
            value = payload.get(part)
            if not isinstance(value, dict | None) or nesting(value) > MAX_NESTING:
                return f"An operation's `{part}` must be an object nesting at most {MAX_NESTING} deep."
    return None


class GraphQLView(GraphQL):
    """The HTTP half of the GraphQL pipeline (the document gate itself is WargaSchema's)."""

    def decode_json(self, data: str | bytes) -> object:
        """A value nested past the decoder's own recursion is not JSON to us (a websocket
        frame of 5,000 brackets raised RecursionError out of strawberry's loop: a traceback)."""
        try:
            return super().decode_json(data)
        except RecursionError:
            raise json.JSONDecodeError("nested too deep", "", 0) from None

    def encode_json(self, data: object) -> str:
        """orjson: encoding the answer with the standard library was 7-10 % of a feed request
        (bench/README.md). A str, not bytes: strawberry sends bytes over a websocket as binary
        frames, which GraphQL websocket clients do not read. What orjson refuses (a key that is
        not a string, an integer past 64 bits) goes to the standard encoder."""
        try:
            return orjson.dumps(data).decode()
        except TypeError:
            return json.dumps(data, separators=(",", ":"))

    async def get_sub_response(self, request: Any) -> Response:
        sub_response = await super().get_sub_response(request)
        accept = request.headers.get("accept") if hasattr(request, "headers") else None
        sub_response.graphql_media_type = response_media_type(accept)  # type: ignore[attr-defined]
        if isinstance(request, Request):
            request.state.graphql_sub_response = sub_response
        return sub_response

    def should_render_graphql_ide(self, request: Any) -> bool:
        params = request.query_params
        if params.get("documentId") is not None or params.get("extensions") is not None:
            return False  # a registered document by hash, not a browser
        return super().should_render_graphql_ide(request)

    async def parse_http_body(self, request: Any) -> GraphQLRequestData | list[GraphQLRequestData]:
        try:
            data = await super().parse_http_body(request)
        except (AttributeError, TypeError, ValueError, IndexError, RecursionError) as exc:
            # strawberry's multipart `map` walk catches KeyError alone: `map` of the wrong shape,
            # or a path through a list with a word, was a 500 with its traceback (a review).
            malformed = "The request's body is malformed (`operations`, `map` or JSON nesting)."
            raise HTTPException(400, malformed) from exc
        if isinstance(data, list):
            return [self._resolve(d, {}) for d in data]
        for part in (data.variables, data.extensions):
            if nesting(part) > MAX_NESTING:
                raise HTTPException(400, f"`variables` and `extensions` nest at most {MAX_NESTING} deep.")
        raw: dict[str, Any] = {}
        if data.query is None:  # `documentId` is a top-level member (or query parameter)
            if request.method == "GET":
                raw = dict(request.query_params)
            elif "json" in request.headers.get("content-type", ""):  # a multipart body is read already
                try:
                    parsed = self.parse_json(await request.get_body())
                except HTTPException:
                    parsed = None
                raw = parsed if isinstance(parsed, dict) else {}
        return self._resolve(data, raw)

    def _resolve(self, data: GraphQLRequestData, raw: dict[str, Any]) -> GraphQLRequestData:
        if not isinstance(data.operation_name, str | None):
            raise HTTPException(400, "The GraphQL operation's `operationName` must be a string or null.")
        extensions = data.extensions or {}
        persisted = extensions.get("persistedQuery")
        document_id = raw.get("documentId")
        wanted: str | None = None
        if isinstance(persisted, dict):
            wanted = persisted.get("sha256Hash")
            if not isinstance(wanted, str):
                raise HTTPException(400, "`persistedQuery.sha256Hash` must be a string.")
        elif document_id is not None:
            if not isinstance(document_id, str):
                raise HTTPException(400, "`documentId` must be a string.")
            wanted = document_id
        if wanted is None:
            return data
        wanted = wanted.removeprefix("sha256:").lower()
        if data.query is not None:
            if sha256(data.query) != wanted:
                raise HTTPException(400, "The document does not match its hash.")
            return data
        text = self.schema.documents.trusted.lookup(wanted)  # type: ignore[attr-defined]
        if text is None:
            raise PersistedQueryNotFound
        data.query = text
        return data

    async def run(self, request: Any, context: Any = UNSET, root_value: Any = UNSET) -> Any:  # type: ignore[override]
        try:
            return await super().run(request, context, root_value)
        except PersistedQueryNotFound:
            # Apollo's protocol: a 200 with this code tells the client to send the document.
            body = {"errors": [{"message": "PersistedQueryNotFound", "extensions": {"code": NOT_FOUND}}]}
            media = response_media_type(request.headers.get("accept"))
            return Response(self.encode_json(body), status_code=200, media_type=media)

    async def process_result(self, request: Any, result: ExecutionResult) -> GraphQLHTTPResponse:
        response = process_result(result)
        sub_response = getattr(getattr(request, "state", None), "graphql_sub_response", None)
        if isinstance(result, PreExecutionError) and sub_response is not None:
            if sub_response.graphql_media_type == GRAPHQL_RESPONSE:
                sub_response.status_code = 400
                response.pop("data", None)  # a request error: nothing was executed
        return response

    def create_response(
        self, response_data: GraphQLHTTPResponse | list[GraphQLHTTPResponse], sub_response: Response
    ) -> Response:
        response = super().create_response(response_data, sub_response)
        media = getattr(sub_response, "graphql_media_type", JSON)
        if media != JSON:
            response.headers["content-type"] = f"{media}; charset=utf-8"
        return response
