"""Reports: posting, who may see what, and finding them. (The lifecycle moves live in
domain.lifecycle; this module owns a report's birth and its visibility.)"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from tortoise.exceptions import IntegrityError

from domain import counts, rollups, validate
from domain.auth import Viewer
from domain.catalog import catalog
from domain.dinas import responsible_agency_id
from domain.errors import BadUserInput, Unauthenticated
from domain.pagination import Monthly, Order, Page, ReadBudget, Spare, month_of, paginate
from domain.timeline import record
from domain.tx import EVENT_TX, Tx, atomic
from domain.visibility import (
    authors_only,
    by_author_condition,
    can_see_report,
    hidden_own_condition,
    report_condition,
)
from models import Media, Report
from models.enums import WITH_OFFICERS, EventKind, RegionLevel, ReportStatus
from models.sql import arg, fetch, fetch_model, in_list, is_postgres

MAX_MEDIA = 5
ORDERS = {
    "NEWEST": Order("created_at", descending=True),
    "OLDEST": Order("created_at", descending=False),
    "MOST_VOTED": Order("vote_count", descending=True),
    "RECENTLY_UPDATED": Order("updated_at", descending=True),
    "RELEVANCE": Order("relevance", descending=True),
}
# RELEVANCE ranks the newest matches of a search, this many at most: a common word matches
# millions of reports, and scoring them all on every request is what issue 16 forbids.
RELEVANCE_WINDOW = 500


def is_overdue(status: str, due_at: datetime | None, now: datetime) -> bool:
    """Past dueAt and still with the officers (not RESOLVED/CLOSED, REJECTED or DUPLICATE)."""
    return due_at is not None and due_at < now and status in WITH_OFFICERS


# ---------------------------------------------------------------- posting


@dataclass(frozen=True)
class NewReport:
    client_request_id: str
    category_id: int
    description: str
    lat: float
    lng: float
    address: str | None = None
    media_ids: list[int] = field(default_factory=list)
    anonymous: bool = False


async def attach_media(
    tx_conn: object, viewer: Viewer, media_ids: list[int], field_name: str, **target: int
) -> None:
    """Attach uploads to a report or a timeline entry: only the uploader's own, unattached ones."""
    if len(media_ids) > MAX_MEDIA:
        raise BadUserInput(field_name, f"At most {MAX_MEDIA} photos.")
    if not media_ids:
        return
    ids = list(dict.fromkeys(media_ids))
    rows = await Media.filter(id__in=ids).using_db(tx_conn).select_for_update()
    found = {m.id: m for m in rows}
    for media_id in ids:
        media = found.get(media_id)
        if media is None or media.uploader_id != viewer.id:  # type: ignore[attr-defined]
            raise BadUserInput(field_name, f"No upload {media_id} of yours.")
        if media.report_id is not None or media.status_change_id is not None:  # type: ignore[attr-defined]
            raise BadUserInput(field_name, f"Upload {media_id} is already attached.")
    await Media.filter(id__in=ids).using_db(tx_conn).update(**target)


async def _by_request(author_id: int, key: str) -> Report | None:
    sql = "SELECT * FROM report WHERE author_id = $1 AND client_request_id = $2"
    return await fetch_model(Report, sql, author_id, key)


async def create_report(viewer: Viewer | None, data: NewReport) -> Report:
    """Route the point to its kelurahan and the category to its dinas, and store it with its
    first timeline entry and CREATED event. Idempotent on (author, clientRequestId)."""
    if viewer is None:
        raise Unauthenticated()
    key = validate.text(data.client_request_id, "clientRequestId", min_len=1, max_len=64)
    try:
        report = _new_report(viewer, key, data)
    except BadUserInput as exc:
        # A retry answers with the report it made, even if the catalogue has changed since.
        return await _retried(viewer.id, key, exc)
    async with atomic() as tx:
        report.created_at = report.updated_at = tx.at
        stored = await _insert(tx, report)
        if stored is not None:
            await attach_media(tx.conn, viewer, data.media_ids, "mediaIds", report_id=stored.id)
            return stored
        tx.rollback()  # the rollups moved for it
    # A retry (or a concurrent one, which this waited for) holds the key.
    storing = BadUserInput("clientRequestId", "That request is being stored; retry.")
    return await _retried(viewer.id, key, storing)


async def _retried(author_id: int, key: str, otherwise: BadUserInput) -> Report:
    """The report an earlier request under this clientRequestId made, else `otherwise` raised."""
    existing = await _by_request(author_id, key)
    if existing is None:
        raise otherwise
    return existing


def _new_report(viewer: Viewer, key: str, data: NewReport) -> Report:
    """The report as the input describes it, routed and validated, not stored."""
    description = validate.text(data.description, "description", min_len=10, max_len=2000)
    address = validate.text(data.address, "address", max_len=300, required=False)
    lat, lng = validate.lat_lng(data.lat, data.lng, "location")
    cat = catalog()
    category = cat.category(data.category_id, "categoryId")
    kelurahan = cat.route(lat, lng)
    if kelurahan is None:
        raise BadUserInput("location", "That location is outside the city's kelurahan.")
    if len(data.media_ids) > MAX_MEDIA:
        raise BadUserInput("mediaIds", f"At most {MAX_MEDIA} photos.")
    kecamatan = cat.parent(kelurahan)
    kota = cat.parent(kecamatan) if kecamatan else None
    assert kecamatan is not None and kota is not None, "region tree is incomplete"
    return Report(
        client_request_id=key,
        author_id=viewer.id,
        anonymous=data.anonymous,
        category_id=category.id,
        agency_id=responsible_agency_id(category),
        kelurahan_id=kelurahan.id,
        kecamatan_id=kecamatan.id,
        kota_id=kota.id,
        status=ReportStatus.SUBMITTED,
        lat=lat,
        lng=lng,
        address=address,
        description=description,
    )


async def _insert(tx: Tx, report: Report) -> Report | None:
    """Store a new report with its first timeline entry, its CREATED event and its rollups, or
    None if its author already has one under its clientRequestId. On PostgreSQL one statement
    (the inserts chained in a WITH, the upserts after them: one round trip on ingest's hot
    path, where it replaced eight); on SQLite, in process, one statement each."""
    if not is_postgres(tx.conn):
        try:
            await report.save(using_db=tx.conn)
        except IntegrityError:
            return None
        change = await record(tx, report, None, ReportStatus.SUBMITTED, report.author_id, None)  # type: ignore[attr-defined]
        await tx.emit(EventKind.CREATED, report.id, status_change_id=change.id)
        await rollups.move(tx.conn, None, rollups.Facts.of(report))
        return report
    args: list[Any] = []
    columns, values = [], []
    for name, column in Report._meta.fields_db_projection.items():
        if name != "id":
            columns.append(column)
            values.append(arg(args, Report._meta.fields_map[name].to_db_value(getattr(report, name), report)))
    kind = arg(args, EventKind.CREATED.value)
    inserts = (
        f"r AS (INSERT INTO report ({', '.join(columns)}) VALUES ({', '.join(values)})"
        " ON CONFLICT (author_id, client_request_id) DO NOTHING RETURNING id, status, created_at, author_id),"
        " c AS (INSERT INTO status_change (from_status, to_status, note, created_at, actor_id, report_id)"
        " SELECT NULL, r.status, NULL, r.created_at, r.author_id, r.id FROM r"
        " RETURNING id, report_id, created_at),"
        f" e AS (INSERT INTO event (tx, kind, report_id, status_change_id, comment_id, created_at, user_id)"
        f" SELECT {EVENT_TX}, {kind}::text, c.report_id, c.id, NULL, c.created_at, NULL FROM c RETURNING id)"
    )
    # Its rollups in the same statement, after the inserts (which the main query reads): a
    # retry that finds its key taken rolls them back with the transaction.
    cells = rollups.changes(None, rollups.Facts.of(report))
    upserts = list(rollups.upserts(cells, args))
    rows = await fetch(
        rollups.merged(upserts, "SELECT r.id, c.id AS change_id, e.id AS event_id FROM r, c, e", inserts),
        *args,
        conn=tx.conn,
    )
    if not rows:
        return None
    row = rows[0]
    report.id = row["id"]
    report._saved_in_db = True
    tx.logged(row["event_id"], EventKind.CREATED, report.id, status_change_id=row["change_id"])
    return report


# ---------------------------------------------------------------- finding


@dataclass(frozen=True)
class ReportQuery:
    status: list[ReportStatus] | None = None
    category_ids: list[int] | None = None
    region_id: int | None = None
    agency_id: int | None = None
    author_id: int | None = None
    assignee_id: int | None = None
    bbox: tuple[float, float, float, float] | None = None  # south, west, north, east
    near: tuple[float, float, float] | None = None  # lat, lng, radius metres
    created_after: datetime | None = None
    created_before: datetime | None = None
    search: str | None = None
    overdue: bool | None = None


# The filters the status rollup answers exactly (domain.counts), given whole Jakarta days for
# the creation period; any other filter set means counting rows (up to the cap).
ROLLUP_FILTERS = frozenset(
    {"status", "category_ids", "region_id", "agency_id", "created_after", "created_before", "search"}
)


def exact_count(
    viewer: Viewer | None, f: ReportQuery, now: datetime, budget: ReadBudget
) -> Callable[[], Awaitable[tuple[int, bool]]] | None:
    """The count of the reports the viewer may see that match the filter, from the rollup, if
    it can tell: what the rows' own conditions would count, for every viewer (the rollup does
    not know authors, so a viewer's own reports of a status only authors see are counted as
    rows and added)."""
    words = search_words(f.search)
    others = (getattr(f, x.name) for x in dataclasses.fields(f) if x.name not in ROLLUP_FILTERS)
    if words or any(value is not None for value in others):
        return None
    days = counts.whole_days(f.created_after, f.created_before)
    if days is None:
        return None
    wanted = frozenset(ReportStatus(s) for s in f.status) if f.status else frozenset(ReportStatus)
    hidden = wanted & authors_only(viewer)
    tally = counts.Tally(
        statuses=wanted - hidden,
        category_ids=tuple(f.category_ids) if f.category_ids else None,
        agency_id=f.agency_id,
        region_id=f.region_id,
        first=days[0],
        last=days[1],
    )
    if viewer is None or not hidden:
        return lambda: counts.count(tally, budget)
    mine = dataclasses.replace(f, status=sorted(hidden))
    viewer_id = viewer.id

    def own(args: list[Any]) -> str:
        """The viewer's own reports in the statuses only authors see, matching the filter."""
        return " AND ".join([*conditions(viewer, mine, now, args), f"author_id = {arg(args, viewer_id)}"])

    return lambda: counts.count(tally, budget, own)


def in_region(region_id: int, args: list[Any], field_name: str = "regionId") -> str:
    """Reports whose kelurahan lies in the region, at any level, as one indexed equality."""
    region = catalog().region(region_id, field_name)
    column = {
        RegionLevel.KELURAHAN: "kelurahan_id",
        RegionLevel.KECAMATAN: "kecamatan_id",
        RegionLevel.KOTA: "kota_id",
    }.get(region.level)
    if column is None:  # the province: every kota below it
        return in_list("kota_id", [r.id for r in catalog().children.get(region.id, [])], args)
    return f"{column} = {arg(args, region.id)}"


def conditions(viewer: Viewer | None, f: ReportQuery, now: datetime, args: list[Any]) -> list[str]:
    """The filter as SQL conditions on report rows, visibility first."""
    split = split_conditions(viewer, f, now, args)
    return split.plain + split.text


# The orders a kelurahan's own indexes serve: (kelurahan_id, created_at) since 0001,
# (kelurahan_id, vote_count, id) and (kelurahan_id, updated_at, id) since 0012.
KELURAHAN_ORDERS = frozenset({"created_at", "vote_count", "updated_at"})


def kelurahan_ordered(f: ReportQuery, column: str | None) -> bool:
    """Whether the filter's region is a kelurahan whose own index serves the order."""
    if f.region_id is None or column not in KELURAHAN_ORDERS:
        return False
    return catalog().region(f.region_id, "filter.regionId").level == RegionLevel.KELURAHAN


# A report's creation span, as migration 0014's index (span, updated_at, id) computes it: 30
# days counted from 2000-01-01 UTC. Reports created before a date, by last update, are each
# span's newest updates merged, not the whole updated_at index walked past the newer reports'
# updates (every such page took the 2 s budget on a year).
SPAN_DAYS = 30
SPAN_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
SPAN_SQL = "(date_part('day', created_at - TIMESTAMPTZ '2000-01-01 00:00:00+00')::int / 30)"
# Beyond this many spans (over three years of history before the date) the statement's
# planning grows with every branch: the page walks the updated_at index as before.
MAX_SPANS = 40


def creation_span(at: datetime) -> int:
    """The span of a report created at `at` (not before SPAN_EPOCH), as SPAN_SQL has it."""
    return (at - SPAN_EPOCH) // timedelta(days=SPAN_DAYS)


def spanned(f: ReportQuery, column: str | None) -> bool:
    """Whether a page in the order of `column` reads the creation spans of the filter's period
    (by last update, created before a date, unless a kelurahan's own index serves it)."""
    return column == "updated_at" and f.created_before is not None and not kelurahan_ordered(f, column)


async def creation_spans(f: ReportQuery) -> list[str] | None:
    """The conditions that select each creation span of the filter's period which holds
    reports (None: SQLite, no report, or too many spans)."""
    if not is_postgres():
        return None
    ends = (await fetch("SELECT MIN(created_at) AS lo, MAX(created_at) AS hi FROM report"))[0]
    if ends["lo"] is None:
        return None
    lo = max(ends["lo"], f.created_after or ends["lo"])
    hi = min(ends["hi"], f.created_before or ends["hi"])
    spans = range(creation_span(lo), creation_span(hi) + 1)
    return [f"{SPAN_SQL} = {k}" for k in spans] if len(spans) <= MAX_SPANS else None


# Latitude cells of 1/100 degree (1.1 km): migration 0017 keys report's index on PostgreSQL by
# (LAT_CELL, lng), so a box reads its cells' longitude ranges; keyed by (lat, lng) it read
# every entry of its latitude band across the city (a 300 m circle: 4,176 index pages for
# 8,623 candidates). Jakarta spans 30 cells; a box over more than MAX_LAT_CELLS holds every
# latitude of it.
LAT_CELLS_PER_DEGREE = 100
LAT_CELL = f"floor(lat * {LAT_CELLS_PER_DEGREE})"
MAX_LAT_CELLS = 64


def box_condition(south: float, west: float, north: float, east: float, args: list[Any]) -> str:
    """A box of latitudes and longitudes as SQL: on PostgreSQL with its latitude cells first
    (the index's leading key; floor is monotonic, so every point of the box is in one)."""
    box = (f"lat >= {arg(args, south)} AND lat <= {arg(args, north)}"
           f" AND lng >= {arg(args, west)} AND lng <= {arg(args, east)}")  # fmt: skip
    cells = range(math.floor(south * LAT_CELLS_PER_DEGREE), math.floor(north * LAT_CELLS_PER_DEGREE) + 1)
    if not is_postgres() or not 0 < len(cells) <= MAX_LAT_CELLS:
        return box
    return f"{in_list(LAT_CELL, [float(c) for c in cells], args)} AND {box}"


class Split(NamedTuple):
    """A filter as SQL: the plain conditions, of which the first `inside` follow the order's
    own index (paginate keeps them inside its window), and apart the text search's, which only
    the full-text index serves (paginate reads them apart)."""

    plain: list[str]
    text: list[str]
    inside: int


def split_conditions(
    viewer: Viewer | None,
    f: ReportQuery,
    now: datetime,
    args: list[Any],
    order_column: str | None = None,
    lexemes: dict[str, list[str]] | None = None,
) -> Split:
    """The filter as SQL conditions, visibility first, then what an index of the order
    (`order_column`) serves with it: a kelurahan (its own indexes), and for NEWEST/OLDEST the
    creation period (it bounds the creation index), as for a spanned page (each span's index
    reads the period's rows). `lexemes`: the vocabulary under the search's prefixes
    (lexemes_under), asked of the full-text index in their place."""
    out = [c for c in (report_condition(viewer, args),) if c]
    region_first = kelurahan_ordered(f, order_column)
    if region_first:
        out.append(in_region(f.region_id, args, "filter.regionId"))  # type: ignore[arg-type]
    if f.created_after is not None:
        out.append(f"created_at >= {arg(args, f.created_after)}")
    if f.created_before is not None:
        out.append(f"created_at < {arg(args, f.created_before)}")
    period = (f.created_after is not None) + (f.created_before is not None)
    inside = len(out) if order_column == "created_at" or spanned(f, order_column) else len(out) - period
    if f.status:
        out.append(in_list("status", [ReportStatus(s).value for s in f.status], args))
    if f.category_ids:
        out.append(in_list("category_id", f.category_ids, args))
    if f.region_id is not None and not region_first:
        out.append(in_region(f.region_id, args, "filter.regionId"))
    if f.agency_id is not None:
        out.append(f"agency_id = {arg(args, f.agency_id)}")
    if f.author_id is not None:
        out.append(by_author_condition(viewer, f.author_id, args))
    if f.assignee_id is not None:
        out.append(f"assignee_id = {arg(args, f.assignee_id)}")
    if f.bbox is not None:
        out.append(box_condition(*f.bbox, args))
    if f.near is not None:
        lat, lng, radius = f.near
        dlat = radius / 111_320
        kx = 111_320 * max(math.cos(math.radians(lat)), 1e-6)
        dlng = radius / kx
        # Box first (served by an index), then the circle in plain arithmetic, which SQLite
        # and PostgreSQL both evaluate without math extensions.
        out.append(box_condition(lat - dlat, lng - dlng, lat + dlat, lng + dlng, args))
        y, x = f"((lat - {arg(args, lat)}) * 111320.0)", f"((lng - {arg(args, lng)}) * {arg(args, kx)})"
        out.append(f"{y} * {y} + {x} * {x} <= {arg(args, float(radius * radius))}")
    if f.overdue is not None:
        late = f"(due_at < {arg(args, now)} AND {in_list('status', [s.value for s in WITH_OFFICERS], args)})"
        out.append(late if f.overdue else f"NOT {late}")
    words = search_words(f.search)
    queries = word_queries(words, lexemes) if is_postgres() else [""] * len(words)
    text = [word_condition(word, query, args) for word, query in zip(words, queries, strict=True)]
    return Split(out, text, inside)


# Where the full-text index (migration 0011) cuts a report's text into words: every ASCII
# character that is neither a letter nor a digit, and any space.
_SEPARATORS = re.compile(r"[\x00-\x2f\x3a-\x40\x5b-\x60\x7b-\x7f\s]+")


def word_parts(word: str) -> list[str]:
    """A search word cut as the full-text index cuts the reports' text, lowercased as its
    lexemes are: 'Jl.Kwitang' -> ['jl', 'kwitang']."""
    return [part for part in _SEPARATORS.split(word.lower()) if part]


# A part this long or longer matches the beginning of a report's word, a shorter one a whole
# word: the full-text index collects every posting list under a prefix into a bitmap, 185 ms
# for 'ja' on a year (one for a whole word is skipped through), and a search of sixteen
# one-letter parts ran into the 2 s budget.
PREFIX_MIN = 3
# The parts the full-text index looks for in one search (any more are matched as written
# only): up to 8 prefixes at 85-190 ms each for the most common.
MAX_PARTS = 8


# A prefix is asked of the full-text index as its lexemes, one by one, when the vocabulary
# (migration 0015) holds at most this many under it; more, and the index gathers the prefix.
MAX_LEXEMES = 16


def search_parts(words: list[str]) -> list[list[str]]:
    """Each search word's parts that the full-text index looks for, MAX_PARTS in all."""
    left, out = MAX_PARTS, []
    for word in words:
        parts = word_parts(word)[:left]
        left -= len(parts)
        out.append(parts)
    return out


def _lexeme(word: str) -> str:
    return "'" + word.replace("\\", "\\\\").replace("'", "''") + "'"


def _part_query(part: str, lexemes: dict[str, list[str]]) -> str:
    exact = _exact_lexemes(part, lexemes)
    if exact is None:
        return _lexeme(part) + ":*"
    return _lexeme(exact[0]) if len(exact) == 1 else "(" + " | ".join(map(_lexeme, exact)) + ")"


def word_queries(words: list[str], lexemes: dict[str, list[str]] | None = None) -> list[str]:
    """Each search word's query for the full-text index (`'kwitang':* & 'jl'`, or with the
    lexemes under each prefix, `'kwitang' & 'jl'`; empty: the word has no part left to look
    for there)."""
    return [" & ".join(_part_query(p, lexemes or {}) for p in parts) for parts in search_parts(words)]


def prefix_bound(part: str) -> str | None:
    """The least string above every string that begins with `part`, in code point (UTF-8 byte)
    order: its last character's successor; None if there is none."""
    after = ord(part[-1]) + 1
    if after > 0x10FFFF or 0xD800 <= after <= 0xDFFF:
        return None
    return part[:-1] + chr(after)


# Every lexeme of the stored reports into the vocabulary, after a bulk load that went around
# its triggers (bench.generate); migration 0015 keeps its own copy of this statement.
VOCABULARY_FILL = (
    "INSERT INTO search_word (word) SELECT word FROM ts_stat('SELECT words FROM report') ORDER BY 1"
    " ON CONFLICT DO NOTHING"
)


async def lexemes_under(words: list[str]) -> dict[str, list[str]]:
    """The vocabulary's lexemes (migration 0015) under each prefix of the search, up to one more
    than MAX_LEXEMES (more: the prefix stays); one statement, PostgreSQL only."""
    parts = sorted({p for ps in search_parts(words) for p in ps if len(p) >= PREFIX_MIN and prefix_bound(p)})
    if not parts or not is_postgres():
        return {}
    rows = await fetch(
        "SELECT q.part, w.word FROM unnest(CAST($1 AS text[]), CAST($2 AS text[])) AS q(part, bound)"
        " LEFT JOIN LATERAL (SELECT word FROM search_word WHERE word >= q.part COLLATE \"C\""
        " AND word < q.bound COLLATE \"C\" ORDER BY word LIMIT $3) AS w ON true",
        parts,
        [prefix_bound(p) for p in parts],
        MAX_LEXEMES + 1,
    )
    out: dict[str, list[str]] = {p: [] for p in parts}
    for r in rows:
        if r["word"] is not None:
            out[r["part"]].append(r["word"])
    return out


def written(word: str, args: list[Any]) -> str:
    """A search word in the description or the address, as written, in any case."""
    pattern = f"UPPER({arg(args, f'%{_escape_like(word)}%')})"
    return (f"(UPPER(CAST(description AS VARCHAR)) LIKE {pattern} ESCAPE '\\'"
            f" OR UPPER(CAST(address AS VARCHAR)) LIKE {pattern} ESCAPE '\\')")  # fmt: skip


def word_condition(word: str, query: str, args: list[Any]) -> str:
    """A search word: as written (`written`); and with a query (PostgreSQL), its parts among
    the report's words, which the full-text index finds from those words' own posting lists
    (the trigram lookup read posting lists millions long for common trigrams)."""
    like = written(word, args)
    if not query:
        return like
    # Checked first: the stored vector's test is cheaper than two LIKEs.
    return f"(words @@ CAST({arg(args, query)} AS tsquery) AND {like})"


def _exact_lexemes(part: str, lexemes: dict[str, list[str]]) -> list[str] | None:
    """The lexemes a part is asked as (by the full-text index and the month keys alike), None
    for a prefix left to the full-text index. A part with no lexeme under it is itself: no
    report has a word that begins so, and the exact part finds none, at once."""
    if len(part) < PREFIX_MIN:
        return [part]
    found = lexemes.get(part)
    if found is None or len(found) > MAX_LEXEMES:
        return None
    return found or [part]


def vote_bucket(votes: int) -> int:
    """Migration 0020's bucket of a vote count: 0 for none, else its bit length (1, 2-3, 4-7,
    ...): most reports have none or a few, and the most voted few are a bucket or two."""
    return max(votes, 0).bit_length()


class Keys(NamedTuple):
    """An index of a report's words keyed along one order's column: its indexed expression,
    the tag before a key's number, a value's key, and whether matches spread evenly over the
    keys (Monthly.even)."""

    expression: str
    tag: str
    bucket: Callable[[Any], int]
    even: bool


# Migrations 0019 (by creation month) and 0020 (by last update's month, by votes' bucket).
KEYED = {
    "created_at": Keys("report_word_months(words, created_at)", "", month_of, True),
    "updated_at": Keys("report_word_ranks(words, updated_at, vote_count)", "u", month_of, True),
    "vote_count": Keys("report_word_ranks(words, updated_at, vote_count)", "v", vote_bucket, False),
}


def month_keys(lexemes: list[str], months: range, tag: str = "") -> list[str]:
    """Migration 0019's (0020's with a tag) keys of some lexemes in some months (buckets)."""
    return [f"{lexeme}@{tag}{month}" for lexeme in lexemes for month in months]


def monthly_search(f: ReportQuery, lexemes: dict[str, list[str]]) -> list[Monthly]:
    """A search by the keys of its matches along each keyed order (by_month), the creation
    months within the filter's creation period (a month either side: a bound without a zone is
    the session's time, not UTC); a report is updated after it is created, so its update's
    month is no earlier."""
    if not is_postgres() or not f.search:
        return []
    first = month_of(f.created_after) - 1 if f.created_after is not None else None
    last = month_of(f.created_before) + 1 if f.created_before is not None else None
    bounds = {"created_at": (first, last), "updated_at": (first, None)}
    words, out = search_words(f.search), []
    for column, keys in KEYED.items():
        conditions = by_month(words, lexemes, keys)
        if conditions is None:
            return []
        lo, hi = bounds.get(column, (None, None))
        out.append(Monthly(conditions, lo, hi, column=column, bucket=keys.bucket, even=keys.even))
    return out


MonthConditions = Callable[[list[Any], range], list[str]]


def by_month(words: list[str], lexemes: dict[str, list[str]], keys: Keys) -> MonthConditions | None:
    """The search's conditions for the reports of some months (PostgreSQL, migration 0019;
    buckets of `keys`' own column by 0020): each word's exact lexemes as that index's keys
    for those months, and the word as written; None when a part is a prefix left to the
    full-text index (more than MAX_LEXEMES under it: the keys cannot ask it, and the words as
    written alone would also match it inside a word, 'pejalan' for 'kwitang jal', a review
    found), or no word has a part to ask."""
    keyed = [[_exact_lexemes(p, lexemes) for p in parts] for parts in search_parts(words)]
    if not any(parts for parts in keyed) or any(lexes is None for parts in keyed for lexes in parts):
        return None

    def conditions(args: list[Any], months: range) -> list[str]:
        out = []
        for word, parts in zip(words, keyed, strict=True):
            asked = [month_keys(lexes, months, keys.tag) for lexes in parts if lexes is not None]
            found = [f"{keys.expression} && CAST({arg(args, k)} AS text[])" for k in asked]
            out.append("(" + " AND ".join([*found, written(word, args)]) + ")")
        return out

    return conditions


def search_words(search: str | None) -> list[str]:
    """The words of a search, at most 8; a word without a letter or a digit says nothing
    (and no index could find it)."""
    return [word for word in (search or "").split() if word_parts(word)][:8]


def relevance(words: list[str], args: list[Any]) -> str:
    """How well a report matches: each word's occurrences, twice in the description, once in
    the address; an integer (a keyset cursor holds it exactly) in both SQL dialects."""
    terms = []
    for word in words:
        w = f"UPPER({arg(args, word)})"
        for column, weight in (("description", 2), ("address", 1)):
            text = f"UPPER(CAST(COALESCE({column}, '') AS VARCHAR))"
            terms.append(f"{weight} * ((LENGTH({text}) - LENGTH(REPLACE({text}, {w}, ''))) / LENGTH({w}))")
    return " + ".join(terms) or "0"


def _escape_like(word: str) -> str:
    return word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def order_of(f: ReportQuery, order: Order | str) -> Order:
    """The order a search pages in: RELEVANCE without a search is NEWEST."""
    if order == "RELEVANCE" and not search_words(f.search):
        order = "NEWEST"
    return ORDERS[order] if isinstance(order, str) else order


def check_cursor(f: ReportQuery, order: Order | str, after: str | None) -> None:
    """A page's cursor checked before any read, so that bad input is the error a request
    gets whatever else it asks (as when the search itself refuses it)."""
    if after is not None:
        order_of(f, order).after(after, [])


# Every column split_conditions tests but the words': migration 0016 puts them in the
# (vote_count, id) and (updated_at, id) indexes, so a page by MOST_VOTED or RECENTLY_UPDATED
# tests its filters there while it walks the order, and reads only its own rows from the table.
WALK_COLUMNS = (
    "status", "category_id", "kelurahan_id", "kecamatan_id", "kota_id", "agency_id", "author_id", "anonymous",
    "assignee_id", "lat", "lng", "created_at", "due_at",
)  # fmt: skip
WALKED_ORDERS = frozenset({"vote_count", "updated_at"})


async def search_reports(
    viewer: Viewer | None,
    f: ReportQuery,
    order: Order | str,
    first: int,
    after: str | None,
    now: datetime,
    budget: ReadBudget | None = None,
    early: Spare | None = None,
) -> Page:
    """One page of the reports the viewer may see that match the filter, in `order` (an Order
    or the name of one of ORDERS; RELEVANCE without a search is NEWEST). `early`: the total is
    asked, and may be counted beside the page (paginate)."""
    args: list[Any] = []
    ordered = order_of(f, order)
    lexemes = await lexemes_under(search_words(f.search))
    filters, text, inside = split_conditions(viewer, f, now, args, ordered.column, lexemes)
    exact = exact_count(viewer, f, now, budget or ReadBudget())
    monthly = monthly_search(f, lexemes)
    early = early if exact is None else None  # a total from the rollups needs no count
    if ordered.column != "relevance":
        # A capped count reads the creation index from the edge of a period, or an author's or
        # an assignee's (x, created_at) index, instead of the planner's bitmap of every match.
        along = (f.created_after, f.created_before, f.author_id, f.assignee_id) != (None,) * 4
        spans = await creation_spans(f) if spanned(f, ordered.column) else None
        # Both orders' rows lie on pages of their own, as a kelurahan's do in any order. The
        # indexes that carry WALK_COLUMNS: both orders' (0016), the creation spans' and a
        # kelurahan's by creation (0021); not a kelurahan's by votes or update (0012).
        walked, by_kelurahan = ordered.column in WALKED_ORDERS, kelurahan_ordered(f, ordered.column)
        covered = (walked and not by_kelurahan) or (by_kelurahan and ordered.column == "created_at")
        page = await paginate(
            Report,
            filters,
            args,
            ordered,
            first,
            after,
            text=text,
            windowed=inside,
            budget=budget,
            count_along=ORDERS["NEWEST"] if along else None,
            tally=exact is None,
            spans=spans,
            narrow=WALK_COLUMNS if covered else None,
            scattered=walked or by_kelurahan,
            early=early,
            monthly=monthly,
        )
        page.count = exact or page.count
        return page
    # The newest matches (as NEWEST finds them), then those ranked by their score.
    newest = await paginate(
        Report,
        filters,
        args,
        ORDERS["NEWEST"],
        RELEVANCE_WINDOW,
        None,
        text=text,
        windowed=inside,
        budget=budget,
        early=early,
        monthly=monthly,
    )
    ranked_args: list[Any] = []
    score = ("relevance", relevance(search_words(f.search), ranked_args))
    ids = [r.id for r in newest.rows] or [0]
    within = [in_list("id", ids, ranked_args)]
    page = await paginate(Report, within, ranked_args, ordered, first, after, budget=budget, computed=score)
    page.count, page.early = newest.count, newest.early  # every match counts, not only the window ranked
    return page


async def has_hidden_own(viewer: Viewer) -> bool:
    """Whether the viewer wrote a report the public does not see (domain/visibility.py)."""
    args: list[Any] = []
    condition = hidden_own_condition(viewer, args)
    found = await fetch(f"SELECT 1 AS x FROM report WHERE {condition} LIMIT 1", *args)
    return bool(found)


async def get_visible(viewer: Viewer | None, report_id: int) -> Report | None:
    report = await Report.get_or_none(id=report_id)
    return report if report is not None and can_see_report(viewer, report) else None
