"""DataLoaders, one set per request: every relation the feed and report detail touch is
fetched in one query per kind, whatever the page size."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from functools import cached_property, partial
from typing import Any, NamedTuple, TypeVar

from strawberry.dataloader import DataLoader

from domain import visibility
from domain.auth import Viewer
from domain.notifications_follow import follower_counts
from models import Media, Report, StatusChange, User
from models.sql import M, fetch, fetch_models, in_list

K = TypeVar("K")
V = TypeVar("V")


class Loader(DataLoader[K, V]):
    """strawberry's DataLoader, whose loads a cancelled waiter cannot take from the others.

    strawberry (0.341, pinned in pyproject.toml) hands every load of a key the same cached
    future, and a task cancelled while it awaits a future cancels that future: when a failing
    field's siblings are cancelled (the fast path's TaskGroups, graphql-core's
    gather_with_cancel), another field still awaiting the same key got a CancelledError that
    no field error catches, and the request answered 500 (found by the fast-path differential
    test). And a batch whose futures were all cancelled had its dispatch called off before it
    marked itself dispatched, so the next load joined it and waited forever (the fuzz test's
    request that got no answer, tests/test_bad_inputs.py).

    So the first waiter of a key gets the shared future (most keys of a request have one
    waiter: that costs nothing), in a batch that is not called off; every later waiter of a
    key still loading gets a future of its own, given the shared one's outcome, or a new
    load's if the shared one was cancelled with its first waiter. (Wrapping every load, as
    asyncio.shield would, cost the cache-off feed 7 %: bench/README.md.)"""

    def load(self, key: K) -> Awaitable[V]:
        shared = self.cache_map.get(key) if self.cache else None
        if shared is None or shared.cancelled():
            return self._fresh(key)
        if shared.done():  # an answer: awaiting it cannot cancel it
            return shared
        own: asyncio.Future[V] = self.loop.create_future()
        shared.add_done_callback(partial(self._relay, key, own))
        return own

    def _fresh(self, key: K) -> asyncio.Future[V]:
        batch = self.batch
        if batch is not None and not batch.dispatched and all(t.future.cancelled() for t in batch.tasks):
            self.batch = None  # called off: a batch of its own
        return super().load(key)  # type: ignore[return-value]

    def _relay(self, key: K, own: asyncio.Future[V], shared: asyncio.Future[V]) -> None:
        if own.done():  # its own waiter was cancelled
            return
        if shared.cancelled():  # with its first waiter: this one loads again (a callback,
            self._fresh(key).add_done_callback(partial(self._relay, key, own))  # not cancelled)
        elif (error := shared.exception()) is not None:
            own.set_exception(error)
        else:
            own.set_result(shared.result())


def _loader(batch: Callable[[Any], Callable[[Sequence[Any]], Awaitable[list[Any]]]]) -> Any:
    """A Loaders attribute made when first asked, then kept (most requests use one or two of
    the loaders, a mutation often none); `batch(loaders)` is its batch function."""
    return cached_property(lambda loaders: Loader(load_fn=batch(loaders)))


async def _by_id(model: type[M], ids: Sequence[int]) -> list[M | None]:
    args: list[Any] = []
    found = {
        row.pk: row
        for row in await fetch_models(
            model, f"SELECT * FROM {model._meta.db_table} WHERE {in_list('id', list(ids), args)}", *args
        )
    }
    return [found.get(i) for i in ids]


async def _users(ids: Sequence[int]) -> list[User | None]:
    return await _by_id(User, ids)


async def _reports(ids: Sequence[int]) -> list[Report | None]:
    return await _by_id(Report, ids)


async def _report_media(ids: Sequence[int]) -> list[list[Media]]:
    by: dict[int, list[Media]] = defaultdict(list)
    for m in await Media.filter(report_id__in=list(ids), status_change_id=None).order_by("id"):
        by[m.report_id].append(m)  # type: ignore[attr-defined]
    return [by.get(i, []) for i in ids]


async def _change_media(ids: Sequence[int]) -> list[list[Media]]:
    by: dict[int, list[Media]] = defaultdict(list)
    for m in await Media.filter(status_change_id__in=list(ids)).order_by("id"):
        by[m.status_change_id].append(m)  # type: ignore[attr-defined]
    return [by.get(i, []) for i in ids]


async def _timelines(ids: Sequence[int]) -> list[list[StatusChange]]:
    by: dict[int, list[StatusChange]] = defaultdict(list)
    for c in await StatusChange.filter(report_id__in=list(ids)).order_by("id"):
        by[c.report_id].append(c)  # type: ignore[attr-defined]
    return [by.get(i, []) for i in ids]


class Marks(NamedTuple):
    """What the viewer did with a report."""

    voted: bool
    follows: bool


NO_MARKS = Marks(False, False)


class Loaders:
    """Raw rows by id (reports, users) are viewer-independent; what a viewer may see of them is
    decided by the fields that use them (schema/types.py, through domain.visibility). The
    per-viewer loaders read `viewer`."""

    def __init__(self, viewer: Viewer | None = None) -> None:
        self.viewer = viewer

    users = _loader(lambda loaders: _users)
    reports = _loader(lambda loaders: _reports)
    report_media = _loader(lambda loaders: _report_media)
    change_media = _loader(lambda loaders: _change_media)
    timelines = _loader(lambda loaders: _timelines)
    viewer_marks = _loader(lambda loaders: loaders._viewer_marks)
    report_counts = _loader(lambda loaders: loaders._report_counts)
    follower_counts = _loader(lambda loaders: _follower_counts)

    async def _report_counts(self, ids: Sequence[int]) -> list[int]:
        """Per user, the reports this viewer may see and attribute to them, in one statement."""
        args: list[Any] = []
        where = [in_list("author_id", list(ids), args)]
        where += [c for c in (visibility.report_condition(self.viewer, args),
                              visibility.attributed_condition(self.viewer, args)) if c]  # fmt: skip
        sql = f"SELECT author_id, COUNT(*) AS n FROM report WHERE {' AND '.join(where)} GROUP BY author_id"
        rows = await fetch(sql, *args)
        counts = {r["author_id"]: int(r["n"]) for r in rows}
        return [counts.get(i, 0) for i in ids]

    async def _viewer_marks(self, ids: Sequence[int]) -> list[Marks]:
        """The viewer's votes and follows on a page of reports, in one statement (both fields
        asked together cost one round trip, not two)."""
        if self.viewer is None:
            return [NO_MARKS] * len(ids)
        args: list[Any] = [self.viewer.id]
        within = in_list("report_id", list(ids), args)
        rows = await fetch(
            f"SELECT report_id, 1 AS kind FROM vote WHERE user_id = $1 AND {within}"
            f" UNION ALL SELECT report_id, 2 AS kind FROM follow WHERE user_id = $1 AND {within}",
            *args,
        )
        voted = {r["report_id"] for r in rows if r["kind"] == 1}
        followed = {r["report_id"] for r in rows if r["kind"] == 2}
        return [Marks(i in voted, i in followed) for i in ids]


async def _follower_counts(ids: Sequence[int]) -> list[int]:
    counts = await follower_counts(list(ids))
    return [counts.get(i, 0) for i in ids]
