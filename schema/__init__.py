"""The assembled GraphQL schema: root types wired to the resolvers."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Coroutine
from typing import Any, TypeVar

import strawberry
from graphql import GraphQLError, OperationType, execute
from strawberry.extensions import SchemaExtension
from strawberry.schema.config import StrawberryConfig
from strawberry.types.execution import ExecutionResult, PreExecutionError

from domain.errors import Unauthenticated
from resolvers import mutation as m
from resolvers import notifications as n
from resolvers import performance as perf
from resolvers import query as q
from schema.admission import admit, slow_down
from schema.cache import AGGREGATE, ResponseCache
from schema.documents import (
    BAD_INPUT,
    GATE_PASSED,
    GATE_REFUSED,
    NOT_TRUSTED,
    VALIDATION_FAILED,
    Checked,
    Documents,
    request_error,
)
from schema.errors import ClientErrors, to_client_error
from schema.fast import ExecutionContext, FastExecutor
from schema.limits import limits_of
from schema.notifications import AreaAlert, NotificationSettings, PushSubscriptionInfo
from schema.performance import HeatCell, RankingEntry, Stats
from schema.places import Region
from schema.policy import SHARED_BY_ALL, SIGNED_OUT
from schema.renderings import Renderings
from schema.types import (
    ApiKey,
    AuthPayload,
    Comment,
    IssuedApiKey,
    Media,
    Report,
    ReportConnection,
    ReportEvent,
    StatusChange,
    User,
)
from subscriptions import publish
from subscriptions import resolvers as sub


@strawberry.type
class Query:
    me: User | None = strawberry.field(resolver=q.me)
    report: Report | None = strawberry.field(resolver=q.report)
    reports: ReportConnection = strawberry.field(resolver=q.reports)
    moderation_queue: ReportConnection = strawberry.field(
        resolver=q.moderation_queue, description="MODERATOR: SUBMITTED reports, oldest first"
    )
    my_work: ReportConnection = strawberry.field(
        resolver=q.my_work, description="OFFICER: open reports of their unit, most urgent first"
    )
    categories: list[q.Category] = strawberry.field(resolver=q.categories)
    agencies: list[q.Agency] = strawberry.field(resolver=q.agencies)
    regions: list[Region] = strawberry.field(resolver=q.regions)
    region: Region | None = strawberry.field(resolver=q.region)
    locate: Region | None = strawberry.field(
        resolver=q.locate, description="the kelurahan that contains the point, or null"
    )
    rankings: list[RankingEntry] = strawberry.field(
        resolver=perf.rankings,
        description="null medians / ratings sort last; minReports null = the level's documented default,"
        " 0 = rank every unit",
        metadata=AGGREGATE,
    )
    stats: Stats = strawberry.field(resolver=perf.stats, metadata=AGGREGATE)
    api_keys: list[ApiKey] = strawberry.field(resolver=q.api_keys, description="ADMIN: partner API keys")
    heatmap: list[HeatCell] = strawberry.field(resolver=perf.heatmap, metadata=AGGREGATE)
    vapid_public_key: str = strawberry.field(
        resolver=n.vapid_public_key,
        description="The VAPID application server key (base64url, uncompressed P-256 point) that a browser"
        " passes to PushManager.subscribe.",
    )


@strawberry.type
class Mutation:
    register: AuthPayload = strawberry.mutation(resolver=m.register)
    login: AuthPayload = strawberry.mutation(resolver=m.login)
    create_staff_account: User = strawberry.mutation(resolver=m.create_staff_account)
    set_user_role: User = strawberry.mutation(
        resolver=m.set_user_role,
        description="ADMIN: another role, region or agency for an account (CITIZEN demotes); open"
        " websockets of that user follow it at once",
    )
    upload_media: Media = strawberry.mutation(resolver=m.upload_media)
    create_report: Report = strawberry.mutation(resolver=m.create_report_)
    verify_report: Report = strawberry.mutation(resolver=m.verify_report)
    reject_report: Report = strawberry.mutation(resolver=m.reject_report)
    mark_duplicate: Report = strawberry.mutation(resolver=m.mark_duplicate)
    assign_report: Report = strawberry.mutation(resolver=m.assign_report)
    start_progress: Report = strawberry.mutation(resolver=m.start_progress)
    resolve_report: Report = strawberry.mutation(resolver=m.resolve_report)
    confirm_resolution: Report = strawberry.mutation(resolver=m.confirm_resolution)
    reopen_report: Report = strawberry.mutation(resolver=m.reopen_report)
    add_comment: Comment = strawberry.mutation(resolver=m.add_comment)
    delete_comment: bool = strawberry.mutation(resolver=m.delete_comment)
    issue_api_key: IssuedApiKey = strawberry.mutation(
        resolver=m.issue_api_key, description="ADMIN: a key for a partner app (Open311 POST), shown once"
    )
    revoke_api_key: ApiKey = strawberry.mutation(resolver=m.revoke_api_key, description="ADMIN")
    vote: Report = strawberry.mutation(resolver=m.vote)
    unvote: Report = strawberry.mutation(resolver=m.unvote)
    register_push_subscription: PushSubscriptionInfo = strawberry.mutation(
        resolver=n.register_push_subscription,
        description="signed in; the same endpoint twice = one subscription",
    )
    unregister_push_subscription: bool = strawberry.mutation(resolver=n.unregister_push_subscription)
    update_notification_settings: NotificationSettings = strawberry.mutation(
        resolver=n.update_notification_settings
    )
    request_email_verification: bool = strawberry.mutation(
        resolver=n.request_email_verification, description="sends a link to the user's e-mail address"
    )
    verify_email: User = strawberry.mutation(resolver=n.verify_email, description="the token from that link")
    follow_report: Report = strawberry.mutation(resolver=n.follow_report, description="idempotent")
    unfollow_report: Report = strawberry.mutation(resolver=n.unfollow_report, description="idempotent")
    create_area_alert: AreaAlert = strawberry.mutation(
        resolver=n.create_area_alert, description="at most 20 per user"
    )
    delete_area_alert: bool = strawberry.mutation(resolver=n.delete_area_alert)


@strawberry.type
class Subscription:
    report_created: Report = strawberry.subscription(resolver=sub.report_created)
    report_status_changed: StatusChange = strawberry.subscription(resolver=sub.report_status_changed)
    comment_added: Comment = strawberry.subscription(resolver=sub.comment_added)
    report_events: ReportEvent = strawberry.subscription(
        resolver=sub.report_events,
        description="replays every event after the cursor, then streams live, in order, with no gap;"
        " without `after`, live from now",
    )


class CachedDocuments(SchemaExtension):
    """strawberry's own pipeline takes the document from the shared cache (schema/documents.py):
    parsed and validated once per text, and already checked by WargaSchema.execute/stream."""

    validated = False

    def on_parse(self):  # type: ignore[no-untyped-def]
        ec = self.execution_context
        documents = getattr(ec.schema, "documents", None)
        if documents is not None and ec.graphql_document is None and isinstance(ec.query, str) and ec.query:
            doc = documents.get(ec.query, limits_of(ec.context))
            if doc.node is not None:
                ec.graphql_document = doc.node
                self.validated = True
        yield

    def on_validate(self):  # type: ignore[no-untyped-def]
        if self.validated:
            self.execution_context.pre_execution_errors = []  # validated with the cached document
        yield


MUTATION = OperationType.MUTATION
OVER_HTTP = (
    "Subscriptions are served over a websocket at /graphql (graphql-transport-ws or graphql-ws),"
    " not over HTTP."
)
T = TypeVar("T")


async def _refused(errors: list[Any]) -> Any:
    yield PreExecutionError(data=None, errors=errors)


async def _single(result: Awaitable[Any]) -> Any:
    yield await result


def _mutations_allowed(allowed: Any) -> bool:
    """False for a GET (strawberry's view allows queries only): its own pipeline refuses it."""
    return allowed is None or any(getattr(t, "value", t) == "mutation" for t in allowed)


def _is(checked: Checked | None, kind: OperationType) -> bool:
    return checked is not None and checked.operation is not None and checked.operation.operation == kind


class WargaSchema(strawberry.Schema):
    running: set[asyncio.Task[Any]]  # mutations whose requests may be gone (to_its_end)
    fast: FastExecutor | None = None
    cache: ResponseCache | None = None
    renderings: Renderings | None = None
    documents: Documents

    def process_errors(self, errors, execution_context=None) -> None:  # type: ignore[no-untyped-def]
        """Client errors are answers, not incidents: ClientErrors logs the unexpected ones."""

    async def to_its_end(self, run: Coroutine[Any, Any, T]) -> T:
        """Once accepted, a mutation runs to its end in a task of its own: a request cancelled
        meanwhile (its client hung up, a websocket `complete`) no longer cuts a transaction in
        half. Tortoise's transaction entry is not safe against cancellation: one cancelled
        during its BEGIN kept SQLite's lock, or a pooled connection, forever. settle() waits
        for the ones whose requests are gone (at shutdown, before the pools close)."""
        task = asyncio.ensure_future(run)
        self.running.add(task)
        task.add_done_callback(self.running.discard)
        return await asyncio.shield(task)

    async def settle(self, timeout: float = 30.0) -> None:
        """Wait (a bounded time) for the mutations still running after their requests ended."""
        async with asyncio.timeout(timeout):
            while self.running:
                await asyncio.wait(set(self.running))

    async def mutate(
        self,
        checked: Checked,
        variable_values: dict[str, Any] | None,
        context_value: Any,
        root_value: Any,
        operation_name: str | None,
        operation_extensions: dict[str, Any] | None,
    ) -> ExecutionResult:
        """Every mutation, over HTTP or a websocket: admitted by the rate limits as a whole
        (schema/admission.py), then executed by graphql-core on the gate's document. Not
        through strawberry's extension pipeline: the gate has parsed and validated the
        document, so all that pipeline would add is its own bookkeeping, a few percent of an
        ingest request (bench/README.md); errors leave with their codes as ClientErrors
        gives them to queries."""
        document = checked.document.node
        assert document is not None
        refused = await admit(document, operation_name, context_value)
        if refused:
            return ExecutionResult(data=None, errors=[to_client_error(e) for e in refused])
        result = execute(
            self._schema, document, root_value, context_value, variable_values, operation_name,
            executor_class=self.execution_context_class, operation_extensions=operation_extensions,
        )  # fmt: skip
        if isinstance(result, Awaitable):
            result = await result
        errors = [to_client_error(e) for e in result.errors] if result.errors else None
        return ExecutionResult(data=result.data, errors=errors)

    def prepare_reads(self, context: Any, app: Any) -> Any:
        """The request's read version: what this process has seen (the hub's position in the
        log, its own commits, the cache's generation), read before any row, so that what is
        rendered from them is at least this new. Reads shared under it (schema/context.py)
        go to the read cache."""
        hub = getattr(getattr(app, "state", None), "hub", None)
        if self.cache is None or hub is None:  # no read cache, or an app not started (no hub)
            return None
        context.read_version = (hub.position, publish.local_commits, self.cache.generation)
        context.shared_reads = self.cache
        return context.read_version

    def check(
        self, query: str | None, variable_values: Any, context_value: Any, operation_name: Any
    ) -> Checked | PreExecutionError | None:
        """The request against the document gate (schema/documents.py), before any execution."""
        viewer = getattr(context_value, "viewer", None)
        limits = limits_of(context_value)
        checked = self.documents.check(query, operation_name, variable_values, limits, viewer)
        # Tell the HTTP view (serving/refusals.py) whether this request's answer may be given
        # again to the same bytes: a refusal that does not depend on the caller.
        state = getattr(getattr(context_value, "request", None), "scope", {}).get("state")
        if isinstance(checked, list):
            if state is not None:
                code = (checked[0].extensions or {}).get("code") if checked else None
                if code != NOT_TRUSTED:
                    state.setdefault(GATE_REFUSED, code or "OTHER")
                else:
                    state[GATE_PASSED] = True  # not to be kept
            return PreExecutionError(data=None, errors=[to_client_error(e) for e in checked])
        if state is not None:
            state[GATE_PASSED] = True
        return checked

    async def execute(  # type: ignore[override]
        self,
        query: str | None,
        variable_values: dict[str, Any] | None = None,
        context_value: Any | None = None,
        root_value: Any | None = None,
        operation_name: str | None = None,
        allowed_operation_types: Any = None,
        operation_extensions: dict[str, Any] | None = None,
    ) -> ExecutionResult:
        """Every request passes the document gate first; then read queries take the compiled
        fast path (schema/fast.py) when it covers them, and anonymous ones the versioned cache
        (schema/cache.py)."""
        checked = self.check(query, variable_values, context_value, operation_name)
        if isinstance(checked, PreExecutionError):
            return checked
        if _is(checked, OperationType.SUBSCRIPTION):  # over HTTP: graphql-core found no stream
            return PreExecutionError(data=None, errors=[request_error(OVER_HTTP, VALIDATION_FAILED)])
        if _is(checked, MUTATION) and _mutations_allowed(allowed_operation_types):
            assert isinstance(checked, Checked)
            run = self.mutate(
                checked, variable_values, context_value, root_value, operation_name, operation_extensions
            )
            return await self.to_its_end(run)
        plan = None
        if self.fast is not None and checked is not None and query:
            plan = self.fast.plan(query, operation_name, document=checked.document.node)
        if plan is not None and root_value is None:
            fast = self.fast
            assert fast is not None
            app = getattr(getattr(context_value, "request", None), "app", None)
            audience = plan.audience(context_value.viewer)
            shared = audience in (SHARED_BY_ALL, SIGNED_OUT)
            version = None
            if self.cache is not None and app is not None:
                hub = app.state.hub
                # Aggregates: every process's commits; feeds: what this process has seen, read
                # before any row (what is rendered from them is at least this new).
                if plan.aggregate:
                    commits = await hub.bus.version()
                    version = None if commits is None else (commits, self.cache.generation)
                else:
                    version = self.prepare_reads(context_value, app)
            if version is not None and shared:

                async def compute() -> Any:
                    result = await fast.run(plan, variable_values, context_value)
                    return result.data if result is not None else None

                assert self.cache is not None
                key = self.cache.key(query, variable_values, operation_name, audience)
                data = await self.cache.get_or_compute(key, version, compute, plan.min_interval)
                if data is not None:
                    return ExecutionResult(data=data, errors=None)
            else:
                result = await fast.run(plan, variable_values, context_value)
                if result is not None:
                    return result
        return await super().execute(
            query, variable_values, context_value, root_value, operation_name, allowed_operation_types,
            operation_extensions,
        )  # fmt: skip

    async def stream(  # type: ignore[override]
        self,
        query: str | None,
        variable_values: dict[str, Any] | None = None,
        context_value: Any | None = None,
        root_value: Any | None = None,
        operation_name: str | None = None,
        operation_extensions: dict[str, Any] | None = None,
        allowed_operation_types: Any = None,
    ) -> Any:
        """Both WebSocket protocols come through here: the same document gate as `execute`
        (a refusal is the protocol's error message, with its code), then subscriptions the
        compiled plans cover render each event once per selection. The connection's caller is
        re-read first: its role may have changed since connection_init."""
        refresh = getattr(context_value, "refresh", None)
        if refresh is not None:
            try:
                await refresh()
            except Unauthenticated as exc:  # the socket's token expired: it is being closed
                return _refused([to_client_error(GraphQLError(exc.message, extensions=exc.extensions))])
        checked = self.check(query, variable_values, context_value, operation_name)
        if isinstance(checked, PreExecutionError):
            await slow_down(context_value, checked.errors or [])
            return _refused(checked.errors or [])
        if checked is None or checked.operation is None:  # over HTTP strawberry answers these (400)
            if not query:
                missing = request_error("No GraphQL query found in the request.", BAD_INPUT, field="query")
            else:
                unknown = f"Unknown operation named {operation_name!r}."
                missing = request_error(unknown, BAD_INPUT, field="operationName")
            return _refused([missing])
        if _is(checked, MUTATION):  # over a websocket: one result, the same as over HTTP
            assert isinstance(checked, Checked)
            run = self.mutate(
                checked, variable_values, context_value, root_value, operation_name, operation_extensions
            )
            return _single(self.to_its_end(run))
        if _is(checked, OperationType.QUERY):  # graphql-ws runs every operation as a stream: one result
            return _single(
                self.execute(query, variable_values, context_value, root_value, operation_name, None,
                             operation_extensions)
            )  # fmt: skip
        if self.fast is not None and root_value is None:
            source = self.fast.subscribe(
                query, variable_values, context_value, operation_name, document=checked.document.node
            )  # fmt: skip
            if source is not None:
                return source
        return await super().stream(
            query, variable_values, context_value, root_value, operation_name, operation_extensions,
            allowed_operation_types,
        )  # fmt: skip


schema = WargaSchema(
    execution_context_class=ExecutionContext,
    query=Query,
    mutation=Mutation,
    subscription=Subscription,
    config=StrawberryConfig(auto_camel_case=True),
    extensions=[
        CachedDocuments,
        ClientErrors,
    ],
)

schema.documents = Documents(schema._schema)
schema.fast = FastExecutor(schema) if os.environ.get("WARGA_FAST_PATH", "1") != "0" else None
schema.running = set()
schema.cache = ResponseCache() if os.environ.get("WARGA_RESPONSE_CACHE", "1") != "0" else None
schema.renderings = Renderings() if schema.fast is not None and schema.cache is not None else None
if schema.fast is not None and schema.renderings is not None:
    schema.fast.prepare = schema.renderings.prepare
