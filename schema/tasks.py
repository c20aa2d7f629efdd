"""Coroutines created for a request and never started are closed, with the coroutines they
were given: left to the garbage collector they are never awaited (Python warns) and any work
they stood for is silently lost.

Two places drop such coroutines. The compiled fast path (schema/fast.py) builds a level's
awaitables before awaiting any, and a field failing synchronously half-way leaves the others
unstarted: it closes them with `close_unstarted`. graphql-core's `gather_with_cancel` wraps
each field's coroutine in a task, and a request cancelled (its client hung up) before those
tasks took their first step cancels them there: a task cancelled before it starts never runs
its coroutine, so the resolver coroutine handed to it is never awaited. `ClosingTask`, the
event loop's task class while the app runs (`install`), closes what such a task's coroutine
was given when it is cancelled before starting.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import suppress
from inspect import CORO_CREATED, getcoroutinestate
from types import CoroutineType
from typing import Any

_DEPTH = 3  # containers walked below a coroutine's argument: a list of (key, awaitable) pairs


def close_unstarted(aw: Any) -> None:
    """Close `aw` if it is a coroutine that never started, after closing the unstarted
    coroutines among its arguments (and in lists, tuples and dicts of them): it would have
    awaited them. Started coroutines belong to whoever runs them and are left alone."""
    if type(aw) is not CoroutineType or getcoroutinestate(aw) != CORO_CREATED:
        return
    frame = aw.cr_frame
    if frame is not None:  # an unstarted frame holds exactly its arguments (and closure)
        for value in frame.f_locals.values():
            _close_within(value, _DEPTH)
    aw.close()


def _close_within(value: Any, depth: int) -> None:
    if type(value) is CoroutineType:
        close_unstarted(value)
    elif depth and isinstance(value, list | tuple):
        for item in value:
            _close_within(item, depth - 1)
    elif depth and isinstance(value, dict):
        for item in value.values():
            _close_within(item, depth - 1)


class ClosingTask(asyncio.Task):  # type: ignore[type-arg]
    """A task that, cancelled before its first step, closes what its coroutine was given, and
    once cancelled lets go of its cancellation's traceback (see `_forget_cancellation`)."""

    __slots__ = ()

    def cancel(self, msg: Any = None) -> bool:
        if not self.done():
            coro = self.get_coro()
            if type(coro) is CoroutineType and getcoroutinestate(coro) == CORO_CREATED:
                # It will never run: asyncio throws the cancellation in at its first line.
                frame = coro.cr_frame
                if frame is not None:
                    for value in frame.f_locals.values():
                        _close_within(value, _DEPTH)
        cancelling = super().cancel(msg)
        if cancelling:  # only cancelled tasks pay for it (not every field's task)
            self.add_done_callback(_forget_cancellation)
        return cancelling


def _forget_cancellation(task: asyncio.Task[Any]) -> None:
    """A cancelled task keeps the CancelledError its coroutine raised, whose traceback holds
    the coroutine's frames, whose locals often hold the task (strawberry's `run_operation`
    holds the operation holding its task): a reference cycle, so a closed subscription's whole
    state waited for a full collection (and, frozen, for a thaw: seconds at 19,500 connections,
    and thaws are off by default). Asking for the result hands that error over and the task
    drops it (asyncio's own rule); whoever awaits the task later gets an equal CancelledError
    (same message)."""
    if task.cancelled():
        with suppress(asyncio.CancelledError):
            task.result()


def _factory(loop: asyncio.AbstractEventLoop, coro: Any, **kwargs: Any) -> asyncio.Task[Any]:
    return ClosingTask(coro, loop=loop, **kwargs)


def install(loop: asyncio.AbstractEventLoop) -> Callable[[], None]:
    """Make ClosingTask the loop's task class; returns what undoes it. A loop that already has
    a task factory of its own keeps it."""
    previous = loop.get_task_factory()
    if previous is not None:
        return lambda: None
    loop.set_task_factory(_factory)
    return lambda: loop.set_task_factory(None)
