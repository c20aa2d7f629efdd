"""Opaque keyset cursors: base64 of the sort key and the id of the last row seen."""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import dataclasses
import json
import math
import re
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from domain.errors import BadUserInput
from domain.validate import in_calendar
from models.sql import M, arg, budgeted, fetch, instance, is_postgres, one_view

INT_MAX = 2**31 - 1
_PLACEHOLDER = re.compile(r"\$(\d+)")


def encode_cursor(key: Any, row_id: int) -> str:
    if isinstance(key, datetime):
        key = {"t": key.isoformat()}
    return base64.urlsafe_b64encode(json.dumps([key, row_id]).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, field: str = "after") -> tuple[Any, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        key, row_id = json.loads(raw)
        if isinstance(key, dict):
            key = in_calendar(datetime.fromisoformat(key["t"]), field)
        if not isinstance(row_id, int) or isinstance(key, (list, bool)):
            raise ValueError
        if not 0 < row_id <= INT_MAX or (isinstance(key, int) and not -INT_MAX <= key <= INT_MAX):
            raise ValueError  # beyond the integer columns: not a cursor this server made
        return key, row_id
    except (ValueError, TypeError, KeyError, binascii.Error, json.JSONDecodeError):
        raise BadUserInput(field, f"`{field}` is not a valid cursor.") from None


@dataclass(frozen=True)
class Order:
    """Sort by one column then id, both ascending or both descending."""

    column: str
    descending: bool

    def after(self, cursor: str, args: list[Any], field: str = "after") -> str:
        """The SQL condition for the rows that follow the cursor in this order."""
        key, row_id = decode_cursor(cursor, field)
        if not isinstance(key, datetime if self.column.endswith("_at") else int):
            raise BadUserInput(field, f"`{field}` is not a cursor of this order.")
        op = "<" if self.descending else ">"
        if self.column == "id":
            return f"id {op} {arg(args, row_id)}"
        # A row comparison, which a btree on (column, id) answers as one range from the cursor
        # on (the equivalent `a < k OR (a = k AND id < i)` walks the index from its start).
        return f"({self.column}, id) {op} ({arg(args, key)}, {arg(args, row_id)})"

    @property
    def direction(self) -> str:
        return "DESC" if self.descending else "ASC"

    def sql(self) -> str:
        return f"{self.column} {self.direction}, id {self.direction}"

    @property
    def keys(self) -> list[str]:
        """The columns the order sorts by: what an index-only walk must select."""
        return list(dict.fromkeys(["id", self.column]))

    def cursor(self, row: Any) -> str:
        return encode_cursor(getattr(row, self.column), row.id)


def month_of(moment: datetime) -> int:
    """A moment's month as migration 0019 keys a report's words: year * 12 + month, in UTC (a
    moment without a zone taken as UTC)."""
    utc = moment.astimezone(UTC) if moment.tzinfo else moment
    return utc.year * 12 + utc.month


@dataclass(frozen=True)
class Monthly:
    """A text search by keys of its matches along one order's column (PostgreSQL, migrations
    0019 and 0020): its conditions for a range of keys (their arguments appended to the list
    given), and the keys a period bounds (inclusive; None: the table's own first or last).
    `bucket`: a column's value as a key (a month by default). `even`: matches spread about
    evenly over the keys (months), so the sample's matches over the span say what a step
    costs and steps double; else (vote buckets, log-scaled, most reports in the first) the
    keys are read one at a time."""

    conditions: Callable[[list[Any], range], list[str]]
    first: int | None = None
    last: int | None = None
    column: str = "created_at"
    bucket: Callable[[Any], int] = month_of
    even: bool = True


# Months read per step of a monthly search, doubling: a medium word's newest 500 lie in its
# newest month or two; a rare word's steps reach the table's first month in a few statements.
MONTH_STEP = 1
# A word expected to match at most this many reports a month (the sample's estimate over the
# table's months) is read by month once the first window has not filled the page: a month of
# a medium word ('gorong', 8,000 on the year's rate) costs less than the 100,000-row window
# (45 ms); a common word's month would be hundreds of thousands.
MONTH_MATCHES = 20_000


async def _month_span(conn: Any, table: str, monthly: Monthly) -> range:
    """The keys (months) holding the table's reports, within the search's bounds."""
    column = monthly.column
    row = (await fetch(f"SELECT MIN({column}) AS lo, MAX({column}) AS hi FROM {table}", conn=conn))[0]
    if row["lo"] is None:
        return range(0)
    first, last = monthly.bucket(row["lo"]), monthly.bucket(row["hi"])
    first = max(first, monthly.first) if monthly.first is not None else first
    last = min(last, monthly.last) if monthly.last is not None else last
    return range(first, last + 1)


def _month_steps(span: range, newest_first: bool, doubling: bool = True) -> list[range]:
    """The span cut into steps of MONTH_STEP, 2 * MONTH_STEP, ... months (`doubling`, else
    MONTH_STEP each), in the order read."""
    steps, size = [], MONTH_STEP
    edge = span.stop if newest_first else span.start
    while (edge > span.start) if newest_first else (edge < span.stop):
        if newest_first:
            part = range(max(span.start, edge - size), edge)
        else:
            part = range(edge, min(span.stop, edge + size))
        steps.append(part)
        edge = part.start if newest_first else part.stop
        size *= 2 if doubling else 1
    return steps


@dataclass(frozen=True)
class ReadBudget:
    """What one read may cost: its statements' time on PostgreSQL (`statement_timeout`, so a
    slow read answers QUERY_TIMEOUT instead of holding a pooled connection) and how far a
    `totalCount` counts before it says "at least"."""

    timeout_ms: int = 2000
    count_cap: int = 10_000


# A filtered page first reads this many rows of its order's index (visibility and cursor
# applied, nothing else) and keeps those that match; only when they do not fill the page does
# it read further (see _window_rows). The planner is not left to walk the order's index hoping
# to meet a rare match early (issue 16: 14 s for a rare word with `first: 1` on a year).
WINDOWS = (5_000, 100_000)  # the second, about 2.5 days of the city's reports, only if needed
# A text search whose words the sample finds this dense over the whole table walks this far
# along the order's index before it reads every match: the newest reports may lack a common
# word (a burst of reports about one thing), whose every match is millions to sort.
WALK = 1_000_000
# The first window where its rows lie on pages of their own (a kelurahan's index, an order
# uncorrelated with the table): a page per row from disk after a restart, 5,226 pages and
# 207-334 ms for the full window of a kelurahan that held no SUBMITTED report of a category.
# A kelurahan and a category (1 in 18 of its reports) still fill 20 from it.
SCATTERED_WINDOW = 500
# Beyond this many matches (the planner's estimate) sorting them all costs more than walking
# the order's index to meet them.
DENSE = 50_000
# Plain filters (no words) the planner expects to match fewer than this many rows (a kelurahan
# and a category: about 3,000 a year) are read first by their own indexes, and the words
# looked for among them: ANDed with a common word's text-index bitmap (4.1M rows on a year)
# they took 0.4-1 s.
FEW = 20_000
# A first page along an order keyed in buckets (votes: migration 0020) whose walk is expected
# to pass more rows than this, a heap page each, reads the first buckets instead: votes thin
# out fast, so they hold the page's matches in about as many rows ('gorong' by MOST_VOTED,
# first 20 and 100, walked 3,200 and 15,000 rows, 199 and 381 ms cold; its top bucket holds
# 103 and the next 1,715). A dense word's walk is shorter ('sampah', 19 % of reports: 530 rows
# for 100, where its top buckets hold 13 and 2,884), and so is a walk from a cursor among
# the unvoted (59 % of a word's matches in one bucket).
KEYED_WALK = 2_000
# Rows a window reads per page: the creation index's rows lie in the table's own order (about
# 37 a heap page on a year), and a covering index holds as many or more.
ROWS_PER_PAGE = 30
# The fixed sample of the table's pages that tells how many rows a text search matches over
# the whole table (the planner guesses a LIKE's selectivity from the pattern, and the newest
# rows tell only about themselves). REPEATABLE: the same pages every time, so they stay cached.
SAMPLE_PAGES = 200  # about 7,000 rows: 5-7 ms for a word on a year
# A count reads at most this many rows of the table's first pages to find the cap's worth of a
# common word's matches: beyond, a medium word (0.1-1 % of reports) read millions (1.8 s for
# 'gorong' on two years), and its text-index bitmap is cheaper.
PROBE_ROWS = 300_000


def _first_rows(
    source: str, where: str, order: Order, rows: int, spans: list[str] | None = None, columns: str = "*"
) -> str:
    """The first `rows` rows of the order's index under `where`: a window whose matches a
    page takes, so the planner walks that index a bounded way. With `spans` (conditions that
    part the table, each served by an index in the order; none: no row), each part's first
    rows, merged: PostgreSQL's Merge Append reads each part's index from its top, only as far
    as the merged rows need. `columns`: those the walk needs, when the order's index holds
    them (an index-only scan; each part's, for spans)."""
    sort = f"ORDER BY {order.sql()} LIMIT {rows}"
    if spans is None:
        return f"SELECT {columns} FROM {source} WHERE {where} {sort}"
    parts = [
        f"(SELECT {columns} FROM {source} WHERE {span} AND {where} {sort})" for span in spans or ["1 = 0"]
    ]
    return f"SELECT * FROM ({' UNION ALL '.join(parts)}) AS s {sort}"


def _by_id(source: str, ids: str, order: Order, extra: str = "") -> str:
    """The rows of the ids a statement selects, in the order: a page found in an index alone
    reads only its own rows from the table."""
    return f"SELECT t.*{extra} FROM ({ids}) AS k JOIN {source} AS t USING (id) ORDER BY {order.sql()}"


def _joined(conditions: list[str]) -> str:
    return " AND ".join(conditions) or "1 = 1"


def _compact(sql: str, args: list[Any]) -> tuple[str, list[Any]]:
    """A statement that uses only some of the positional arguments (the plain filters without
    the words'), renumbered to those it uses: PostgreSQL must be told every one it is sent."""
    used: dict[int, int] = {}

    def renumber(m: re.Match[str]) -> str:
        return f"${used.setdefault(int(m.group(1)), len(used) + 1)}"

    sql = _PLACEHOLDER.sub(renumber, sql)
    return sql, [args[i - 1] for i in used]


async def _plan(conn: Any, source: str, where: str, args: list[Any]) -> dict[str, Any]:
    """The planner's plan of the rows matching `where` (one planning, no execution)."""
    plan = await fetch(f"EXPLAIN (FORMAT JSON) SELECT 1 FROM {source} WHERE {where}", *args, conn=conn)
    value = plan[0]["QUERY PLAN"]
    value = json.loads(value) if isinstance(value, str) else value
    return dict(value[0]["Plan"])


async def _estimate(conn: Any, source: str, where: str, args: list[Any]) -> float:
    """The planner's estimate of the rows matching `where`."""
    return float((await _plan(conn, source, where, args))["Plan Rows"])


@dataclass(frozen=True)
class Sample:
    """What the fixed sample of a table's pages says of a condition over the whole table."""

    pages: int  # the table's pages
    rows: float  # the table's rows, estimated
    matches: float  # the rows matching, estimated

    @property
    def share(self) -> float:
        return self.matches / self.rows if self.rows else 0.0


async def _sample(conn: Any, table: str, where: str, args: list[Any]) -> Sample:
    """The whole table's matches of `where`, from SAMPLE_PAGES of its pages (all of a small
    table's): two short statements, about SAMPLE_PAGES page reads."""
    size = f"SELECT pg_relation_size('{table}') / current_setting('block_size')::int AS pages"
    pages = int((await fetch(size, conn=conn))[0]["pages"])
    percent = min(100.0, 100.0 * SAMPLE_PAGES / max(pages, 1))
    row = (
        await fetch(
            f"SELECT COUNT(*) AS n, COUNT(*) FILTER (WHERE {where}) AS hits"
            f" FROM {table} TABLESAMPLE SYSTEM ({percent:.6f}) REPEATABLE (0)",
            *args,
            conn=conn,
        )
    )[0]
    scale = 100.0 / percent
    return Sample(pages=pages, rows=row["n"] * scale, matches=row["hits"] * scale)


@dataclass
class _Samples:
    """The samples a page and its count take, each condition once: a first page's count asks
    what the page asked."""

    table: str
    taken: dict[tuple[str, tuple[Any, ...]], Sample] = field(default_factory=dict)

    async def of(self, conn: Any, where: str, args: list[Any]) -> Sample:
        key = (where, tuple(args))
        if key not in self.taken:
            self.taken[key] = await _sample(conn, self.table, where, args)
        return self.taken[key]


async def _window_rows(
    conn: Any,
    source: str,
    samples: _Samples,
    steps: tuple[list[str], int, list[str], list[str]],
    args: list[Any],
    order: Order,
    limit: int,
    tally: bool,
    spans: list[str] | None,
    narrow: tuple[str, ...] | None = None,
    scattered: bool = False,
    walking: Callable[[], None] = lambda: None,
    monthly: Monthly | None = None,
) -> tuple[list[dict[str, Any]], int | None]:
    """A filtered page's rows on PostgreSQL, read in bounded steps: the first WINDOWS[0] rows
    of the order's index (the first `inside` conditions, visibility, applied inside), then a
    wider window if the matches should fill it (their density in the first window, or for
    words over the whole table by the sample), else by the cheapest of: the plain filters'
    few matches first, the order's index walked (dense matches), or every match by the
    filters' own indexes, sorted. `steps`: the conditions, how many of them go inside the
    window, the words' conditions and the cursor's. With the rows, if `tally`, the number of
    matches when every match was read (the page's count then costs nothing more), else None.
    `spans`: the order's index is read part by part (see _first_rows). `narrow`: the columns
    the order's index (each span's too) holds beside its keys, every one the plain conditions
    test: without words (which only the table holds), the walk then tests them in the index and
    reads the page's rows by id after (the order's rows lie on pages of their own: a heap page
    per row walked, from disk after a restart). `scattered`: the window's rows lie on pages of
    their own (a kelurahan's index, or an order uncorrelated with the table, and not `narrow`),
    so the first window is SCATTERED_WINDOW rows, and the words' every match is read (by a
    bitmap, its pages asked of the disk ahead) when they are fewer than the rows a walk would
    read to meet the page's ('kwitang' by MOST_VOTED walked 47,419 rows for its 100: 1,990 ms
    after a restart, 48 ms cached). `walking` is told before a window past the first (the
    page's count may start beside it). `monthly`: the words keyed along the order
    (every_text_match)."""
    conditions, inside, text, cursor = steps
    window_where = _joined(conditions[:inside] + cursor)
    match = _joined(conditions[inside:] + text)
    page_where = _joined(conditions + text + cursor)
    sort = f"ORDER BY {order.sql()} LIMIT {limit}"
    narrow = narrow if not text else None
    thin, walked = ", ".join(order.keys), ", ".join(dict.fromkeys([*order.keys, *(narrow or ())]))

    def by_id(ids: str, extra: str = "") -> str:
        return _by_id(source, ids, order, extra)

    async def window(rows: int) -> list[dict[str, Any]]:
        if narrow:
            first_rows = _first_rows(source, window_where, order, rows, spans, columns=walked)
            sql = by_id(f"SELECT id FROM ({first_rows}) AS w WHERE {match} {sort}")
        else:
            first_rows = _first_rows(source, window_where, order, rows, spans)
            sql = f"SELECT * FROM ({first_rows}) AS w WHERE {match} {sort}"
        return await fetch(sql, *args, conn=conn)

    async def every_match(
        found: list[str], kept: list[str], past: list[str], found_args: list[Any] | None = None,
        rows: int = limit,
    ) -> tuple[list[dict[str, Any]], int | None]:  # fmt: skip
        """Every row `found` by the filters' own indexes, MATERIALIZED (planned for all its
        rows, so the LIMIT outside cannot lure the planner onto the order's index); those
        `kept` counted, and past the cursor sorted (the cursor outside: the planner misjudges
        a row comparison's share, and read by its range it walked 1.5M rows for a rare word,
        1.8 s). With no words to keep, only ids and the order's keys (`thin`): the box's index
        (migration 0017) carries them, so a circle's matches come from the index alone and only the
        page's rows from the table (a 300 m circle's 8,562 heap pages, 532-600 ms after a
        restart). `found_args`: the arguments when `found` has its own (a month's words), `rows`:
        how many past the cursor (the page's limit)."""
        tallied = tally and found_args is None
        counted = f", (SELECT COUNT(*) FROM m WHERE {_joined(kept)}) AS _matched" if tallied else ""
        top = f"ORDER BY {order.sql()} LIMIT {rows}"
        if kept or source != samples.table:
            sql = f"SELECT *{counted} FROM m WHERE {_joined(kept + past)} {top}"
            matches = f"SELECT * FROM {source} WHERE {_joined(found)}"
        else:
            sql = by_id(f"SELECT id FROM m WHERE {_joined(past)} {top}", counted)
            matches = f"SELECT {thin} FROM {source} WHERE {_joined(found)}"
        statement = f"WITH m AS MATERIALIZED ({matches}) {sql}"
        if found_args is not None:  # the words' own conditions replaced: their arguments unused
            statement, found_args = _compact(statement, found_args)
        got = await fetch(statement, *(args if found_args is None else found_args), conn=conn)
        if not tallied:
            return got, None
        matched = got[0]["_matched"] if got else (None if past else 0)
        for row in got:
            del row["_matched"]
        return got, matched

    async def every_text_match() -> tuple[list[dict[str, Any]], int | None]:
        """Every match of the words, or with `monthly` (keyed along the order), the matches of
        the first keys in the order (the newest months, the most voted buckets) step by step
        until the page is full: a word's newest 500 of 25,322 on a year read 24,857 heap pages,
        its first 100 by votes as many, and its whole posting list grows with the years kept.
        The keys' span and steps see one moment (one_view): votes and updates move a report
        between keys, and between two steps it would be read twice or not at all (a review)."""
        if monthly is None:
            return await every_match(conditions + text, [], cursor)
        if matches > limit:  # the keys the page needs will not be all: its count is needed
            walking()
        got: list[dict[str, Any]] = []
        async with one_view(conn):
            span = await _month_span(conn, samples.table, monthly)
            for months in _month_steps(span, order.descending, monthly.even):
                step_args = list(args)
                found = conditions + monthly.conditions(step_args, months)
                got += (await every_match(found, [], cursor, step_args, limit - len(got)))[0]
                if len(got) >= limit:
                    break
        # Every month read and the page not full: those were every match.
        return got, (len(got) if tally and not cursor and len(got) < limit else None)

    first = min(SCATTERED_WINDOW, WINDOWS[0]) if scattered and not narrow else WINDOWS[0]
    rows = await window(first)
    if len(rows) >= limit:
        return rows, None
    density, matches = len(rows) / first, 0.0
    # A window read from an index alone (`narrow`) or along the table's own order (the creation
    # index) that the first window's density expects to fill: the pages it would read.
    cheap = not text and (narrow or not scattered) and any(
        rows_read > first and density * rows_read >= limit for rows_read in WINDOWS
    )
    window_pages = limit / density / ROWS_PER_PAGE if cheap else None
    if await _few(conn, source, conditions, inside, args, window_pages):  # cheaper than a window
        return await every_match(conditions, text, cursor)
    if text:  # the words' density over the whole table: the newest rows may lack a common word
        sample = await samples.of(conn, page_where, args)
        density, matches = max(density, sample.share), sample.matches
        if scattered and matches * density < limit:  # fewer matches than rows a walk reads
            return await every_text_match()
        if monthly is not None and monthly.even:
            span = await _month_span(conn, samples.table, monthly)
            if matches <= MONTH_MATCHES * len(span):  # a month's matches cost less than a window
                return await every_text_match()
        elif monthly is not None and not cursor and density * KEYED_WALK < limit:
            return await every_text_match()
    for rows_read in WINDOWS:
        if rows_read > first and density * rows_read >= limit:  # expected to fill the page
            walking()
            rows = await window(rows_read)
            if len(rows) >= limit:
                return rows, None
    if matches > DENSE and limit <= density * WALK / 4:
        # Too many matches to sort, and dense enough to meet along the order's index.
        walking()
        rows = await window(WALK)
        if len(rows) >= limit:
            return rows, None
    if not text and await _estimate(conn, source, page_where, args) > DENSE:
        # Many matches by the planner's statistics (good for plain columns, unlike a LIKE's
        # guess, hence not for a text search): the order's index meets them soon.
        if narrow:
            sql = by_id(_first_rows(source, page_where, order, limit, spans, columns=thin))
        else:
            sql = _first_rows(source, page_where, order, limit, spans)
        return await fetch(sql, *args, conn=conn), None
    return await every_text_match() if text else await every_match(conditions, [], cursor)


async def _few(
    conn: Any, source: str, conditions: list[str], inside: int, args: list[Any],
    window_pages: float | None = None,
) -> bool:  # fmt: skip
    """Whether the plain filters beyond the window's (a kelurahan and a category, not only the
    visibility) match few rows by the planner's statistics, which are good for plain columns
    (not for a cursor's row comparison, left out). Not when no index of their own serves them
    (a BitmapAnd of two: a kecamatan's and a category's) and a window expected to fill the
    page reads fewer pages (`window_pages`) than their matches, a heap page each: 16,387 with
    the category's 1.3M index entries, 200 ms warm on a year at half the rate in every order,
    where their 100,000-row window took 16 ms."""
    if len(conditions) <= inside:
        return False
    plan = await _plan(conn, source, *_compact(_joined(conditions), args))
    rows = float(plan["Plan Rows"])
    if window_pages is not None and rows > window_pages and "BitmapAnd" in json.dumps(plan):
        return False
    return rows < FEW


async def _count_text(
    conn: Any, samples: _Samples, steps: tuple[list[str], int, list[str]], args: list[Any], cap: int,
    monthly: Monthly | None = None,
) -> int:  # fmt: skip
    """Matches of a text search, counted up to cap + 1 by the cheapest way: among the plain
    filters' few matches; along the table's pages, as far as the sample says cap + 1 matches
    lie (a common word: a few thousand pages instead of a bitmap of millions, 500 ms on a
    year); else by the text index: with `monthly`, month by month from the newest until past
    the cap (a medium word's whole bitmap was 20-25 ms of its count's 58-81 on a year, and grew
    with the years), otherwise every match (a rare word). `steps`: the conditions, how many of
    them a page keeps inside its window, the words' conditions."""
    conditions, inside, text = steps
    table = samples.table
    where = _joined(conditions + text)
    stop = f"LIMIT {cap + 1}) AS c"
    if await _few(conn, table, conditions, inside, args):
        sql = (f"WITH m AS MATERIALIZED (SELECT * FROM {table} WHERE {_joined(conditions)})"
               f" SELECT COUNT(*) AS n FROM (SELECT 1 FROM m WHERE {_joined(text)} {stop}")  # fmt: skip
        return int((await fetch(sql, *args, conn=conn))[0]["n"])
    sample = await samples.of(conn, where, args)
    share = min(1.0, 1.5 * (cap + 1) / sample.matches) if sample.matches else 1.0
    if sample.matches >= 2 * cap and sample.rows * share <= PROBE_ROWS:
        # The first pages expected to hold half as many again as cap + 1 matches, read in
        # their physical order (a TID range scan, which stops at the cap).
        pages = math.ceil(sample.pages * share)
        sql = (f"SELECT COUNT(*) AS n FROM (SELECT 1 FROM {table}"
               f" WHERE ctid < '({pages},0)'::tid AND {where} {stop}")  # fmt: skip
        found = int((await fetch(sql, *args, conn=conn))[0]["n"])
        if found > cap:
            return found
    # Pulled lazily: the CTE stops after cap + 1 rows, and being planned for all its rows it
    # takes the text indexes.
    if monthly is None:
        sql = (f"WITH m AS MATERIALIZED (SELECT 1 FROM {table} WHERE {where})"
               f" SELECT COUNT(*) AS n FROM (SELECT 1 FROM m {stop}")  # fmt: skip
        return int((await fetch(sql, *args, conn=conn))[0]["n"])
    found = 0
    for months in _month_steps(await _month_span(conn, table, monthly), True):
        step_args = list(args)
        month_where = _joined(conditions + monthly.conditions(step_args, months))
        sql = (f"WITH m AS MATERIALIZED (SELECT 1 FROM {table} WHERE {month_where})"
               f" SELECT COUNT(*) AS n FROM (SELECT 1 FROM m LIMIT {cap + 1 - found}) AS c")  # fmt: skip
        sql, step_args = _compact(sql, step_args)  # the words' own conditions: unused arguments
        found += int((await fetch(sql, *step_args, conn=conn))[0]["n"])
        if found > cap:
            break
    return found


Hold = Callable[[], AbstractContextManager[Any]]
# A slot for work done early if the client has one free: what gives it back, else None.
Spare = Callable[[], Callable[[], None] | None]


@dataclass
class Page:
    """One page of rows plus what the connection type needs."""

    rows: list[Any]
    has_next: bool
    order: Order
    count: Callable[[], Awaitable[tuple[int, bool]]] | None = None
    # The count begun beside the page, in a slot of its own (paginate's `early`).
    early: asyncio.Task[tuple[int, bool]] | None = None
    _counted: tuple[int, bool] | None = None
    _counting: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def counted(self, hold: Hold = nullcontext) -> tuple[int, bool]:
        """(total, capped): counted once however many fields ask (totalCount and
        totalCountCapped resolve concurrently). `hold`: what the counting holds while it runs
        (a search's place among its client's expensive reads: the count, after the page, ran
        outside it, five at once where the cap said one). A count begun early is awaited
        shielded: a page the read cache shares outlives the request that began it, and a
        cancelled or failed one is counted again, as a count after the page would be."""
        async with self._counting:
            early = self.early
            if self._counted is None and early is not None and not early.cancelled():
                with contextlib.suppress(Exception):  # its error: counted again below
                    self._counted = await asyncio.shield(early)
            if self._counted is None and self.count is None:
                self._counted = (len(self.rows), False)
            elif self._counted is None:
                with hold():
                    self._counted = await self.count()
        return self._counted

    async def total_count(self, hold: Hold = nullcontext) -> int:
        return (await self.counted(hold))[0]

    async def total_count_capped(self, hold: Hold = nullcontext) -> bool:
        return (await self.counted(hold))[1]


def _of(monthly: Sequence[Monthly], column: str) -> Monthly | None:
    return next((m for m in monthly if m.column == column), None)


def _past(monthly: Sequence[Monthly], order: Order, after: str | None) -> Monthly | None:
    """A page's keys: those of the search along its order, bounded by the cursor's."""
    along = _of(monthly, order.column)
    if along is None or after is None:
        return along
    key = along.bucket(decode_cursor(after)[0])
    if order.descending:
        return dataclasses.replace(along, last=key if along.last is None else min(along.last, key))
    return dataclasses.replace(along, first=key if along.first is None else max(along.first, key))


async def paginate(
    model: type[M],
    conditions: list[str],
    args: list[Any],
    order: Order,
    first: int,
    after: str | None,
    *,
    text: list[str] | None = None,
    windowed: int | None = None,
    budget: ReadBudget | None = None,
    computed: tuple[str, str] | None = None,
    count_along: Order | None = None,
    tally: bool = True,
    spans: list[str] | None = None,
    narrow: tuple[str, ...] | None = None,
    scattered: bool = False,
    early: Spare | None = None,
    monthly: Sequence[Monthly] = (),
) -> Page:
    """One keyset page of a table's rows in purpose-built SQL, fetching first+1 rows to know
    whether there is a next page without a second query; the total is counted only if asked,
    and only up to the budget's cap. `text` holds conditions only a text index serves.
    `windowed` (PostgreSQL): read a filtered page in steps (see WINDOWS), keeping that many
    leading conditions (visibility) inside the window. `computed` = (name, SQL expression)
    adds a column the order may use, set on each model instance. `count_along`: an order whose
    index a capped count should read (a creation period: the count then reads the period's
    rows from its edge; left alone the planner read a status index whole, 700 ms). `tally`:
    a page that reads every match counts them for its total (False: the caller has the total
    from elsewhere). `spans` (PostgreSQL): the order's index read part by part, merged (the
    parts' conditions; see _first_rows). `narrow` (PostgreSQL): the columns the order's index
    (and each span's) carries, every one the plain conditions test; `scattered`: the window's
    rows lie on pages of their own (see _window_rows). `early` (the total is asked,
    PostgreSQL): when the page walks past its first window, the capped count starts beside it
    on a connection of its own, in a slot `early` gives if the client has one free (a medium
    word's page and count, 55-66 and 29-53 ms, one after the other were over 100 ms on a
    year). `monthly` (PostgreSQL): the words keyed along orders' columns, for a page along one
    of them; the count reads the creation months."""
    budget = budget or ReadBudget()
    table = model._meta.db_table
    text = text or []
    where = _joined(conditions + text)
    page_args = list(args)
    cursor = [order.after(after, page_args)] if after else []
    limit = int(first) + 1
    source = (
        table if computed is None else f"(SELECT *, {computed[1]} AS {computed[0]} FROM {table}) AS {table}"
    )

    samples = _Samples(table)
    matched: int | None = None
    cap = budget.count_cap

    async def count_now() -> int:
        """The matches up to cap + 1, on a connection of the count's own. A count of plain
        filters is planned for its values on every run (models.sql.budgeted's `fresh`): from
        the statement cache PostgreSQL's plan for no values read 50,000 pages for `overdue`
        where its own index (migration 0022) reads 53. Not the rest: a page's or a word's
        statements, planned afresh too, took 2.2 ms more at the median on a year (5.9 for a
        search, several statements each), and from the cache none took 100 ms (bench/README.md,
        session 20)."""
        async with budgeted(budget, fresh=windowed is not None and not text) as conn:
            if text and is_postgres(conn):
                steps = (conditions, windowed or 0, text)
                return await _count_text(conn, samples, steps, args, cap, _of(monthly, "created_at"))
            # The order's column alone: a tie broken by id would need the table's id, where an
            # index like (author_id, created_at) INCLUDE (status, anonymous) holds the rest,
            # and a count is the same in any order.
            along = f" ORDER BY {count_along.column} {count_along.direction}" if count_along else ""
            rows = f"SELECT 1 FROM {table} WHERE {where}{along} LIMIT {cap + 1}"
            return int((await fetch(f"SELECT COUNT(*) AS n FROM ({rows}) AS c", *args, conn=conn))[0]["n"])

    def capped(found: int) -> tuple[int, bool]:
        return (cap, True) if found > cap else (found, False)

    async def counted_now() -> tuple[int, bool]:
        return capped(await count_now())

    begun: asyncio.Task[tuple[int, bool]] | None = None

    def walking() -> None:
        nonlocal begun
        release = early() if early is not None and begun is None else None
        if release is not None:
            begun = asyncio.create_task(counted_now())
            begun.add_done_callback(lambda task: (release(), task.cancelled() or task.exception()))

    async with budgeted(budget) as conn:
        inside = windowed or 0
        if windowed is None or not is_postgres(conn) or (len(conditions) <= inside and not text):
            where_all = _joined(conditions + text + cursor)
            if spans is not None and narrow and is_postgres(conn):  # each span's index alone
                keys = ", ".join(order.keys)
                sql = _by_id(source, _first_rows(source, where_all, order, limit, spans, keys), order)
            else:
                sql = _first_rows(source, where_all, order, limit, spans)
            rows = await fetch(sql, *page_args, conn=conn)
        else:
            steps = (conditions, inside, text, cursor)
            shape = (order, limit, tally, spans, narrow, scattered, walking, _past(monthly, order, after))
            try:
                rows, matched = await _window_rows(conn, source, samples, steps, page_args, *shape)
            except BaseException:
                if begun is not None:
                    begun.cancel()
                raise
    models = []
    for row in rows:
        value = row.pop(computed[0]) if computed else None
        built = instance(model, row)
        if computed:
            setattr(built, computed[0], value)
        models.append(built)

    async def count() -> tuple[int, bool]:
        # `matched`: the page read every match.
        return capped(matched) if matched is not None else await counted_now()

    if matched is not None and begun is not None:
        begun.cancel()  # the page counted every match itself
        begun = None
    return Page(rows=models[:first], has_next=len(models) > first, order=order, count=count, early=begun)
