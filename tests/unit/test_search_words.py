"""What a search asks of PostgreSQL's full-text index, for any input (issue 16): a bounded
number of parts, and no prefix short enough to gather millions of posting lists."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from domain.report import MAX_PARTS, PREFIX_MIN, search_words, word_parts, word_queries


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
