"""Reports rendered once per change and shared between viewers, as subscriptions render each
event once: the per-viewer feed without a per-viewer rendering.

A signed-in feed differs between viewers in three ways only (domain/visibility.py): which
reports are on the page (a citizen's own REJECTED reports), what is shown of a report its
viewer wrote or a staff member reads (an anonymous author, the author's counts and contact),
and the viewer's own marks (viewerHasVoted, viewerFollows). So, for a report selection whose
per-viewer fields are only those declared OWN (Report.author and what only a user themself
sees of a user) and PERSONAL (schema/policy.py):

- the page itself is computed per request, as always (one statement);
- each report on it that the viewer sees as the public does (`visibility.sees_as_public`:
  not theirs, no staff role) takes the signed-out rendering of its selection, made once per
  read version (the event log's position and the local commit counter, as the read cache
  keys whole answers, schema/cache.py) and at most TTL_SECONDS old (`overdue` moves with the
  clock alone);
- PERSONAL fields are resolved per request on top of it, through the request's loaders: one
  statement for the page (resolvers/loaders.py, `viewer_marks`);
- a report the viewer wrote, or any report for staff, is rendered for the viewer as before.

Any other per-viewer field in the selection (comments, duplicateOf, a timeline's actor, an
assignee's contact) leaves the selection to the per-viewer rendering. Renderings are kept on
the compiled plan they belong to, so they go with it; they are off with the read cache
(WARGA_RESPONSE_CACHE=0), which then measures the full computation.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Hashable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from graphql import OperationType

from domain.flips import flips_at, watching
from domain.tx import now
from domain.visibility import sees_as_public
from schema import policy
from schema.cache import TTL_SECONDS
from schema.tasks import close_unstarted

if TYPE_CHECKING:
    from schema.fast import FastExecutor, FastInfo, FieldPlan, Plan

SHARED_TYPES = frozenset({"Report"})  # the objects rendered once and shared
MAX_ENTRIES = 20_000  # per selection: many pages of reports, a few MB


def _own_subtree(field: FieldPlan) -> bool:
    """An OWN field whose selection shows nothing per viewer but OWN fields of its own object
    (Report.author { handle reportsCount email }: all about the report's author)."""
    return all(_shared_subtree(f) or (_share(f) == "own" and _shared_subtree_below(f)) for f in field.sub)


def _share(f: FieldPlan) -> str | None:
    return policy.share_of(f.strawberry_field)


def _per_viewer(f: FieldPlan) -> bool:
    return f.strawberry_field is not None and policy.per_viewer(f.strawberry_field)


def _shared_subtree_below(f: FieldPlan) -> bool:
    return all(_shared_subtree(s) for s in f.sub)


def _shared_subtree(f: FieldPlan) -> bool:
    """Nothing in this field or below it answers per viewer."""
    return not _per_viewer(f) and _shared_subtree_below(f)


def split(fields: list[FieldPlan]) -> tuple[list[FieldPlan], list[FieldPlan]] | None:
    """A report selection as (fields of the public rendering, PERSONAL fields resolved per
    request), or None when some other per-viewer field keeps it per viewer."""
    shared: list[FieldPlan] = []
    personal: list[FieldPlan] = []
    for f in fields:
        share = _share(f)
        if _shared_subtree(f):
            shared.append(f)
        elif share == "personal" and f.kind == "leaf":
            personal.append(f)
        elif share == "own" and _own_subtree(f):
            shared.append(f)
        else:
            return None
    return (shared, personal) if shared else None


class SharedRendering:
    """The public renderings of one report selection (one FieldPlan), by report id."""

    def __init__(self, field: FieldPlan, shared: list[FieldPlan], personal: list[FieldPlan],
                 owner: Renderings) -> None:  # fmt: skip
        self.field = field
        self.shared = shared
        self.personal = personal
        self.owner = owner
        self.clock = owner.clock
        # report id -> (read version, clock at start, rendering, the moment it flips by itself)
        self.entries: dict[int, tuple[Hashable, float, dict[str, Any], datetime | None]] = {}
        personal_ids = {id(f) for f in personal}
        self.order = [(f, id(f) in personal_ids) for f in field.sub]

    def __call__(self, executor: FastExecutor, value: Any, info: FastInfo) -> Any:
        context = info.context
        version = getattr(context, "read_version", None)
        row = value.row
        if version is None or not sees_as_public(context.viewer, row):
            return executor._object(self.field.sub, value, info)
        entry = self.entries.get(row.id)
        if (
            entry is not None
            and entry[0] == version
            and self.clock() - entry[1] < TTL_SECONDS
            and (entry[3] is None or now() < entry[3])
        ):
            self.owner.hits += 1
            if entry[3] is not None:
                flips_at(entry[3])  # a cache of the whole answer must not outlive it either
            return self._combine(executor, entry[2], value, info)
        self.owner.misses += 1
        return self._render(executor, value, info, version)

    async def _render(self, executor: FastExecutor, value: Any, info: FastInfo, version: Hashable) -> Any:
        """The public rendering, made and kept; the PERSONAL fields resolved meanwhile, as a hit
        resolves them, so the page's marks stay one batch (one statement)."""
        started = self.clock()
        with watching() as flips:  # `overdue` turns true by itself: not served past that moment
            public = info.with_context(info.context.signed_out())
            data = executor._object(self.shared, value, public)
            try:
                own = self._combine(executor, {}, value, info) if self.personal else {}
            except BaseException:
                close_unstarted(data)
                raise
            if hasattr(data, "__await__") and hasattr(own, "__await__"):
                async with asyncio.TaskGroup() as group:  # one failing cancels the other
                    both = group.create_task(data), group.create_task(own)
                data, own = both[0].result(), both[1].result()
            elif hasattr(data, "__await__"):
                data = await data
            elif hasattr(own, "__await__"):
                own = await own
        flip = min(flips) if flips else None
        if flip is not None:
            flips_at(flip)  # and the whole answer's cache, if one watches this request
        if len(self.entries) >= MAX_ENTRIES:
            self.entries.clear()
        self.entries[value.row.id] = (version, started, data, flip)
        return self._merge(data, own)

    def _merge(self, shared: dict[str, Any], own: dict[str, Any]) -> dict[str, Any]:
        if not own:
            return shared
        out: dict[str, Any] = {}
        for f, personal in self.order:
            source = own if personal else shared
            if f.key in source:
                out[f.key] = source[f.key]
        return out

    def _combine(self, executor: FastExecutor, shared: dict[str, Any], value: Any, info: FastInfo) -> Any:
        """The shared rendering with the PERSONAL fields filled in for this viewer, keys in the
        selection's order (the shared dict itself is never changed: other requests hold it)."""
        if not self.personal:
            return shared
        out: dict[str, Any] = {}
        for f, personal in self.order:
            if not personal:
                if f.key in shared:
                    out[f.key] = shared[f.key]
            elif not f.conditional or executor._included(f, info):
                out[f.key] = None  # filled below, in its place
        pending: list[Any] = []
        executor._fill(self.personal, value, info, out, pending)
        return executor._gather_into(out, pending) if pending else out


class Renderings:
    """Attaches a SharedRendering to every shareable report selection of a compiled plan."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.hits = self.misses = 0  # reports taken from a shared rendering, and rendered for one

    def prepare(self, plan: Plan) -> None:
        if plan.operation.operation != OperationType.QUERY:
            return  # subscriptions share their own way (subscriptions/sharing.py)
        from schema.fast import walk

        for f in walk(plan.fields):
            if f.field_def is None or f.kind != "object":
                continue
            type_name = getattr(_named(f.field_def.type), "name", None)
            if type_name in SHARED_TYPES:
                parts = split(f.sub)
                if parts is not None:
                    f.render = SharedRendering(f, parts[0], parts[1], self)


def _named(t: Any) -> Any:
    while hasattr(t, "of_type"):
        t = t.of_type
    return t
