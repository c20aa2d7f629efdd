"""Rollup rows from each day's report facts, by the project's own rules.

Two ways, which must agree exactly:

* exact: `domain.rollups.contributions(Facts(...))` for every report, summed per cell. The
  definition itself, but about 60 us of Python per report: 15 minutes of CPU for a year.
* fast (default): the same rules applied to whole columns with numpy, grouping with
  np.unique. Durations are bucketed and heat cells computed by the project's own
  `rollups.bucket` and h3 call, so float rounding cannot differ. Every day, a sample of its
  reports (one in --check-every) is aggregated both ways and must give identical cells,
  otherwise the run stops: a change of the rules in domain/rollups.py cannot go unnoticed.

Workers run in a process pool beside the generator (bench/generate.py) and only compute: they
hand back COPY payloads, which the generator writes in its one transaction.

Per day: every cell but "resolved" is keyed by the report's creation day, so a day's cells
are final once its reports are in; "resolved" cells (keyed by the resolution day, never
before the creation day) come back as partial sums the generator adds up and writes once
their day can receive no more reports.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import UTC, date
from time import perf_counter
from typing import Any, NamedTuple

import h3
import numpy as np

from bench.pgcopy import CopyBuffer
from domain import rollups
from domain.rollups import DAILY_KINDS, TABLES, Facts, Key, contributions
from models.enums import DONE_STATUSES, ReportStatus

NEVER = 2**62
US = 1_000_000
DAY_US = 86_400 * US
JAKARTA_US = 7 * 3_600 * US
STATUS_NAMES = [s.value for s in ReportStatus]
_CODE = {s: i for i, s in enumerate(STATUS_NAMES)}
TIME_FIELDS = {"created_at", "verified_at", "first_response_at", "resolved_at", "due_at"}
OPTIONAL_IDS = {"agency_id", "assignee_id", "rating"}
COLUMN_TYPES = {
    "day": "date",
    "level": "text",
    "metric": "text",
    "status": "text",
    "cell": "text",
    "bucket": "int2",
}
_UNIX_ORDINAL = date(1970, 1, 1).toordinal()

Rows = tuple[list[Any], np.ndarray]
"""One rollup table's cells: key columns in TABLES order (after the kind), counters (n, k).
A text column is either a list of strings or a Coded column."""


class Coded(NamedTuple):
    """A low-cardinality text column as codes into a vocabulary (no string per row)."""

    codes: np.ndarray
    vocab: list[str]

    def strings(self) -> list[str]:
        return [self.vocab[c] for c in self.codes.tolist()]


def _constant(values: list[str], sizes: list[int]) -> Coded:
    """values[i] repeated sizes[i] times, as a Coded column."""
    vocab = sorted(set(values))
    codes = np.repeat(np.array([vocab.index(v) for v in values], dtype=np.int64), sizes)
    return Coded(codes, vocab)


Payload = tuple[str, list[str], int, bytes]
"""(table, columns, rows, COPY BINARY bytes)"""


# ---------------------------------------------------------------- exact: contributions()


def _datetimes(unix_us: np.ndarray) -> list[Any]:
    """Aware UTC datetimes (None for NEVER), as Facts compares and converts them."""
    values = np.where(unix_us >= NEVER, np.iinfo(np.int64).min, unix_us).view("datetime64[us]")
    return [d.replace(tzinfo=UTC) if d is not None else None for d in values.tolist()]


def facts_of(columns: dict[str, np.ndarray]) -> list[Facts]:
    """The reports as Facts, built column-wise in Facts' own field order."""
    statuses = list(ReportStatus)
    ordered: list[list[Any]] = []
    for field in dataclasses.fields(Facts):
        values = columns[field.name]
        if field.name in TIME_FIELDS:
            ordered.append(_datetimes(values))
        elif field.name == "status":
            ordered.append([statuses[i] for i in values.tolist()])
        elif field.name in OPTIONAL_IDS:
            ordered.append([v or None for v in values.tolist()])
        else:
            ordered.append(values.tolist())
    return list(map(Facts, *ordered))


def aggregate(columns: dict[str, np.ndarray]) -> dict[Key, tuple[int, ...]]:
    """Sum of contributions() over the reports.

    Counting (key, vector) pairs with Counter.update runs the per-report bookkeeping in C;
    the vectors are then multiplied out once per distinct pair.
    """
    pairs: Counter[tuple[Key, tuple[int, ...]]] = Counter()
    update = pairs.update
    for facts in facts_of(columns):
        update(contributions(facts).items())
    cells: dict[Key, list[int]] = {}
    for (key, vec), times in pairs.items():
        acc = cells.get(key)
        if acc is None:
            cells[key] = [v * times for v in vec]
        else:
            for i, v in enumerate(vec):
                acc[i] += v * times
    return {k: tuple(v) for k, v in cells.items()}


def rows_of_cells(cells: dict[Key, tuple[int, ...]]) -> dict[str, Rows]:
    """Cells (as contributions() keys them) regrouped into per-table columns."""
    by_kind: dict[str, list[tuple[Key, tuple[int, ...]]]] = {kind: [] for kind in DAILY_KINDS}
    for key, vec in cells.items():
        if key[0] in by_kind:  # "tally" cells become status_span rows after the load (generate.py)
            by_kind[key[0]].append((key, vec))
    out: dict[str, Rows] = {}
    for kind, items in by_kind.items():
        keys, counters = TABLES[kind][1], TABLES[kind][2]
        columns: list[Any] = [list(c) for c in zip(*(k[1:] for k, _ in items), strict=True)] or [
            [] for _ in keys
        ]
        columns[0] = np.array([d.toordinal() - _UNIX_ORDINAL for d in columns[0]], dtype=np.int64)
        vectors = np.array([v for _, v in items], dtype=np.int64).reshape(len(items), len(counters))
        out[kind] = (columns, vectors)
    return out


# ---------------------------------------------------------------- fast: the same rules on columns


def _group(keys: Sequence[np.ndarray], weights: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    """Distinct key tuples and the summed weight rows (weights: (n, k)) of each.

    The key columns are folded into one dense int64 code (re-densified after each column, so
    it cannot overflow) and grouped with a 1-D np.unique: np.unique(axis=0) sorts rows as
    bytes and is ten times slower."""
    columns = [np.asarray(k, dtype=np.int64) for k in keys]
    n = columns[0].size
    if n == 0:
        return [np.zeros(0, dtype=np.int64) for _ in columns], np.zeros((0, weights.shape[1]), dtype=np.int64)
    combined = np.zeros(n, dtype=np.int64)
    for column in columns:
        _, codes = np.unique(column, return_inverse=True)
        combined = combined * (int(codes.max()) + 1) + codes.reshape(-1)
        _, combined = np.unique(combined, return_inverse=True)
        combined = combined.reshape(-1)
    groups, first = np.unique(combined, return_index=True)
    sums = np.stack(
        [
            np.bincount(combined, weights=weights[:, j], minlength=groups.size)
            for j in range(weights.shape[1])
        ],
        axis=1,
    )
    return [column[first] for column in columns], np.rint(sums).astype(np.int64)


def _buckets(seconds_us: np.ndarray) -> np.ndarray:
    """rollups.bucket of each duration, computed by rollups.bucket itself on the same floats
    timedelta.total_seconds() gives (int microseconds / 1e6, correctly rounded both ways)."""
    bucket = rollups.bucket
    return np.fromiter((bucket(s) for s in (seconds_us / US).tolist()), dtype=np.int64, count=seconds_us.size)


def fast_rows(c: dict[str, np.ndarray]) -> dict[str, Rows]:
    """What aggregate() computes, with numpy: see domain/rollups.contributions for the rules."""
    n = c["status"].size
    one = np.ones((n, 1), dtype=np.int64)
    day = (c["created_at"] + JAKARTA_US) // DAY_US
    kel, kec, kota, cat, status = (
        c["kelurahan_id"],
        c["kecamatan_id"],
        c["kota_id"],
        c["category_id"],
        c["status"],
    )
    out: dict[str, Rows] = {}

    keys, sums = _group([day, kel, kec, kota, cat, status], one)
    out["status"] = ([*keys[:5], Coded(keys[5], STATUS_NAMES)], sums)

    m = c["resolved_at"] < NEVER
    resolved_day = (c["resolved_at"][m] + JAKARTA_US) // DAY_US
    keys, sums = _group([resolved_day, kel[m], kec[m], kota[m], cat[m]], one[m])
    out["resolved"] = (keys, sums)

    m = (status != _CODE["REJECTED"]) & (status != _CODE["DUPLICATE"])
    to_cell = h3.latlng_to_cell
    cells = [
        to_cell(a, b, rollups.HEAT_RESOLUTION)
        for a, b in zip(c["lat"][m].tolist(), c["lng"][m].tolist(), strict=True)
    ]
    cell_ids = np.array([h3.str_to_int(x) for x in cells], dtype=np.uint64).view(np.int64)
    keys, sums = _group([day[m], cell_ids, cat[m]], one[m])
    out["heat"] = (
        [keys[0], [h3.int_to_str(int(x)) for x in keys[1].view(np.uint64).tolist()], keys[2]],
        sums,
    )

    counted = (c["verified_at"] < NEVER) & (status != _CODE["DUPLICATE"])
    responded = c["first_response_at"] < NEVER
    done = np.isin(status, [_CODE[s.value] for s in DONE_STATUSES])
    sla_met = done & (c["resolved_at"] < NEVER) & (c["due_at"] < NEVER) & (c["resolved_at"] <= c["due_at"])
    rating = c["rating"]
    vector = np.stack(
        [np.ones(n, dtype=np.int64), responded, done, sla_met, rating, rating > 0], axis=1
    ).astype(np.int64)
    r_bucket = np.zeros(n, dtype=np.int64)
    r_bucket[counted & responded] = _buckets(
        c["first_response_at"][counted & responded] - c["verified_at"][counted & responded]
    )
    has_s = counted & done & (c["resolved_at"] < NEVER)
    s_bucket = np.zeros(n, dtype=np.int64)
    s_bucket[has_s] = _buckets(c["resolved_at"][has_s] - c["verified_at"][has_s])
    units = [
        ("KELURAHAN", kel, counted),
        ("KECAMATAN", kec, counted),
        ("KOTA", kota, counted),
        ("DINAS", c["agency_id"], counted & (c["agency_id"] != 0)),
        ("STAFF", c["assignee_id"], counted & (c["assignee_id"] != 0)),
    ]
    perf: list[tuple[str, list[np.ndarray], np.ndarray]] = []
    hist: list[tuple[str, str, list[np.ndarray], np.ndarray]] = []
    for level, unit, mask in units:
        keys, sums = _group([day[mask], unit[mask]], vector[mask])
        perf.append((level, keys, sums))
        for metric, has, b in (
            (rollups.RESPONSE, mask & responded, r_bucket),
            (rollups.RESOLUTION, mask & has_s, s_bucket),
        ):
            keys, sums = _group([day[has], unit[has], b[has]], one[has])
            hist.append((level, metric, keys, sums))
    out["perf"] = (
        [
            np.concatenate([k[0] for _, k, _ in perf]),
            _constant([level for level, _, _ in perf], [k[0].size for _, k, _ in perf]),
            np.concatenate([k[1] for _, k, _ in perf]),
        ],
        np.concatenate([s for _, _, s in perf]),
    )
    out["hist"] = (
        [
            np.concatenate([k[0] for _, _, k, _ in hist]),
            _constant([level for level, _, _, _ in hist], [k[0].size for _, _, k, _ in hist]),
            np.concatenate([k[1] for _, _, k, _ in hist]),
            _constant([metric for _, metric, _, _ in hist], [k[0].size for _, _, k, _ in hist]),
            np.concatenate([k[2] for _, _, k, _ in hist]),
        ],
        np.concatenate([s for _, _, _, s in hist]),
    )
    return out


def cells_of_rows(kind: str, rows: Rows) -> dict[Key, tuple[int, ...]]:
    """Rows back into contributions()-style keys (for comparing and for "resolved" sums)."""
    columns, sums = rows
    as_lists = [
        c.tolist() if isinstance(c, np.ndarray) else c.strings() if isinstance(c, Coded) else list(c)
        for c in columns
    ]
    as_lists[0] = [date.fromordinal(d + _UNIX_ORDINAL) for d in as_lists[0]]
    return {
        (kind, *key): tuple(vec) for key, vec in zip(zip(*as_lists, strict=True), sums.tolist(), strict=True)
    }


def check_sample(columns: dict[str, np.ndarray], every: int) -> int:
    """Aggregate one report in `every` both ways; they must be identical. Returns the count."""
    sample = {name: values[::every] for name, values in columns.items()}
    exact = {k: v for k, v in aggregate(sample).items() if k[0] in DAILY_KINDS}
    fast: dict[Key, tuple[int, ...]] = {}
    for kind, rows in fast_rows(sample).items():
        fast.update(cells_of_rows(kind, rows))
    if fast != exact:
        differing = sorted((k for k in fast.keys() | exact.keys() if fast.get(k) != exact.get(k)), key=str)
        sample_diff = "; ".join(f"{k}: fast {fast.get(k)} exact {exact.get(k)}" for k in differing[:5])
        raise AssertionError(f"fast rollups differ from domain.rollups.contributions: {sample_diff}")
    return sample["status"].size


# ---------------------------------------------------------------- COPY payloads


def payload(kind: str, rows: Rows) -> Payload | None:
    """The COPY of one rollup table's rows; ids come from the table's sequence (bigserial)."""
    table, keys, counters = TABLES[kind]
    columns, sums = rows
    n = sums.shape[0]
    if n == 0:
        return None
    buf = CopyBuffer(n)
    for name, values in zip(keys, columns, strict=True):
        kind_of = COLUMN_TYPES.get(name, "int4")
        if kind_of == "date":
            buf.date(name, np.asarray(values, dtype=np.int64))
        elif kind_of == "text" and isinstance(values, Coded):
            buf.text_codes(name, values.codes, values.vocab)
        elif kind_of == "text":
            vocab: dict[str, int] = {}
            codes = np.fromiter((vocab.setdefault(v, len(vocab)) for v in values), dtype=np.int64, count=n)
            buf.text_codes(name, codes, list(vocab))
        elif kind_of == "int2":
            buf.int2(name, np.asarray(values, dtype=np.int64))
        else:
            buf.int4(name, np.asarray(values, dtype=np.int64))
    for i, name in enumerate(counters):
        buf.int4(name, sums[:, i])
    return table, buf.columns, n, bytes(buf.payload())


def payload_of_cells(kind: str, cells: Iterable[tuple[Key, tuple[int, ...]]]) -> Payload | None:
    """The COPY of cells keyed as contributions() keys them (the summed "resolved" days)."""
    return payload(kind, rows_of_cells(dict(cells))[kind])


def day_rollups(
    columns: dict[str, np.ndarray], exact: bool, check_every: int
) -> tuple[list[Payload], dict[Key, tuple[int, ...]], float, int]:
    """One creation day: the payloads of its final cells, its partial "resolved" sums, the
    CPU seconds it took and how many reports were cross-checked (runs in a worker)."""
    started = perf_counter()
    checked = 0
    if exact:
        rows = rows_of_cells(aggregate(columns))
    else:
        rows = fast_rows(columns)
        if check_every > 0:
            checked = check_sample(columns, check_every)
    payloads = [p for kind, r in rows.items() if kind != "resolved" and (p := payload(kind, r)) is not None]
    resolved = cells_of_rows("resolved", rows["resolved"])
    return payloads, resolved, perf_counter() - started, checked
