"""Enums that exist only in the API (ordering and ranking choices)."""

from __future__ import annotations

from enum import Enum

import strawberry


@strawberry.enum
class ReportOrder(Enum):
    NEWEST = "NEWEST"
    OLDEST = "OLDEST"
    MOST_VOTED = "MOST_VOTED"
    RECENTLY_UPDATED = "RECENTLY_UPDATED"
    RELEVANCE = "RELEVANCE"


@strawberry.enum
class RankingLevel(Enum):
    STAFF = "STAFF"
    KELURAHAN = "KELURAHAN"
    KECAMATAN = "KECAMATAN"
    KOTA = "KOTA"
    DINAS = "DINAS"


@strawberry.enum
class RankingMetric(Enum):
    SCORE = "SCORE"
    RESPONSE_RATE = "RESPONSE_RATE"
    RESOLUTION_RATE = "RESOLUTION_RATE"
    SLA_COMPLIANCE = "SLA_COMPLIANCE"
    MEDIAN_RESPONSE_TIME = "MEDIAN_RESPONSE_TIME"
    MEDIAN_RESOLUTION_TIME = "MEDIAN_RESOLUTION_TIME"
    AVERAGE_RATING = "AVERAGE_RATING"
    REPORTS_RECEIVED = "REPORTS_RECEIVED"
