"""Enumerations shared by the models, the domain rules and the GraphQL schema."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    CITIZEN = "CITIZEN"
    MODERATOR = "MODERATOR"
    OFFICER = "OFFICER"
    AGENCY_PARTNER = "AGENCY_PARTNER"
    ADMIN = "ADMIN"


class ReportStatus(StrEnum):
    SUBMITTED = "SUBMITTED"
    VERIFIED = "VERIFIED"
    REJECTED = "REJECTED"
    DUPLICATE = "DUPLICATE"
    IN_PROGRESS = "IN_PROGRESS"
    RESOLVED = "RESOLVED"
    CLOSED = "CLOSED"
    REOPENED = "REOPENED"


class RegionLevel(StrEnum):
    PROVINSI = "PROVINSI"
    KOTA = "KOTA"
    KECAMATAN = "KECAMATAN"
    KELURAHAN = "KELURAHAN"


class EventKind(StrEnum):
    CREATED = "CREATED"
    STATUS_CHANGED = "STATUS_CHANGED"
    COMMENT_ADDED = "COMMENT_ADDED"
    COMMENT_DELETED = "COMMENT_DELETED"  # a tombstone: replays of the comment show neither body nor author
    VOTES_CHANGED = "VOTES_CHANGED"
    USER_CHANGED = "USER_CHANGED"  # internal: a user's role, region or agency changed (never streamed)


# The kinds a subscriber can receive (the GraphQL enum ReportEventKind).
ReportEventKind = StrEnum(  # type: ignore[misc]
    "ReportEventKind", [(k.name, k.value) for k in EventKind if k is not EventKind.USER_CHANGED]
)


OPEN_STATUSES = frozenset(
    {ReportStatus.SUBMITTED, ReportStatus.VERIFIED, ReportStatus.IN_PROGRESS, ReportStatus.REOPENED}
)
DONE_STATUSES = frozenset({ReportStatus.RESOLVED, ReportStatus.CLOSED})
# Verified and not yet resolved: the officers' work, and what can be overdue.
WITH_OFFICERS = frozenset({ReportStatus.VERIFIED, ReportStatus.IN_PROGRESS, ReportStatus.REOPENED})
