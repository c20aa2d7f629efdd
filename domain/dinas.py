"""Which dinas (agency) answers for a report: by default the one its category names."""

from __future__ import annotations

from models import Category


def responsible_agency_id(category: Category) -> int | None:
    return category.agency_id  # type: ignore[attr-defined]
