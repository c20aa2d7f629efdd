"""The monthly tier's read rule: a period splits into whole months and the days around them,
covering every day exactly once."""

from __future__ import annotations

import random
from datetime import date, timedelta

from domain.rollups import month, tiers


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def _next_month(day: date) -> date:
    return month(day.replace(day=28) + timedelta(days=4))


def test_tiers_cover_every_day_of_a_period_exactly_once():
    rng = random.Random(1)
    cases = [(date(2026, 1, 1), date(2026, 12, 31)), (date(2026, 2, 1), date(2026, 2, 28)),
             (date(2024, 2, 29), date(2024, 3, 31)), (date(2026, 3, 5), date(2026, 3, 30))]  # fmt: skip
    for _ in range(3000):
        start = date(2024, 1, 1) + timedelta(days=rng.randrange(900))
        cases.append((start, start + timedelta(days=rng.randrange(800))))
    for start, end in cases:
        days, months = tiers(start, end)
        covered = [d for first, last in days for d in _days(first, last)]
        if months is not None:
            m = months[0]
            assert m.day == 1 and months[1].day == 1
            while m <= months[1]:
                covered += _days(m, _next_month(m) - timedelta(days=1))
                m = _next_month(m)
            assert len(days) <= 2 and all((last - first).days < 31 for first, last in days)
        assert sorted(covered) == _days(start, end), (start, end)
    assert tiers(date(2026, 1, 1), date(2026, 12, 31)) == ([], (date(2026, 1, 1), date(2026, 12, 1)))
    assert tiers(date(2026, 3, 5), date(2026, 3, 30)) == ([(date(2026, 3, 5), date(2026, 3, 30))], None)
