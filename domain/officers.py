"""Who answers for a report: officers of its kelurahan (or kecamatan/kota) or of its dinas."""

from __future__ import annotations

from domain.auth import Viewer
from domain.catalog import catalog
from models import Report, User
from models.enums import Role


def is_unit_officer(role: Role, region_id: int | None, agency_id: int | None, report: Report) -> bool:
    """An OFFICER whose region is the report's kelurahan or one of its ancestors, or whose
    agency is the report's dinas."""
    if role != Role.OFFICER:
        return False
    if agency_id is not None and agency_id == report.agency_id:  # type: ignore[attr-defined]
        return True
    return region_id is not None and catalog().is_within(report.kelurahan_id, region_id)  # type: ignore[attr-defined]


def responds_for(viewer: Viewer | None, report: Report) -> bool:
    return viewer is not None and is_unit_officer(viewer.role, viewer.region_id, viewer.agency_id, report)


def user_responds_for(user: User, report: Report) -> bool:
    return is_unit_officer(Role(user.role), user.region_id, user.agency_id, report)  # type: ignore[attr-defined]
