"""What a search asks of PostgreSQL's full-text index, for any input (issue 16): a bounded
number of parts, and no prefix short enough to gather millions of posting lists."""

from __future__ import annotations

from hypothesis import assume, given
from hypothesis import strategies as st

from domain.report import (
    MAX_LEXEMES,
    MAX_PARTS,
    PREFIX_MIN,
    prefix_bound,
    search_words,
    word_parts,
    word_queries,
)


@given(search=st.text(alphabet=st.sampled_from(" .-/_'\\\"abcXYZ019éß"), max_size=200))
def test_a_search_asks_the_index_for_few_parts_and_no_short_prefix(search: str) -> None:
    words = search_words(search)
    queries = word_queries(words)
    assert len(queries) == len(words) <= 8
    asked = [term for query in queries if query for term in query.split(" & ")]
    assert len(asked) <= MAX_PARTS
    for word, query in zip(words, queries, strict=True):
        for term in filter(None, query.split(" & ")):
            part = term.removesuffix(":*")[1:-1]  # 'part' or 'part':*
            assert part in word_parts(word)
            assert "'" not in part and "\\" not in part
            assert term.endswith(":*") == (len(part) >= PREFIX_MIN)
    # Every word's parts are asked while the budget lasts: the first words keep theirs.
    if words and len(word_parts(words[0])) <= MAX_PARTS:
        assert queries[0].count("'") == 2 * len(word_parts(words[0]))


def test_a_prefix_is_asked_as_its_lexemes_when_the_vocabulary_has_few_under_it() -> None:
    """Lexemes under a prefix (domain.report.lexemes_under) replace it, OR-ed; none: the part
    as written (it finds nothing at once); more than MAX_LEXEMES, or not looked up: the prefix.
    A lexeme is quoted as tsquery wants it."""
    lexemes = {
        "goro": ["gorong", "gorongan"],
        "kwitang": ["kwitang"],
        "zzq": [],
        "jal": [f"jal{i}" for i in range(MAX_LEXEMES + 1)],
        "itu": ["itu's", "itu\\"],
    }
    assert word_queries(["Goro-jl", "kwitang", "zzq", "jal", "abc", "itu"], lexemes) == [
        "('gorong' | 'gorongan') & 'jl'",
        "'kwitang'",
        "'zzq'",
        "'jal':*",
        "'abc':*",
        "('itu''s' | 'itu\\\\')",
    ]


@given(part=st.text(min_size=1, max_size=4), rest=st.text(max_size=6))
def test_a_prefix_bound_holds_exactly_the_strings_that_begin_with_the_prefix(part: str, rest: str) -> None:
    """The range [part, prefix_bound(part)) of code point order (PostgreSQL's "C" collation
    of UTF-8 text, the vocabulary's) holds a string exactly when it begins with the part."""
    bound = prefix_bound(part)
    assume(bound is not None)
    for text in (rest, part + rest, part[:-1] + rest, rest + part):
        assert text.startswith(part) == (part <= text < bound)
