"""The GraphQL types of the contract's second part (../shared/api/notifications.graphql)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import strawberry

from domain.catalog import catalog
from domain.notifications_areas import categories_of
from models import AreaAlert as AreaAlertRow
from models import PushSubscription as PushSubscriptionRow
from schema.inputs import GeoPointInput
from schema.places import Category, GeoPoint, Region, region_of


@strawberry.type
class NotificationSettings:
    push: bool = strawberry.field(description="send Web Push to my registered devices")
    email: bool = strawberry.field(description="send e-mail (only once the address is verified)")
    follow_on_vote: bool = strawberry.field(description="voting on a report follows it")
    follow_on_comment: bool = strawberry.field(description="commenting on a report follows it")
    language: str = strawberry.field(
        description='"id" (Bahasa Indonesia, the default) or "en": the language of push texts and e-mails'
    )

    @classmethod
    def of(cls, s: dict[str, Any]) -> NotificationSettings:
        return cls(push=s["push"], email=s["email"], follow_on_vote=s["follow_on_vote"],
                   follow_on_comment=s["follow_on_comment"], language=s["language"])  # fmt: skip


@strawberry.input
class NotificationSettingsInput:
    push: bool | None = None
    email: bool | None = None
    follow_on_vote: bool | None = None
    follow_on_comment: bool | None = None
    language: str | None = None


@strawberry.type
class PushSubscriptionInfo:
    id: strawberry.ID
    endpoint: str
    created_at: dt.datetime

    @classmethod
    def of(cls, row: PushSubscriptionRow) -> PushSubscriptionInfo:
        return cls(id=strawberry.ID(str(row.id)), endpoint=row.endpoint, created_at=row.created_at)


@strawberry.input
class PushKeysInput:
    p256dh: str
    auth: str


@strawberry.input(description="What PushSubscription.toJSON() gives in a browser.")
class PushSubscriptionInput:
    endpoint: str
    keys: PushKeysInput


@strawberry.type
class AreaAlert:
    id: strawberry.ID
    region: Region | None = strawberry.field(description="a region of any level ...")
    center: GeoPoint | None = strawberry.field(description="... or a circle")
    radius_meters: int | None
    categories: list[Category] = strawberry.field(description="empty = all categories")
    created_at: dt.datetime

    @classmethod
    def of(cls, row: AreaAlertRow) -> AreaAlert:
        cat = catalog()
        ids = categories_of(row.category_ids) or frozenset()
        circle = row.lat is not None and row.lng is not None
        return cls(
            id=strawberry.ID(str(row.id)), region=region_of(row.region_id),
            center=GeoPoint(lat=row.lat, lng=row.lng) if circle else None,  # type: ignore[arg-type]
            radius_meters=row.radius_m,
            categories=[Category.of(cat.categories[i]) for i in sorted(ids) if i in cat.categories],
            created_at=row.created_at,
        )  # fmt: skip


@strawberry.input
class AreaAlertInput:
    region_id: strawberry.ID | None = None
    center: GeoPointInput | None = None
    radius_meters: int | None = strawberry.field(default=None, description="50 .. 5,000")
    category_ids: list[strawberry.ID] | None = None
