"""The request's DataLoaders (resolvers/loaders.py) after a cancellation: a cancelled waiter
neither calls its batch off (the next load would join it and wait forever) nor cancels the
load for another waiter of the same key (a CancelledError no field error catches: a 500).
(tests/test_bad_inputs.py holds the first over HTTP: the fast path's fallback loads again
with the loaders its cancelled run used.)"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from resolvers.loaders import Loader


def loader() -> tuple[Loader[int, int], list[list[int]]]:
    sent: list[list[int]] = []

    async def load_fn(keys: Sequence[int]) -> list[int]:
        sent.append(list(keys))
        return [k * 10 for k in keys]

    return Loader(load_fn=load_fn), sent


async def test_a_load_after_its_batch_was_called_off_is_answered() -> None:
    users, sent = loader()
    first = users.load(1)
    first.cancel()  # type: ignore[attr-defined]  # its only waiter gone before the batch was sent
    for _ in range(3):
        await asyncio.sleep(0)  # strawberry schedules the batch's dispatch, then cancels it
    assert await asyncio.wait_for(users.load(1), 5) == 10
    assert await asyncio.wait_for(users.load_many([2, 3]), 5) == [20, 30]
    assert sent == [[1], [2, 3]]


async def test_a_load_after_a_task_group_cancelled_its_batch_is_answered() -> None:
    """As the fast path runs one level's fields: the first fails at once, the second has
    loaded (the batch's dispatch is scheduled) when the group cancels it."""
    users, sent = loader()

    async def fails() -> None:
        raise ValueError("a sibling's bad input")

    async def loads() -> int:
        return await users.load(1)

    with pytest.raises(ExceptionGroup):
        async with asyncio.TaskGroup() as group:
            group.create_task(fails())
            group.create_task(loads())
    assert await asyncio.wait_for(loads(), 5) == 10
    assert sent == [[1]]


async def test_a_partly_cancelled_batch_still_answers_the_others() -> None:
    users, sent = loader()
    first, second = users.load(1), users.load(2)
    first.cancel()  # type: ignore[attr-defined]
    assert await asyncio.wait_for(second, 5) == 20
    assert sent == [[1, 2]]


async def test_a_cancelled_waiter_does_not_cancel_the_load_for_another() -> None:
    """As graphql-core cancels a failing field's siblings while a field elsewhere in the query
    awaits the same report's timeline."""
    users, sent = loader()
    cancelled = asyncio.ensure_future(users.load(1))
    other = asyncio.ensure_future(users.load(1))
    await asyncio.sleep(0)
    cancelled.cancel()
    assert await asyncio.wait_for(other, 5) == 10
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    assert await users.load(1) == 10 and sent == [[1]]  # one batch, its answer kept
