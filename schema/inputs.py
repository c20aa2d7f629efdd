"""GraphQL input types of the contract."""

from __future__ import annotations

import datetime as dt

import strawberry
from strawberry.file_uploads import Upload

from models.enums import ReportStatus, Role

__all__ = ["Upload"]


@strawberry.input
class GeoPointInput:
    lat: float
    lng: float


@strawberry.input
class BBoxInput:
    south: float
    west: float
    north: float
    east: float


@strawberry.input
class NearInput:
    lat: float
    lng: float
    radius_meters: float


@strawberry.input
class PeriodInput:
    from_: dt.date = strawberry.field(name="from")
    to: dt.date


@strawberry.input
class ReportFilter:
    status: list[ReportStatus] | None = None
    category_ids: list[strawberry.ID] | None = None
    region_id: strawberry.ID | None = None
    agency_id: strawberry.ID | None = None
    author_id: strawberry.ID | None = None
    assignee_id: strawberry.ID | None = None
    bbox: BBoxInput | None = None
    near: NearInput | None = None
    created_after: dt.datetime | None = None
    created_before: dt.datetime | None = None
    search: str | None = None
    overdue: bool | None = None


@strawberry.input
class FeedFilter:
    region_id: strawberry.ID | None = None
    category_ids: list[strawberry.ID] | None = None
    bbox: BBoxInput | None = None


@strawberry.input
class RegisterInput:
    handle: str
    display_name: str
    email: str | None = None
    phone: str | None = None
    password: str


@strawberry.input
class LoginInput:
    login: str
    password: str


@strawberry.input
class CreateStaffInput:
    handle: str
    display_name: str
    password: str
    role: Role
    region_id: strawberry.ID | None = None
    agency_id: strawberry.ID | None = None


@strawberry.input
class CreateReportInput:
    client_request_id: str
    category_id: strawberry.ID
    description: str
    location: GeoPointInput
    address: str | None = None
    media_ids: list[strawberry.ID] | None = None
    anonymous: bool | None = False
