"""The GraphQL object types of the contract, built from model rows by `of()`: scalar fields
are plain attributes (cheap to resolve); relations resolve through the in-memory catalog
(regions, categories, agencies, built once per catalog) or the request's DataLoaders."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable
from typing import Annotated, Any

import strawberry

from domain import notifications_follow as following
from domain import notifications_settings as prefs
from domain import validate, visibility
from domain.catalog import catalog
from domain.engagement import comments_page
from domain.errors import NotFound
from domain.flips import flips_at
from domain.pagination import encode_cursor
from domain.report import is_overdue
from models import ApiKey as ApiKeyRow
from models import Comment as CommentRow
from models import Media as MediaRow
from models import Report as ReportRow
from models import StatusChange as StatusChangeRow
from models import User as UserRow
from models.enums import WITH_OFFICERS, ReportEventKind, ReportStatus, Role
from schema.context import Info
from schema.notifications import AreaAlert, NotificationSettings
from schema.places import Agency, Category, GeoPoint, Region, agency_of, graphql_id, region_of
from schema.policy import EVERYONE, OWN, PERSONAL

RoleEnum = strawberry.enum(Role, name="Role")
ReportStatusEnum = strawberry.enum(ReportStatus, name="ReportStatus")
ReportEventKindEnum = strawberry.enum(ReportEventKind, name="ReportEventKind")


@strawberry.type
class User:
    id: strawberry.ID
    handle: str
    display_name: str
    role: Role
    region: Region | None
    agency: Agency | None
    created_at: dt.datetime
    row: strawberry.Private[UserRow | None]

    @classmethod
    def of(cls, row: UserRow) -> User:
        return cls(
            id=graphql_id(row.id), handle=row.handle, display_name=row.display_name, role=Role(row.role),
            region=region_of(row.region_id), agency=agency_of(row.agency_id),  # type: ignore[attr-defined]
            created_at=row.created_at, row=row,
        )  # fmt: skip

    @classmethod
    def hidden(cls, key: str, at: dt.datetime) -> User:
        """Who stands where a name may not be shown (an anonymous reporter, a deleted
        comment's author): no id, handle, name or date of the real account."""
        return cls(id=strawberry.ID(key), handle="anonim", display_name="Anonim", role=Role.CITIZEN,
                   region=None, agency=None, created_at=at, row=None)  # fmt: skip

    @strawberry.field(description="the reports the viewer may attribute to this user", metadata=OWN)
    async def reports_count(self, info: Info) -> int:
        return 0 if self.row is None else await info.context.loaders.report_counts.load(self.row.id)

    def _contact(self, info: Info) -> UserRow | None:
        row = self.row
        return row if row is not None and visibility.may_see_contact(info.context.viewer, row.id) else None

    @strawberry.field(description="Only to the user themself and ADMIN.", metadata=OWN)
    def email(self, info: Info) -> str | None:
        row = self._contact(info)
        return row.email if row is not None else None

    @strawberry.field(description="Only to the user themself and ADMIN.", metadata=OWN)
    def phone(self, info: Info) -> str | None:
        row = self._contact(info)
        return row.phone if row is not None else None

    @strawberry.field(description="Only to the user themself.", metadata=OWN)
    async def notification_settings(self, info: Info) -> NotificationSettings | None:
        if self.row is None or not visibility.may_see_settings(info.context.viewer, self.row.id):
            return None
        return NotificationSettings.of(await prefs.settings_of(self.row.id))

    @strawberry.field(description="Only to the user themself.", metadata=OWN)
    async def area_alerts(self, info: Info) -> list[AreaAlert] | None:
        if self.row is None or not visibility.may_see_settings(info.context.viewer, self.row.id):
            return None
        return [AreaAlert.of(a) for a in await following.alerts_of(self.row.id)]

    @strawberry.field(description="Only to the user themself and ADMIN.", metadata=OWN)
    async def email_verified(self, info: Info) -> bool | None:
        if self.row is None or not visibility.may_see_contact(info.context.viewer, self.row.id):
            return None
        return await prefs.email_verified(self.row)


async def user_of(info: Info, user_id: int | None) -> User | None:
    if user_id is None:
        return None
    row = await info.context.loaders.users.load(user_id)
    return User.of(row) if row else None


async def visible_report(info: Info, report_id: int) -> ReportRow | None:
    """A report through the request's loader, if the viewer may see it."""
    row = await info.context.loaders.reports.load(report_id)
    return row if row is not None and visibility.can_see_report(info.context.viewer, row) else None


async def parent_report(info: Info, report_id: int) -> ReportRow:
    """The report a timeline entry or comment belongs to: the viewer reached the child through
    it, so it is visible; checked all the same (a NOT_FOUND rather than a leak)."""
    row = await visible_report(info, report_id)
    if row is None:
        raise NotFound(f"No report with id {report_id}.")
    return row


@strawberry.type
class AuthPayload:
    token: str
    user: User


@strawberry.type
class Media:
    id: strawberry.ID
    url: str
    thumbnail_url: str
    content_type: str
    width: int
    height: int

    @classmethod
    def of(cls, row: MediaRow, info: Info, public: bool) -> Media:
        """`public`: whether the public sees the report it belongs to (else its URLs are signed
        for this viewer, who was allowed to see it)."""
        url = info.context.media_url
        return cls(
            id=graphql_id(row.id), url=url(row.path, public), thumbnail_url=url(row.thumb_path, public),
            content_type=row.content_type, width=row.width, height=row.height,
        )  # fmt: skip


@strawberry.type
class StatusChange:
    id: strawberry.ID
    from_: ReportStatus | None = strawberry.field(name="from")
    to: ReportStatus
    note: str | None
    created_at: dt.datetime
    row: strawberry.Private[StatusChangeRow]

    @classmethod
    def of(cls, row: StatusChangeRow) -> StatusChange:
        return cls(
            id=graphql_id(row.id), from_=ReportStatus(row.from_status) if row.from_status else None,
            to=ReportStatus(row.to_status), note=row.note, created_at=row.created_at, row=row,
        )  # fmt: skip

    @strawberry.field(metadata=EVERYONE)
    async def report(self, info: Info) -> Annotated[Report, strawberry.lazy("schema.types")]:
        return Report.of(await parent_report(info, self.row.report_id))  # type: ignore[attr-defined]

    @strawberry.field(description="null when the system made the change, or when it would name an anonymous"
                      " reporter to a viewer who may not know them")  # fmt: skip
    async def actor(self, info: Info) -> User | None:
        actor_id = self.row.actor_id  # type: ignore[attr-defined]
        if actor_id is None:
            return None
        report = await parent_report(info, self.row.report_id)  # type: ignore[attr-defined]
        if visibility.hides_user(info.context.viewer, report, actor_id):
            return None
        return await user_of(info, actor_id)

    @strawberry.field(metadata=EVERYONE)
    async def media(self, info: Info) -> list[Media]:
        rows = await info.context.loaders.change_media.load(self.row.id)
        if not rows:
            return []
        public = visibility.can_see_report(None, await parent_report(info, self.row.report_id))  # type: ignore[attr-defined]
        return [Media.of(m, info, public) for m in rows]


@strawberry.type
class Comment:
    id: strawberry.ID
    body: str
    is_official: bool
    created_at: dt.datetime
    row: strawberry.Private[CommentRow]

    @classmethod
    def of(cls, row: CommentRow) -> Comment:
        """A deleted comment is a tombstone: its id, and no body or author, live or replayed."""
        shown = visibility.comment_shown(row.deleted_at)
        return cls(id=graphql_id(row.id), body=row.body if shown else "",
                   is_official=row.is_official and shown, created_at=row.created_at, row=row)  # fmt: skip

    @strawberry.field(metadata=EVERYONE)
    async def report(self, info: Info) -> Annotated[Report, strawberry.lazy("schema.types")]:
        return Report.of(await parent_report(info, self.row.report_id))  # type: ignore[attr-defined]

    @strawberry.field(description="\"Anonim\" for an anonymous reporter on their own report, to those who"
                      " may not know them, and for a deleted comment")  # fmt: skip
    async def author(self, info: Info) -> User:
        row = self.row
        report = await parent_report(info, row.report_id)  # type: ignore[attr-defined]
        hidden = visibility.hides_user(info.context.viewer, report, row.author_id)  # type: ignore[attr-defined]
        user = None if hidden or not visibility.comment_shown(row.deleted_at) else await user_of(
            info, row.author_id  # type: ignore[attr-defined]
        )
        return user if user is not None else User.hidden(f"anonim-{report.id}", report.created_at)


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type
class CommentEdge:
    cursor: str
    node: Comment


@strawberry.type
class CommentConnection:
    edges: list[CommentEdge]
    page_info: PageInfo
    total_count: int


@strawberry.type
class Report:
    id: strawberry.ID
    description: str
    category: Category
    status: ReportStatus
    location: GeoPoint
    address: str | None
    kelurahan: Region
    agency: Agency | None
    anonymous: bool
    created_at: dt.datetime
    updated_at: dt.datetime
    verified_at: dt.datetime | None
    first_response_at: dt.datetime | None
    resolved_at: dt.datetime | None
    closed_at: dt.datetime | None
    due_at: dt.datetime | None
    vote_count: int
    comment_count: int
    rating: int | None
    row: strawberry.Private[ReportRow]

    @classmethod
    def of(cls, row: ReportRow) -> Report:
        cat = catalog()
        kelurahan = region_of(row.kelurahan_id)  # type: ignore[attr-defined]
        assert kelurahan is not None
        return cls(
            id=graphql_id(row.id), description=row.description,
            category=Category.of(cat.categories[row.category_id]),  # type: ignore[attr-defined]
            status=ReportStatus(row.status), location=GeoPoint(lat=row.lat, lng=row.lng),
            address=row.address, kelurahan=kelurahan, agency=agency_of(row.agency_id),  # type: ignore[attr-defined]
            anonymous=row.anonymous, created_at=row.created_at, updated_at=row.updated_at,
            verified_at=row.verified_at, first_response_at=row.first_response_at,
            resolved_at=row.resolved_at, closed_at=row.closed_at, due_at=row.due_at,
            vote_count=row.vote_count, comment_count=row.comment_count, rating=row.rating, row=row,
        )  # fmt: skip

    @strawberry.field(description="null when anonymous, to all but the author, MODERATOR and ADMIN",
                      metadata=OWN)  # fmt: skip
    async def author(self, info: Info) -> User | None:
        if not visibility.shows_author(info.context.viewer, self.row):
            return None
        return await user_of(info, self.row.author_id)  # type: ignore[attr-defined]

    @strawberry.field(metadata=EVERYONE)
    async def assignee(self, info: Info) -> User | None:
        return await user_of(info, self.row.assignee_id)  # type: ignore[attr-defined]

    @strawberry.field(metadata=EVERYONE)
    async def media(self, info: Info) -> list[Media]:
        public = visibility.can_see_report(None, self.row)
        return [Media.of(m, info, public) for m in await info.context.loaders.report_media.load(self.row.id)]

    @strawberry.field(metadata=EVERYONE)
    def overdue(self, info: Info) -> bool:
        due, status = self.row.due_at, self.row.status
        late = is_overdue(status, due, info.context.started)
        if due is not None and not late and status in WITH_OFFICERS:
            flips_at(due)  # becomes overdue then: a cached answer must not outlive it
        return late

    @strawberry.field(metadata=PERSONAL)
    async def viewer_has_voted(self, info: Info) -> bool:
        return (await info.context.loaders.viewer_marks.load(self.row.id)).voted

    @strawberry.field
    async def comments(
        self, info: Info, first: int | None = 20, after: str | None = None
    ) -> CommentConnection:
        page = await comments_page(self.row.id, validate.page_size(first), after)
        edges = [CommentEdge(cursor=encode_cursor(c.id, c.id), node=Comment.of(c)) for c in page.rows]
        return CommentConnection(
            edges=edges,
            page_info=PageInfo(has_next_page=page.has_next, end_cursor=edges[-1].cursor if edges else None),
            total_count=self.row.comment_count,
        )

    @strawberry.field(metadata=EVERYONE)
    async def timeline(self, info: Info) -> list[StatusChange]:
        return [StatusChange.of(c) for c in await info.context.loaders.timelines.load(self.row.id)]

    @strawberry.field(description="null when the original is hidden from the viewer (a REJECTED one)")
    async def duplicate_of(self, info: Info) -> Report | None:
        if self.row.duplicate_of_id is None:  # type: ignore[attr-defined]
            return None
        row = await visible_report(info, self.row.duplicate_of_id)  # type: ignore[attr-defined]
        return Report.of(row) if row else None

    @strawberry.field(description="Whether the viewer follows this report (false when signed out).",
                      metadata=PERSONAL)  # fmt: skip
    async def viewer_follows(self, info: Info) -> bool:
        return (await info.context.loaders.viewer_marks.load(self.row.id)).follows

    @strawberry.field(metadata=EVERYONE)
    async def follower_count(self, info: Info) -> int:
        return await info.context.loaders.follower_counts.load(self.row.id)


def _edge_cursor(root: ReportEdge) -> str:
    """Encoded only when asked: a feed that pages by `pageInfo` (or not at all) spent 3 % of
    its time encoding cursors nobody read (bench/README.md, session 9)."""
    return root.order.cursor(root.node.row)


@strawberry.type
class ReportEdge:
    cursor: str = strawberry.field(resolver=_edge_cursor)
    node: Report
    order: strawberry.Private[Any]  # domain.pagination.Order


@strawberry.type
class ReportConnection:
    edges: list[ReportEdge]
    page_info: PageInfo
    total_count_fn: strawberry.Private[Callable[..., Any]]
    total_count_capped_fn: strawberry.Private[Callable[..., Any]]
    searched: strawberry.Private[bool] = False  # a text search: its count holds a search's slot

    def _hold(self, info: Info) -> Callable[[], Any]:
        return info.context.expensive_read if self.searched else contextlib.nullcontext

    @strawberry.field
    async def total_count(self, info: Info) -> int:
        return await self.total_count_fn(self._hold(info))

    @strawberry.field(description="totalCount stopped at the server's cap (the real number is larger)")
    async def total_count_capped(self, info: Info) -> bool:
        return await self.total_count_capped_fn(self._hold(info))


@strawberry.type
class ReportEvent:
    cursor: str = strawberry.field(description="resume point: pass it back as `after` to miss nothing")
    kind: ReportEventKind
    occurred_at: dt.datetime
    report: Report
    status_change: StatusChange | None
    comment: Comment | None


@strawberry.type
class ApiKey:
    id: strawberry.ID
    name: str
    prefix: str = strawberry.field(description="the first characters of the key, to recognise it")
    created_at: dt.datetime
    revoked_at: dt.datetime | None
    user_id: strawberry.Private[int]

    @classmethod
    def of(cls, row: ApiKeyRow) -> ApiKey:
        return cls(id=graphql_id(row.id), name=row.name, prefix=row.prefix, created_at=row.created_at,
                   revoked_at=row.revoked_at, user_id=row.user_id)  # type: ignore[attr-defined]  # fmt: skip

    @strawberry.field
    async def user(self, info: Info) -> User:
        user = await user_of(info, self.user_id)
        assert user is not None
        return user


@strawberry.type
class IssuedApiKey:
    key: str = strawberry.field(description="shown once: store it in the partner app")
    api_key: ApiKey
