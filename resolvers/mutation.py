"""Mutation resolvers: parse, call one domain function, wrap the result."""

from __future__ import annotations

import strawberry

from domain import engagement, users
from domain import validate as v
from domain.report import NewReport, create_report
from models.enums import Role
from resolvers.convert import opt_id
from schema.context import Info
from schema.inputs import CreateReportInput, CreateStaffInput, LoginInput, RegisterInput
from schema.types import AuthPayload, Comment, Report, User


def _auth(user: users.User) -> AuthPayload:
    return AuthPayload(token=users.token_for(user), user=User(row=user))


async def register(info: Info, input: RegisterInput) -> AuthPayload:
    user = await users.register(input.handle, input.display_name, input.password, input.email, input.phone)
    info.context.viewer = users.viewer_of(user)  # so the payload may show the new user's email
    return _auth(user)


async def login(info: Info, input: LoginInput) -> AuthPayload:
    user = await users.login(input.login, input.password)
    info.context.viewer = users.viewer_of(user)
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
    return User(row=user)


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
    return Report(row=row)


async def add_comment(info: Info, report_id: strawberry.ID, body: str) -> Comment:
    row = await engagement.add_comment(info.context.viewer, v.parse_id(report_id, "reportId"), body)
    return Comment(row=row)


async def delete_comment(info: Info, id: strawberry.ID) -> bool:
    return await engagement.delete_comment(info.context.viewer, v.parse_id(id, "id"))


async def vote(info: Info, report_id: strawberry.ID) -> Report:
    row = await engagement.set_vote(info.context.viewer, v.parse_id(report_id, "reportId"), True)
    return Report(row=row)


async def unvote(info: Info, report_id: strawberry.ID) -> Report:
    row = await engagement.set_vote(info.context.viewer, v.parse_id(report_id, "reportId"), False)
    return Report(row=row)
