"""The spans' read rule (domain.rollups.cover): a period is days, months and years added and
subtracted so that every day of it counts exactly once, in few spans whatever its length."""

from __future__ import annotations

import random
from collections import Counter
from datetime import date, timedelta

from domain.rollups import cover, span_start


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def _span_days(span: str, first: date) -> list[date]:
    if span == "D":
        return [first]
    if span == "M":
        return [d for d in _days(first, first + timedelta(days=31)) if span_start("M", d) == first]
    return [d for d in _days(first, first + timedelta(days=366)) if d.year == first.year]


def test_cover_counts_every_day_of_a_period_exactly_once_in_few_spans():
    rng = random.Random(1)
    cases = [(date(2026, 1, 1), date(2026, 12, 31)), (date(2026, 2, 1), date(2026, 2, 28)),
             (date(2024, 2, 29), date(2024, 3, 31)), (date(2026, 3, 5), date(2026, 3, 30)),
             (date(2025, 12, 6), date(2026, 12, 5)), (date(2021, 12, 7), date(2026, 12, 5))]  # fmt: skip
    for _ in range(3000):
        start = date(2016, 1, 1) + timedelta(days=rng.randrange(3600))
        cases.append((start, start + timedelta(days=rng.randrange(3660))))
    for start, end in cases:
        weights = cover(start, end)
        counted: Counter[date] = Counter()
        for (span, first), w in weights.items():
            assert span_start(span, first) == first
            for d in _span_days(span, first):
                counted[d] += w
        assert {d: n for d, n in counted.items() if n} == dict.fromkeys(_days(start, end), 1), (start, end)
        years = end.year - start.year + 1
        assert len(weights) <= 15 + 6 + years + 6 + 15, (start, end, len(weights))
    assert cover(date(2026, 1, 1), date(2026, 12, 31)) == {("Y", date(2026, 1, 1)): 1}
    assert len(cover(date(2025, 12, 6), date(2026, 12, 5))) == 13  # the bench's year
