"""Subscription events rendered once and shared by every subscriber who would receive the same
answer: a city of subscribers costs one rendering per event and selection, not one GraphQL
execution per delivery.

The subscription resolvers (subscriptions/resolvers.py) yield SharedEvent payloads; the
compiled plans (schema/fast.py) render each one through SharedRenderings under a key of the
event, the document and operation, the variables the selection reads and the audience
(schema/policy.py). Selections the plans do not cover are rendered by graphql-core, which
unwraps the payload itself (schema.fast.ExecutionContext).
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Any

RENDERED_LIMIT = 4096  # shared renderings kept: far more than the events of a burst


@dataclass(slots=True)
class SharedEvent:
    """A subscription event as its resolver yields it: `key` names the event as loaded (its
    log position and the load: a replay reads the rows anew and is rendered anew), `make`
    builds the root field's value and `context` a context of the rendering's own (fresh
    DataLoaders primed with the event's rows): several subscriptions of one connection render
    at once, and must not share loaders. Both run only when the event is rendered."""

    key: Hashable
    make: Callable[[], Any]
    context: Callable[[], Any]


class SharedRenderings:
    """The renderings of recent events by key: the first subscriber to ask renders, the others
    await that rendering. Keys name the document itself, never a compiled plan's id (a freed
    plan's id is reused: a replay could receive another query's rendering)."""

    def __init__(self, limit: int = RENDERED_LIMIT) -> None:
        self.limit = limit
        self.rendered: OrderedDict[Hashable, asyncio.Future[Any]] = OrderedDict()
        self.renders = 0  # events rendered (a shared rendering counts once)

    async def once(self, key: Hashable, render: Callable[[], Awaitable[Any]], failed: Any = None) -> Any:
        """The rendering under `key`, made by calling `render` only if no subscriber has yet;
        `failed` when its renderer raised or went away (each subscriber then falls back on its
        own)."""
        found = self.rendered.get(key)
        if found is None:
            found = self.rendered[key] = asyncio.get_running_loop().create_future()
            if len(self.rendered) > self.limit:
                self.rendered.popitem(last=False)
            self.renders += 1
            try:
                found.set_result(await render())
            except BaseException:
                found.set_result(failed)
                raise
        return found.result() if found.done() else await found
