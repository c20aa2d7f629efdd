"""Answers that change with the clock alone (a report becoming overdue, "the last 90 days"
moving at Jakarta midnight): whatever computes such a figure notes the moment it flips, so a
cache that watched the computation serves the answer no later than that (schema/cache.py)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime

_watching: ContextVar[list[datetime] | None] = ContextVar("warga_flips", default=None)


def flips_at(at: datetime) -> None:
    """The answer being computed changes by itself at `at` (a no-op unless it is watched)."""
    moments = _watching.get()
    if moments is not None:
        moments.append(at)


@contextmanager
def watching() -> Iterator[list[datetime]]:
    """Collect the flip moments of what runs inside (tasks started inside share the list)."""
    moments: list[datetime] = []
    token = _watching.set(moments)
    try:
        yield moments
    finally:
        _watching.reset(token)
