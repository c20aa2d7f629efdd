"""Every error leaves with `extensions.code`; nothing internal (trace, SQL) reaches a client."""

from __future__ import annotations

import logging

from graphql import GraphQLError
from strawberry.extensions import MaskErrors

from domain.errors import WargaError

log = logging.getLogger("warga.errors")


def to_client_error(error: GraphQLError) -> GraphQLError:
    original = error.original_error
    if isinstance(original, WargaError):
        extensions = original.extensions
        message = original.message
    elif original is None:
        # Parse, validation and variable-coercion errors: the client's query is wrong, and
        # GraphQL's own message says where.
        extensions = {"code": "BAD_USER_INPUT", **(error.extensions or {})}
        message = error.message
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
