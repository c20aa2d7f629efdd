"""PostgreSQL binary COPY payloads built with numpy.

Why: asyncpg's `copy_records_to_table` encodes value by value in the client, which for a year
of data (about 100 million rows) costs more CPU than the server spends storing them. Here a
column costs a few array operations, whatever the row count, and the payload goes through
the public `copy_to_table(format="binary", freeze=True)`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

import numpy as np

PG_EPOCH_US = 946_684_800 * 1_000_000
"""2000-01-01T00:00Z in Unix microseconds: PostgreSQL's timestamp zero."""
PG_EPOCH_DAYS = 10_957
"""2000-01-01 in days since 1970-01-01: PostgreSQL's date zero."""
_HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(8)
_TRAILER = b"\xff\xff"
_SEND_BYTES = 1 << 20
_BLOCK_BYTES = 1 << 22


class CopyBuffer:
    """The rows of one table, added column by column; `payload()` renders the COPY stream.

    Every column is kept as (blob, start, length) per row: fixed-width values are a blob of
    big-endian bytes, text is a blob of UTF-8, NULL is length -1. One scatter routine then
    writes all kinds, so there is no per-row Python.
    """

    def __init__(self, rows: int) -> None:
        self.rows = rows
        self.columns: list[str] = []
        self._parts: list[tuple[np.ndarray, np.ndarray, np.ndarray, int]] = []

    # ---------------------------------------------------------------- fixed width

    def _fixed(self, name: str, values: np.ndarray, dtype: str, null: np.ndarray | None) -> None:
        """Big-endian values of one width; dense columns take the one-write path in payload()."""
        data = np.ascontiguousarray(np.asarray(values).astype(dtype, copy=False))
        if data.shape != (self.rows,):
            raise ValueError(f"{name}: {data.shape} values for {self.rows} rows")
        width = data.dtype.itemsize
        lengths = np.full(self.rows, width, dtype=np.int64)
        dense = null is None or not np.any(null)
        if not dense:
            lengths[null] = -1
        starts = np.arange(self.rows, dtype=np.int64) * width
        self._add(name, data.view(np.uint8), starts, lengths, width if dense else 0)

    def int2(self, name: str, values: np.ndarray, null: np.ndarray | None = None) -> None:
        self._fixed(name, values, ">i2", null)

    def int4(self, name: str, values: np.ndarray, null: np.ndarray | None = None) -> None:
        self._fixed(name, values, ">i4", null)

    def int8(self, name: str, values: np.ndarray, null: np.ndarray | None = None) -> None:
        self._fixed(name, values, ">i8", null)

    def float8(self, name: str, values: np.ndarray, null: np.ndarray | None = None) -> None:
        self._fixed(name, values, ">f8", null)

    def boolean(self, name: str, values: np.ndarray) -> None:
        self._fixed(name, np.asarray(values, dtype=bool).astype(np.uint8), "u1", None)

    def timestamptz(self, name: str, unix_us: np.ndarray, null: np.ndarray | None = None) -> None:
        """Unix microseconds (UTC); rows under `null` are written as NULL."""
        self._fixed(name, np.asarray(unix_us, dtype=np.int64) - PG_EPOCH_US, ">i8", null)

    def date(self, name: str, unix_days: np.ndarray) -> None:
        self._fixed(name, np.asarray(unix_days, dtype=np.int64) - PG_EPOCH_DAYS, ">i4", None)

    # ---------------------------------------------------------------- text

    def text_codes(self, name: str, codes: np.ndarray, vocab: Sequence[str | None]) -> None:
        """Text chosen from a vocabulary; a negative code or a None entry is NULL."""
        encoded = [(v or "").encode() for v in vocab]
        vocab_len = np.array([len(e) for e in encoded] + [0], dtype=np.int64)
        vocab_null = np.array([v is None for v in vocab] + [True])
        vocab_start = np.zeros(len(encoded) + 1, dtype=np.int64)
        vocab_start[1:] = np.cumsum(vocab_len[:-1])
        codes = np.asarray(codes, dtype=np.int64)
        if codes.shape != (self.rows,):
            raise ValueError(f"{name}: {codes.shape} codes for {self.rows} rows")
        codes = np.where(codes < 0, len(encoded), codes)
        lengths = np.where(vocab_null[codes], -1, vocab_len[codes])
        blob = np.frombuffer(b"".join(encoded) or b"\0", dtype=np.uint8)
        self._add(name, blob, vocab_start[codes], lengths)

    def text(self, name: str, values: Sequence[str | None]) -> None:
        """Arbitrary text, one Python string (or None) per row."""
        if len(values) != self.rows:
            raise ValueError(f"{name}: {len(values)} values for {self.rows} rows")
        encoded = [(v or "").encode() for v in values]
        lengths = np.fromiter((len(e) for e in encoded), dtype=np.int64, count=self.rows)
        starts = np.zeros(self.rows, dtype=np.int64)
        if self.rows:
            starts[1:] = np.cumsum(lengths[:-1])
        nulls = np.fromiter((v is None for v in values), dtype=bool, count=self.rows)
        lengths[nulls] = -1
        blob = np.frombuffer(b"".join(encoded) or b"\0", dtype=np.uint8)
        self._add(name, blob, starts, lengths)

    # ---------------------------------------------------------------- rendering

    def _add(
        self, name: str, blob: np.ndarray, starts: np.ndarray, lengths: np.ndarray, dense_width: int = 0
    ) -> None:
        """dense_width > 0: every row holds a value of that width (one 2-D write suffices)."""
        self.columns.append(name)
        self._parts.append((blob, starts, lengths, dense_width))

    def payload(self) -> memoryview:
        """The whole COPY BINARY stream: header, one tuple per row, trailer."""
        n, ncols = self.rows, len(self._parts)
        sizes = np.full(n, 2, dtype=np.int64)
        for _, _, lengths, _ in self._parts:
            sizes += 4 + np.maximum(lengths, 0)
        row_start = np.empty(n, dtype=np.int64)
        if n:
            row_start[0] = len(_HEADER)
            np.cumsum(sizes[:-1], out=row_start[1:])
            row_start[1:] += len(_HEADER)
        total = len(_HEADER) + int(sizes.sum()) + len(_TRAILER)
        buf = np.empty(total, dtype=np.uint8)
        buf[: len(_HEADER)] = np.frombuffer(_HEADER, dtype=np.uint8)
        buf[total - len(_TRAILER) :] = np.frombuffer(_TRAILER, dtype=np.uint8)
        count = np.frombuffer(np.array([ncols], dtype=">i2").tobytes(), dtype=np.uint8)
        buf[row_start[:, None] + np.arange(2)] = count
        pos = row_start + 2
        four = np.arange(4)
        for blob, starts, lengths, width in self._parts:
            if width:
                field = np.empty((n, 4 + width), dtype=np.uint8)
                field[:, :4] = np.frombuffer(np.array([width], dtype=">i4").tobytes(), dtype=np.uint8)
                field[:, 4:] = blob.reshape(n, width)
                buf[pos[:, None] + np.arange(4 + width)] = field
                pos += 4 + width
                continue
            header = lengths.astype(">i4").view(np.uint8).reshape(n, 4)
            buf[pos[:, None] + four] = header
            data_len = np.maximum(lengths, 0)
            _scatter(buf, pos + 4, blob, starts, data_len)
            pos += 4 + data_len
        return memoryview(buf)


def _scatter(
    buf: np.ndarray, dest: np.ndarray, blob: np.ndarray, src: np.ndarray, lengths: np.ndarray
) -> None:
    """buf[dest[i] : dest[i] + lengths[i]] = blob[src[i] : src[i] + lengths[i]] for every row i,
    in blocks of about _BLOCK_BYTES so the index arrays (8 bytes per byte moved) stay small."""
    if not lengths.size or int(lengths.max()) == 0:
        return
    width = int(lengths.max())
    if int(lengths.min()) == width and width <= 16:
        offsets = np.arange(width)
        step = max(1, _BLOCK_BYTES // width)
        for i in range(0, lengths.size, step):
            buf[dest[i : i + step, None] + offsets] = blob[src[i : i + step, None] + offsets]
        return
    ends = np.cumsum(lengths)
    first = 0
    while first < lengths.size:
        base = int(ends[first - 1]) if first else 0
        last = max(int(np.searchsorted(ends, base + _BLOCK_BYTES, side="right")), first + 1)
        part = lengths[first:last]
        total = int(part.sum())
        if total:
            starts = np.zeros(part.size, dtype=np.int64)
            np.cumsum(part[:-1], out=starts[1:])
            within = np.arange(total, dtype=np.int64) - np.repeat(starts, part)
            buf[np.repeat(dest[first:last], part) + within] = blob[np.repeat(src[first:last], part) + within]
        first = last


async def stream(payload: memoryview) -> AsyncIterator[bytes]:
    """The payload in 1 MiB pieces, as asyncpg's copy_to_table takes an async iterable."""
    for start in range(0, len(payload), _SEND_BYTES):
        yield bytes(payload[start : start + _SEND_BYTES])
