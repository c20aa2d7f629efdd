"""The GraphQL object types of the contract. They wrap model rows; relations resolve through
the in-memory catalog (regions, categories, agencies) or the request's DataLoaders."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import strawberry
from strawberry.scalars import JSON

from domain.catalog import catalog
from domain.report import is_overdue, shows_author
from domain.users import may_see_contact
from models import Agency as AgencyRow
from models import ApiKey as ApiKeyRow
from models import Category as CategoryRow
from models import Comment as CommentRow
from models import Media as MediaRow
from models import Region as RegionRow
from models import Report as ReportRow
from models import StatusChange as StatusChangeRow
from models import User as UserRow
from models.enums import EventKind, RegionLevel, ReportStatus, Role
from schema.context import Info

RoleEnum = strawberry.enum(Role, name="Role")
ReportStatusEnum = strawberry.enum(ReportStatus, name="ReportStatus")
RegionLevelEnum = strawberry.enum(RegionLevel, name="RegionLevel")
ReportEventKind = strawberry.enum(EventKind, name="ReportEventKind")


@strawberry.type
class GeoPoint:
    lat: float
    lng: float


@strawberry.type
class Region:
    row: strawberry.Private[RegionRow]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return strawberry.ID(str(self.row.id))

    @strawberry.field
    def code(self) -> str:
        return self.row.code

    @strawberry.field
    def name(self) -> str:
        return self.row.name

    @strawberry.field
    def level(self) -> RegionLevel:
        return RegionLevel(self.row.level)

    @strawberry.field
    def parent(self) -> Region | None:
        parent = catalog().parent(self.row)
        return Region(row=parent) if parent else None

    @strawberry.field
    def children(self) -> list[Region]:
        return [Region(row=r) for r in catalog().children.get(self.row.id, [])]

    @strawberry.field
    def centroid(self) -> GeoPoint:
        return GeoPoint(lat=self.row.lat, lng=self.row.lng)

    @strawberry.field(description="GeoJSON geometry (lng/lat)")
    def boundary(self) -> JSON | None:
        return self.row.boundary


def region_of(region_id: int | None) -> Region | None:
    row = catalog().regions.get(region_id) if region_id is not None else None
    return Region(row=row) if row else None


@strawberry.type
class Agency:
    row: strawberry.Private[AgencyRow]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return strawberry.ID(str(self.row.id))

    @strawberry.field
    def code(self) -> str:
        return self.row.code

    @strawberry.field
    def name(self) -> str:
        return self.row.name

    @strawberry.field
    def categories(self) -> list[Category]:
        return [Category(row=c) for c in catalog().categories.values() if c.agency_id == self.row.id]  # type: ignore[attr-defined]


def agency_of(agency_id: int | None) -> Agency | None:
    row = catalog().agencies.get(agency_id) if agency_id is not None else None
    return Agency(row=row) if row else None


@strawberry.type
class Category:
    row: strawberry.Private[CategoryRow]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return strawberry.ID(str(self.row.id))

    @strawberry.field
    def code(self) -> str:
        return self.row.code

    @strawberry.field
    def name(self) -> str:
        return self.row.name

    @strawberry.field(name="nameEn")
    def name_en(self) -> str:
        return self.row.name_en

    @strawberry.field
    def agency(self) -> Agency | None:
        return agency_of(self.row.agency_id)  # type: ignore[attr-defined]

    @strawberry.field(name="slaHours")
    def sla_hours(self) -> int:
        return self.row.sla_hours


@strawberry.type
class User:
    row: strawberry.Private[UserRow]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return strawberry.ID(str(self.row.id))

    @strawberry.field
    def handle(self) -> str:
        return self.row.handle

    @strawberry.field(name="displayName")
    def display_name(self) -> str:
        return self.row.display_name

    @strawberry.field
    def role(self) -> Role:
        return Role(self.row.role)

    @strawberry.field
    def region(self) -> Region | None:
        return region_of(self.row.region_id)  # type: ignore[attr-defined]

    @strawberry.field
    def agency(self) -> Agency | None:
        return agency_of(self.row.agency_id)  # type: ignore[attr-defined]

    @strawberry.field(name="reportsCount")
    def reports_count(self) -> int:
        return self.row.reports_count

    @strawberry.field(name="createdAt")
    def created_at(self) -> dt.datetime:
        return self.row.created_at

    @strawberry.field(description="Only to the user themself and ADMIN.")
    def email(self, info: Info) -> str | None:
        return self.row.email if may_see_contact(info.context.viewer, self.row.id) else None

    @strawberry.field(description="Only to the user themself and ADMIN.")
    def phone(self, info: Info) -> str | None:
        return self.row.phone if may_see_contact(info.context.viewer, self.row.id) else None


async def user_of(info: Info, user_id: int | None) -> User | None:
    if user_id is None:
        return None
    row = await info.context.loaders.users.load(user_id)
    return User(row=row) if row else None


@strawberry.type
class AuthPayload:
    token: str
    user: User


@strawberry.type
class Media:
    row: strawberry.Private[MediaRow]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return strawberry.ID(str(self.row.id))

    @strawberry.field
    def url(self) -> str:
        return f"/media/{self.row.path}"

    @strawberry.field(name="thumbnailUrl")
    def thumbnail_url(self) -> str:
        return f"/media/{self.row.thumb_path}"

    @strawberry.field(name="contentType")
    def content_type(self) -> str:
        return self.row.content_type

    @strawberry.field
    def width(self) -> int:
        return self.row.width

    @strawberry.field
    def height(self) -> int:
        return self.row.height


@strawberry.type
class StatusChange:
    row: strawberry.Private[StatusChangeRow]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return strawberry.ID(str(self.row.id))

    @strawberry.field
    async def report(self, info: Info) -> Annotated[Report, strawberry.lazy("schema.types")]:
        row = await info.context.loaders.reports.load(self.row.report_id)  # type: ignore[attr-defined]
        return Report(row=row)

    @strawberry.field(name="from")
    def from_(self) -> ReportStatus | None:
        return ReportStatus(self.row.from_status) if self.row.from_status else None

    @strawberry.field
    def to(self) -> ReportStatus:
        return ReportStatus(self.row.to_status)

    @strawberry.field(description="null when the system made the change")
    async def actor(self, info: Info) -> User | None:
        return await user_of(info, self.row.actor_id)  # type: ignore[attr-defined]

    @strawberry.field
    def note(self) -> str | None:
        return self.row.note

    @strawberry.field
    async def media(self, info: Info) -> list[Media]:
        return [Media(row=m) for m in await info.context.loaders.change_media.load(self.row.id)]

    @strawberry.field(name="createdAt")
    def created_at(self) -> dt.datetime:
        return self.row.created_at


@strawberry.type
class Comment:
    row: strawberry.Private[CommentRow]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return strawberry.ID(str(self.row.id))

    @strawberry.field
    async def report(self, info: Info) -> Annotated[Report, strawberry.lazy("schema.types")]:
        row = await info.context.loaders.reports.load(self.row.report_id)  # type: ignore[attr-defined]
        return Report(row=row)

    @strawberry.field
    async def author(self, info: Info) -> User:
        user = await user_of(info, self.row.author_id)  # type: ignore[attr-defined]
        assert user is not None
        return user

    @strawberry.field
    def body(self) -> str:
        return self.row.body

    @strawberry.field(name="isOfficial")
    def is_official(self) -> bool:
        return self.row.is_official

    @strawberry.field(name="createdAt")
    def created_at(self) -> dt.datetime:
        return self.row.created_at


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
    row: strawberry.Private[ReportRow]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return strawberry.ID(str(self.row.id))

    @strawberry.field
    def description(self) -> str:
        return self.row.description

    @strawberry.field
    def category(self) -> Category:
        return Category(row=catalog().categories[self.row.category_id])  # type: ignore[attr-defined]

    @strawberry.field
    def status(self) -> ReportStatus:
        return ReportStatus(self.row.status)

    @strawberry.field
    def location(self) -> GeoPoint:
        return GeoPoint(lat=self.row.lat, lng=self.row.lng)

    @strawberry.field
    def address(self) -> str | None:
        return self.row.address

    @strawberry.field
    def kelurahan(self) -> Region:
        region = region_of(self.row.kelurahan_id)  # type: ignore[attr-defined]
        assert region is not None
        return region

    @strawberry.field
    def agency(self) -> Agency | None:
        return agency_of(self.row.agency_id)  # type: ignore[attr-defined]

    @strawberry.field(description="null to the public when anonymous")
    async def author(self, info: Info) -> User | None:
        if not shows_author(info.context.viewer, self.row):
            return None
        return await user_of(info, self.row.author_id)  # type: ignore[attr-defined]

    @strawberry.field
    def anonymous(self) -> bool:
        return self.row.anonymous

    @strawberry.field
    async def assignee(self, info: Info) -> User | None:
        return await user_of(info, self.row.assignee_id)  # type: ignore[attr-defined]

    @strawberry.field
    async def media(self, info: Info) -> list[Media]:
        return [Media(row=m) for m in await info.context.loaders.report_media.load(self.row.id)]

    @strawberry.field(name="createdAt")
    def created_at(self) -> dt.datetime:
        return self.row.created_at

    @strawberry.field(name="updatedAt")
    def updated_at(self) -> dt.datetime:
        return self.row.updated_at

    @strawberry.field(name="verifiedAt")
    def verified_at(self) -> dt.datetime | None:
        return self.row.verified_at

    @strawberry.field(name="firstResponseAt")
    def first_response_at(self) -> dt.datetime | None:
        return self.row.first_response_at

    @strawberry.field(name="resolvedAt")
    def resolved_at(self) -> dt.datetime | None:
        return self.row.resolved_at

    @strawberry.field(name="closedAt")
    def closed_at(self) -> dt.datetime | None:
        return self.row.closed_at

    @strawberry.field(name="dueAt")
    def due_at(self) -> dt.datetime | None:
        return self.row.due_at

    @strawberry.field
    def overdue(self, info: Info) -> bool:
        return is_overdue(self.row.status, self.row.due_at, info.context.started)

    @strawberry.field(name="voteCount")
    def vote_count(self) -> int:
        return self.row.vote_count

    @strawberry.field(name="viewerHasVoted")
    async def viewer_has_voted(self, info: Info) -> bool:
        return await info.context.loaders.viewer_votes.load(self.row.id)

    @strawberry.field(name="commentCount")
    def comment_count(self) -> int:
        return self.row.comment_count

    @strawberry.field
    async def comments(
        self, info: Info, first: int | None = 20, after: str | None = None
    ) -> CommentConnection:
        from resolvers.query import report_comments

        return await report_comments(info, self.row, first, after)

    @strawberry.field
    async def timeline(self, info: Info) -> list[StatusChange]:
        return [StatusChange(row=c) for c in await info.context.loaders.timelines.load(self.row.id)]

    @strawberry.field
    def rating(self) -> int | None:
        return self.row.rating

    @strawberry.field(name="duplicateOf")
    async def duplicate_of(self, info: Info) -> Report | None:
        if self.row.duplicate_of_id is None:  # type: ignore[attr-defined]
            return None
        row = await info.context.loaders.reports.load(self.row.duplicate_of_id)  # type: ignore[attr-defined]
        return Report(row=row) if row else None


@strawberry.type
class ReportEdge:
    cursor: str
    node: Report


@strawberry.type
class ReportConnection:
    edges: list[ReportEdge]
    page_info: PageInfo
    total_count_fn: strawberry.Private[object]

    @strawberry.field(name="totalCount")
    async def total_count(self) -> int:
        return await self.total_count_fn()  # type: ignore[operator]


@strawberry.type
class ReportEvent:
    cursor: str = strawberry.field(description="resume point: pass it back as `after` to miss nothing")
    kind: EventKind
    occurred_at: dt.datetime
    report: Report
    status_change: StatusChange | None
    comment: Comment | None


@strawberry.type
class ApiKey:
    row: strawberry.Private[ApiKeyRow]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return strawberry.ID(str(self.row.id))

    @strawberry.field
    def name(self) -> str:
        return self.row.name

    @strawberry.field(description="the first characters of the key, to recognise it")
    def prefix(self) -> str:
        return self.row.prefix

    @strawberry.field
    async def user(self, info: Info) -> User:
        user = await user_of(info, self.row.user_id)  # type: ignore[attr-defined]
        assert user is not None
        return user

    @strawberry.field
    def created_at(self) -> dt.datetime:
        return self.row.created_at

    @strawberry.field
    def revoked_at(self) -> dt.datetime | None:
        return self.row.revoked_at


@strawberry.type
class IssuedApiKey:
    key: str = strawberry.field(description="shown once: store it in the partner app")
    api_key: ApiKey
