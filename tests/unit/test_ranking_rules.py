"""The ranking's arithmetic: Wilson intervals against published values, and exact ties (figures
that are mathematically equal tie, whatever floating point would say, and the tie rules apply)."""

from __future__ import annotations

from fractions import Fraction
from itertools import product

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.performance import Entry, sort_key, wilson


@pytest.mark.parametrize(
    ("k", "n", "low", "high"),
    [  # Newcombe (1998), Statistics in Medicine 17:857-872, Table I, method 3 (Wilson score)
        (81, 263, 0.2553, 0.3662),
        (15, 148, 0.0624, 0.1605),
        (0, 20, 0.0000, 0.1611),
        (1, 29, 0.0061, 0.1718),
    ],
)
def test_wilson_matches_newcombes_table(k, n, low, high):
    got = wilson(k, n)
    assert round(got[0], 4) == low and round(got[1], 4) == high


def test_wilson_bounds_are_exact_at_the_ends():
    assert wilson(0, 5)[0] == 0.0 and wilson(5, 5)[1] == 1.0
    assert wilson(0, 0) == (0.0, 1.0)
    for n in range(1, 60):
        for k in range(n + 1):
            low, high = wilson(k, n)
            assert 0 <= low <= k / n <= high <= 1
            assert wilson(n - k, n) == pytest.approx((1 - high, 1 - low), abs=1e-12)  # symmetric


def _float_score(e: Entry) -> float:
    """The score as it was computed before: in floating point, term by term."""
    rating = e.rating_sum / e.rating_count if e.rating_count else None
    r = (rating - 1) / 4 if rating is not None else 0.5
    return 100 * (
        0.35 * (e.responded / e.received)
        + 0.35 * (e.sla_met / e.received)
        + 0.15 * (e.resolved / e.received)
        + 0.15 * r
    )


def _entries(received: int, name: str) -> list[Entry]:
    out = []
    for resolved, sla_met, responded, rated in product(range(0, 4), range(0, 4), range(received + 1), (0, 1)):
        if sla_met <= resolved <= responded:
            out.append(
                Entry("KELURAHAN", received, name, received, responded, resolved, sla_met, 4 * rated, rated)
            )
    return out


def test_mathematically_equal_scores_tie_and_the_tie_rules_decide():
    """13 reports against 20: every pair with the same exact score is ordered by reports
    received (more first) whatever the float rounding, and served as the same float."""
    key = sort_key("SCORE")
    twenty = {}
    for e in _entries(20, "Pasar Baru"):
        twenty.setdefault(e.exact_score, e)
    pairs = [(a, twenty[a.exact_score]) for a in _entries(13, "Mangga Besar") if a.exact_score in twenty]
    float_disagrees = [(a, b) for a, b in pairs if _float_score(a) != _float_score(b)]
    assert len(float_disagrees) >= 5  # the floats would have broken these ties at random
    for a, b in pairs:
        assert a.score == b.score  # the client sees equal values ...
        assert sorted([a, b], key=key) == [b, a]  # ... and the one with more reports comes first
    # The case: 6 of 13 answered and 1 resolved in time, against 10 of 20 and 1.
    a = Entry("KELURAHAN", 1, "Mangga Besar", 13, 6, 1, 1)
    b = Entry("KELURAHAN", 2, "Pasar Baru", 20, 10, 1, 1)
    assert a.exact_score == b.exact_score == Fraction(55, 2)
    assert _float_score(a) > _float_score(b)  # in floating point the smaller unit won
    assert sorted([a, b], key=key) == [b, a]


def test_equal_figures_and_equal_counts_go_by_name():
    key = sort_key("RESPONSE_RATE")
    a = Entry("KELURAHAN", 1, "Senen", 26, 12)
    b = Entry("KELURAHAN", 2, "Kwitang", 26, 12)
    c = Entry("KELURAHAN", 3, "Bungur", 13, 6)
    assert sorted([a, c, b], key=key) == [b, a, c]


def _defined_score(e: Entry) -> Fraction:
    """The score as README defines it, term by term in exact fractions."""
    rating = Fraction(e.rating_sum, e.rating_count) if e.rating_count else None
    r = (rating - 1) / 4 if rating is not None else Fraction(1, 2)
    parts = (Fraction(e.responded, e.received), Fraction(e.sla_met, e.received),
             Fraction(e.resolved, e.received), r)  # fmt: skip
    weights = (Fraction(35, 100), Fraction(35, 100), Fraction(15, 100), Fraction(15, 100))
    return 100 * sum((w * x for w, x in zip(weights, parts, strict=True)), Fraction(0))


@given(
    received=st.integers(1, 10_000),
    shares=st.tuples(*(st.floats(0, 1) for _ in range(3))),
    ratings=st.integers(0, 5_000),
    stars=st.floats(1, 5),
)
def test_the_score_over_one_denominator_is_the_defined_score(received, shares, ratings, stars):
    responded = round(received * shares[0])
    resolved = round(responded * shares[1])
    sla_met = round(resolved * shares[2])
    rating_sum = round(ratings * stars)
    e = Entry("STAFF", 1, "x", received, responded, resolved, sla_met, rating_sum, ratings)
    assert e.exact_score == _defined_score(e)
