"""Every error leaves with `extensions.code`; nothing internal (trace, SQL) reaches a client."""

from __future__ import annotations

import logging

from graphql import GraphQLError
from strawberry.extensions import MaskErrors
from tortoise.exceptions import ValidationError

from domain.errors import WargaError
from domain.faults import classify

log = logging.getLogger("warga.errors")


def to_client_error(error: GraphQLError) -> GraphQLError:
    original = error.original_error
    if isinstance(original, WargaError):
        extensions = original.extensions
        message = original.message
    elif original is None or isinstance(original, GraphQLError):
        # Parse, validation and variable-coercion errors (those carry graphql-core's own error):
        # the client's query is wrong, and GraphQL's own message says where. The document gate
        # (schema/documents.py) gives them their precise codes first.
        extensions = {"code": "BAD_USER_INPUT", **(error.extensions or {})}
        message = error.message
    elif isinstance(original, ValidationError):
        # A value the model refuses (a text longer than its column) reached it: a bad input,
        # named by the model's field, never a 500.
        field = str(original).split(":", 1)[0].strip() or "input"
        extensions = {"code": "BAD_USER_INPUT", "field": field}
        message = f"`{field}` is not a valid value."
    elif (fault := classify(original)) is not None:
        # The database or broker, not the client and not a bug: a code that says retry.
        log.warning("%s at %s: %r", fault.code, error.path, original)
        extensions = fault.extensions
        message = fault.message
    else:
        log.error("unexpected error at %s", error.path, exc_info=original)
        extensions = {"code": "INTERNAL_SERVER_ERROR"}
        message = "Internal server error."
    return GraphQLError(
        message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        original_error=None,
        extensions=extensions,
    )


class ClientErrors(MaskErrors):
    """strawberry's MaskErrors, turned into the contract's error codes."""

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        return to_client_error(error)
