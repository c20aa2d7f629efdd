"""The compiled fast path's own rules, on a small schema built for them: what the real schema
cannot produce (a resolver failing beside a slow one, a null where the type says non-null, a
serializer refusing a value, a resolver reading an Info attribute FastInfo lacks) must fall
back to graphql-core, counted by reason, with nothing left running or unawaited.
(tests/test_fast_path.py and tests/test_fast_path_differential.py hold it against graphql-core
on the real schema, over HTTP.)"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Coroutine
from inspect import CORO_CLOSED, CORO_CREATED, getcoroutinestate
from typing import Any, NewType

import strawberry
from strawberry.schema.config import StrawberryConfig
from strawberry.types import Info

from schema.fast import FastExecutor
from schema.tasks import ClosingTask, close_unstarted

Refused = NewType("Refused", str)  # a scalar whose serializer answers None for every value


@strawberry.enum
class Colour(enum.Enum):
    RED = "red"


class Probe:
    """What the resolvers saw, per test."""

    def __init__(self) -> None:
        self.release = asyncio.Event()  # never set: only a cancellation ends `slow`
        self.slow_started = False
        self.slow_cancelled = False
        self.created: list[Coroutine[Any, Any, Any]] = []


async def _value() -> str:
    return "late"


@strawberry.type
class Query:
    @strawberry.field
    async def failing(self, info: Info) -> str:
        await asyncio.sleep(0)
        raise ValueError("this field fails")

    @strawberry.field
    async def slow(self, info: Info) -> str:
        probe: Probe = info.context
        probe.slow_started = True
        try:
            await probe.release.wait()
        except asyncio.CancelledError:
            probe.slow_cancelled = True
            raise
        return "never"

    @strawberry.field
    def pending(self, info: Info) -> str:
        """An awaitable made before a later sibling fails synchronously: it must be closed."""
        coro = _value()
        info.context.created.append(coro)
        return coro  # type: ignore[return-value]

    @strawberry.field
    def failing_now(self) -> str:
        raise ValueError("fails before anything is awaited")

    @strawberry.field
    def nothing(self) -> str:
        return None  # type: ignore[return-value]  # a null where the type says non-null

    @strawberry.field
    def refused(self) -> Refused:
        return Refused("x")

    @strawberry.field
    def colour(self) -> Colour:
        return "purple"  # type: ignore[return-value]  # no such enum value

    @strawberry.field
    def fine(self) -> Colour:
        return Colour.RED

    @strawberry.field
    def path(self, info: Info) -> str:
        return str(info.path.key)  # graphql-core's Info has it; FastInfo does not


schema = strawberry.Schema(
    query=Query,
    config=StrawberryConfig(
        scalar_map={Refused: strawberry.scalar(name="Refused", serialize=lambda value: None, parse_value=str)}
    ),
)


async def run(fast: FastExecutor, query: str, probe: Probe | None = None) -> Any:
    result = await fast.try_execute(query, None, probe or Probe(), None)
    return None if result is None else result.data


async def test_a_failing_field_cancels_its_siblings() -> None:
    fast = FastExecutor(schema)
    probe = Probe()
    assert await run(fast, "{ slow failing }", probe) is None
    assert probe.slow_started and probe.slow_cancelled  # not left running behind the fallback
    assert fast.fallbacks == {"run: field error": 1}
    probe = Probe()
    assert await run(fast, "{ a: fine b: slow c: failing d: fine }", probe) is None
    assert probe.slow_cancelled


async def test_awaitables_made_before_a_synchronous_failure_are_closed() -> None:
    fast = FastExecutor(schema)
    probe = Probe()
    assert await run(fast, "{ pending failingNow }", probe) is None
    assert [getcoroutinestate(c) for c in probe.created] == [CORO_CLOSED]
    assert fast.fallbacks == {"run: field error": 1}


async def test_leaves_are_coerced_as_graphql_core_does() -> None:
    fast = FastExecutor(schema)
    assert await run(fast, "{ fine }") == {"fine": "RED"}
    for query in ("{ refused }", "{ colour }"):
        assert await run(fast, query) is None, query
        regular = await schema.execute(query)
        assert regular.data is None and regular.errors, query  # an error there too (non-null field)
    assert fast.fallbacks == {"run: leaf coercion": 2}


async def test_a_null_in_a_non_null_position_falls_back() -> None:
    fast = FastExecutor(schema)
    assert await run(fast, "{ nothing }") is None
    assert fast.fallbacks == {"run: null in a non-null position": 1}


async def test_an_info_attribute_the_fast_path_lacks_is_recorded_and_falls_back() -> None:
    fast = FastExecutor(schema)
    assert await run(fast, "{ path }") is None
    assert fast.info_misses == {"path": 1}  # tests/conftest.py fails any test where the app's does
    assert fast.fallbacks == {"run: info attribute": 1}
    assert (await schema.execute("{ path }")).data == {"path": "path"}


async def test_documents_the_plans_do_not_cover_are_counted_per_request() -> None:
    fast = FastExecutor(schema)
    for _ in range(2):
        assert await run(fast, "{ fine fine }") is None
        assert await run(fast, "{ __typename ... on Query @include(if: true) { fine } }") is None
    assert fast.fallbacks == {"compile: merged fields": 2, "compile: conditional fragment": 2}
    status = fast.status()
    assert status["uncovered_documents"] == 2 and status["plans"] == 0
    assert status["fallbacks"] == dict(fast.fallbacks)


async def _holds(*awaitables: Any) -> None:
    for aw in awaitables:
        await aw


def _closure() -> Coroutine[Any, Any, Any]:
    inner = {"x": _value()}

    async def run() -> Any:
        return await inner["x"]

    return run()


async def test_unstarted_coroutines_are_closed_with_what_they_were_given() -> None:
    inner, nested = _value(), _value()
    outer = _holds(inner, [("key", _holds(nested))])
    close_unstarted(outer)
    assert getcoroutinestate(outer) == getcoroutinestate(inner) == getcoroutinestate(nested) == CORO_CLOSED
    held = _closure()  # graphql-core's shape: a closure over a dict of field coroutines
    fields = held.cr_frame.f_locals["inner"]
    close_unstarted(held)
    assert getcoroutinestate(fields["x"]) == CORO_CLOSED
    running = _value()
    assert await running == "late"  # started ones are someone else's: left alone
    close_unstarted(running)


async def test_a_task_cancelled_before_its_first_step_closes_what_it_was_given() -> None:
    inner = _value()
    task = ClosingTask(_holds(inner))
    assert getcoroutinestate(inner) == CORO_CREATED
    task.cancel()
    assert getcoroutinestate(inner) == CORO_CLOSED
    try:
        await task
    except asyncio.CancelledError:
        pass
    assert task.cancelled()
