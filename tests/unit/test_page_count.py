"""A page's count begun beside it (domain.pagination.Page.early): a page the read cache shares
outlives the request that began its count, so a later request must get a total whatever became
of that count (issue 16, session 17)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial

from domain.pagination import Order, Page


def page_with(early: asyncio.Task[tuple[int, bool]] | None) -> tuple[Page, list[str]]:
    ran: list[str] = []

    async def count() -> tuple[int, bool]:
        ran.append("counted after the page")
        return (7, False)

    return Page(rows=[], has_next=False, order=Order("created_at", True), count=count, early=early), ran


@contextmanager
def slot(held: list[str]) -> Iterator[None]:
    held.append("slot")
    yield


async def test_a_count_begun_early_is_the_total_and_takes_no_second_slot() -> None:
    async def early_count() -> tuple[int, bool]:
        return (10_000, True)

    page, ran = page_with(asyncio.create_task(early_count()))
    held: list[str] = []
    assert await page.counted(partial(slot, held)) == (10_000, True)
    assert (ran, held) == ([], [])


async def test_a_cancelled_or_failed_early_count_is_counted_again_in_a_slot() -> None:
    async def never() -> tuple[int, bool]:
        await asyncio.sleep(3600)
        return (0, False)

    async def failing() -> tuple[int, bool]:
        raise ConnectionResetError

    cancelled = asyncio.create_task(never())
    await asyncio.sleep(0)
    cancelled.cancel()
    failed = asyncio.create_task(failing())
    await asyncio.gather(cancelled, failed, return_exceptions=True)
    for task in (cancelled, failed):
        page, ran = page_with(task)
        held: list[str] = []
        assert await page.counted(partial(slot, held)) == (7, False)
        assert (ran, held) == (["counted after the page"], ["slot"])


async def test_an_early_count_failing_while_awaited_is_counted_again() -> None:
    """Its statement timed out while the field waited: the field counts again (in a slot), as
    totalCountCapped beside it would, rather than answer an error while its sibling answers."""

    async def times_out() -> tuple[int, bool]:
        await asyncio.sleep(0.01)
        raise TimeoutError

    page, ran = page_with(asyncio.create_task(times_out()))
    held: list[str] = []
    assert await page.counted(partial(slot, held)) == (7, False)
    assert (ran, held) == (["counted after the page"], ["slot"])


async def test_a_request_cancelled_while_it_waits_leaves_the_shared_count_running() -> None:
    """The first request awaiting the early count is cancelled (its client went away); the count
    goes on, shielded, and the next request sharing the page gets its total."""
    release = asyncio.Event()

    async def slow_count() -> tuple[int, bool]:
        await release.wait()
        return (42, False)

    page, ran = page_with(asyncio.create_task(slow_count()))
    first = asyncio.create_task(page.counted())
    await asyncio.sleep(0.01)
    first.cancel()
    await asyncio.gather(first, return_exceptions=True)
    assert page.early is not None and not page.early.cancelled()
    release.set()
    assert await page.counted() == (42, False) and ran == []
