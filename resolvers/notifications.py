"""Resolvers of the notifications part of the contract: parse, call one domain function, wrap."""

from __future__ import annotations

import strawberry

from config import get_settings
from domain import notifications_follow as following
from domain import notifications_settings as prefs
from domain import validate as v
from resolvers.convert import opt_id
from schema.context import Info
from schema.notifications import (
    AreaAlert,
    AreaAlertInput,
    NotificationSettings,
    NotificationSettingsInput,
    PushSubscriptionInfo,
    PushSubscriptionInput,
)
from schema.types import Report, User


def vapid_public_key(info: Info) -> str:
    return prefs.vapid_public_key(get_settings().vapid_private_key)


async def register_push_subscription(info: Info, input: PushSubscriptionInput) -> PushSubscriptionInfo:
    row = await prefs.register_push(info.context.viewer, input.endpoint, input.keys.p256dh, input.keys.auth)
    return PushSubscriptionInfo.of(row)


async def unregister_push_subscription(info: Info, endpoint: str) -> bool:
    return await prefs.unregister_push(info.context.viewer, endpoint)


async def update_notification_settings(info: Info, input: NotificationSettingsInput) -> NotificationSettings:
    changes = {"push": input.push, "email": input.email, "follow_on_vote": input.follow_on_vote,
               "follow_on_comment": input.follow_on_comment, "language": input.language}  # fmt: skip
    return NotificationSettings.of(await prefs.update_settings(info.context.viewer, changes))


async def request_email_verification(info: Info) -> bool:
    return await prefs.request_verification(info.context.viewer)


async def verify_email(info: Info, token: str) -> User:
    return User.of(await prefs.verify_email(token))


async def follow_report(info: Info, id: strawberry.ID) -> Report:
    return Report.of(await following.follow(info.context.viewer, v.parse_id(id, "id"), True))


async def unfollow_report(info: Info, id: strawberry.ID) -> Report:
    return Report.of(await following.follow(info.context.viewer, v.parse_id(id, "id"), False))


async def create_area_alert(info: Info, input: AreaAlertInput) -> AreaAlert:
    center = input.center
    alert = following.NewAlert(
        region_id=opt_id(input.region_id, "input.regionId"),
        lat=center.lat if center else None,
        lng=center.lng if center else None,
        radius_m=input.radius_meters,
        category_ids=v.parse_ids(input.category_ids, "input.categoryIds"),
    )
    return AreaAlert.of(await following.create_alert(info.context.viewer, alert))


async def delete_area_alert(info: Info, id: strawberry.ID) -> bool:
    return await following.delete_alert(info.context.viewer, v.parse_id(id, "id"))
