"""The assembled GraphQL schema: root types wired to the resolvers."""

from __future__ import annotations

import strawberry
from strawberry.extensions import ParserCache, ValidationCache
from strawberry.schema.config import StrawberryConfig

from resolvers import mutation as m
from resolvers import query as q
from schema.errors import ClientErrors
from schema.types import AuthPayload, Comment, Region, Report, ReportConnection, User


@strawberry.type
class Query:
    me: User | None = strawberry.field(resolver=q.me)
    report: Report | None = strawberry.field(resolver=q.report)
    reports: ReportConnection = strawberry.field(resolver=q.reports)
    categories: list[q.Category] = strawberry.field(resolver=q.categories)
    agencies: list[q.Agency] = strawberry.field(resolver=q.agencies)
    regions: list[Region] = strawberry.field(resolver=q.regions)
    region: Region | None = strawberry.field(resolver=q.region)
    locate: Region | None = strawberry.field(
        resolver=q.locate, description="the kelurahan that contains the point, or null"
    )


@strawberry.type
class Mutation:
    register: AuthPayload = strawberry.mutation(resolver=m.register)
    login: AuthPayload = strawberry.mutation(resolver=m.login)
    create_staff_account: User = strawberry.mutation(resolver=m.create_staff_account)
    create_report: Report = strawberry.mutation(resolver=m.create_report_)
    add_comment: Comment = strawberry.mutation(resolver=m.add_comment)
    delete_comment: bool = strawberry.mutation(resolver=m.delete_comment)
    vote: Report = strawberry.mutation(resolver=m.vote)
    unvote: Report = strawberry.mutation(resolver=m.unvote)


class WargaSchema(strawberry.Schema):
    def process_errors(self, errors, execution_context=None) -> None:  # type: ignore[no-untyped-def]
        """Client errors are answers, not incidents: ClientErrors logs the unexpected ones."""


schema = WargaSchema(
    query=Query,
    mutation=Mutation,
    config=StrawberryConfig(auto_camel_case=True),
    extensions=[
        lambda: ParserCache(maxsize=512),
        lambda: ValidationCache(maxsize=512),
        ClientErrors,
    ],
)
