"""Mutation resolvers: parse, call one domain function, wrap the result."""

from __future__ import annotations

import strawberry

from config import get_settings
from domain import apikeys, engagement, lifecycle, media, users
from domain import validate as v
from domain.report import NewReport, create_report
from models.enums import Role
from resolvers.convert import opt_id
from schema.context import Info
from schema.inputs import CreateReportInput, CreateStaffInput, LoginInput, RegisterInput, Upload
from schema.types import ApiKey, AuthPayload, Comment, IssuedApiKey, Media, Report, User


def _auth(user: users.User) -> AuthPayload:
    return AuthPayload(token=users.token_for(user), user=User.of(user))


async def register(info: Info, input: RegisterInput) -> AuthPayload:
    user = await users.register(input.handle, input.display_name, input.password, input.email, input.phone)
    info.context.user_changed(user)  # the payload is the new user's own (their e-mail)
    return _auth(user)


async def login(info: Info, input: LoginInput) -> AuthPayload:
    # A blank login would match every account without a phone number.
    login = v.text(input.login, "input.login", min_len=1, max_len=320)
    user = await users.login(login or "", input.password, info.context.login_guard())
    info.context.user_changed(user)  # the payload is the user's own (their anonymous reports)
    return _auth(user)


async def create_staff_account(info: Info, input: CreateStaffInput) -> User:
    viewer = info.context.require_viewer()
    user = await users.create_staff(
        viewer,
        handle=input.handle,
        display_name=input.display_name,
        password=input.password,
        role=Role(input.role),
        region_id=opt_id(input.region_id, "regionId"),
        agency_id=opt_id(input.agency_id, "agencyId"),
    )
    return User.of(user)


async def set_user_role(
    info: Info,
    user_id: strawberry.ID,
    role: Role,
    region_id: strawberry.ID | None = None,
    agency_id: strawberry.ID | None = None,
) -> User:
    row = await users.set_role(
        info.context.viewer, v.parse_id(user_id, "userId"), Role(role),
        opt_id(region_id, "regionId"), opt_id(agency_id, "agencyId"),
    )  # fmt: skip
    return User.of(row)


async def create_report_(info: Info, input: CreateReportInput) -> Report:
    row = await create_report(
        info.context.viewer,
        NewReport(
            client_request_id=input.client_request_id,
            category_id=v.parse_id(input.category_id, "categoryId"),
            description=input.description,
            lat=input.location.lat,
            lng=input.location.lng,
            address=input.address,
            media_ids=v.parse_ids(input.media_ids, "mediaIds") or [],
            anonymous=bool(input.anonymous),
        ),
    )
    return Report.of(row)


async def add_comment(info: Info, report_id: strawberry.ID, body: str) -> Comment:
    row = await engagement.add_comment(info.context.viewer, v.parse_id(report_id, "reportId"), body)
    return Comment.of(row)


async def delete_comment(info: Info, id: strawberry.ID) -> bool:
    return await engagement.delete_comment(info.context.viewer, v.parse_id(id, "id"))


async def vote(info: Info, report_id: strawberry.ID) -> Report:
    row = await engagement.set_vote(info.context.viewer, v.parse_id(report_id, "reportId"), True)
    return Report.of(row)


async def unvote(info: Info, report_id: strawberry.ID) -> Report:
    row = await engagement.set_vote(info.context.viewer, v.parse_id(report_id, "reportId"), False)
    return Report.of(row)


async def upload_media(info: Info, file: Upload) -> Media:
    viewer = info.context.require_viewer()
    data = await file.read(media.MAX_BYTES + 1)  # one byte over the limit is enough to refuse
    decoder = getattr(info.context.request.app.state, "decoder", None)
    row = await media.upload(viewer.id, data, get_settings().media_root, decoder)
    return Media.of(row, info, public=False)  # attached to nothing yet: the uploader's alone


async def verify_report(
    info: Info, id: strawberry.ID, category_id: strawberry.ID | None = None, note: str | None = None
) -> Report:
    row = await lifecycle.verify(
        info.context.viewer, v.parse_id(id, "id"), opt_id(category_id, "categoryId"), note
    )
    return Report.of(row)


async def reject_report(info: Info, id: strawberry.ID, reason: str) -> Report:
    return Report.of(await lifecycle.reject(info.context.viewer, v.parse_id(id, "id"), reason))


async def mark_duplicate(info: Info, id: strawberry.ID, duplicate_of_id: strawberry.ID) -> Report:
    row = await lifecycle.mark_duplicate(
        info.context.viewer, v.parse_id(id, "id"), v.parse_id(duplicate_of_id, "duplicateOfId")
    )
    return Report.of(row)


async def assign_report(info: Info, id: strawberry.ID, assignee_id: strawberry.ID) -> Report:
    row = await lifecycle.assign(
        info.context.viewer, v.parse_id(id, "id"), v.parse_id(assignee_id, "assigneeId")
    )
    return Report.of(row)


async def start_progress(info: Info, id: strawberry.ID, note: str | None = None) -> Report:
    return Report.of(await lifecycle.start_progress(info.context.viewer, v.parse_id(id, "id"), note))


async def resolve_report(
    info: Info, id: strawberry.ID, note: str, media_ids: list[strawberry.ID] | None = None
) -> Report:
    row = await lifecycle.resolve(
        info.context.viewer, v.parse_id(id, "id"), note, v.parse_ids(media_ids, "mediaIds") or []
    )
    return Report.of(row)


async def confirm_resolution(
    info: Info, id: strawberry.ID, rating: int, comment: str | None = None
) -> Report:
    row = await lifecycle.confirm(info.context.viewer, v.parse_id(id, "id"), rating, comment)
    return Report.of(row)


async def reopen_report(info: Info, id: strawberry.ID, reason: str) -> Report:
    return Report.of(await lifecycle.reopen(info.context.viewer, v.parse_id(id, "id"), reason))


async def issue_api_key(info: Info, name: str, user_id: strawberry.ID | None = None) -> IssuedApiKey:
    viewer = info.context.require_viewer()
    row, key = await apikeys.issue(viewer, name, opt_id(user_id, "userId"))
    return IssuedApiKey(key=key, api_key=ApiKey.of(row))


async def revoke_api_key(info: Info, id: strawberry.ID) -> ApiKey:
    viewer = info.context.require_viewer()
    return ApiKey.of(await apikeys.revoke(viewer, v.parse_id(id, "id")))
