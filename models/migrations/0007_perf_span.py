"""perf_span replaces the monthly tier (perf_monthly, perf_hist_monthly): counters and both
duration histograms of a unit per day, month and year, each histogram one value (the first
bucket, then the counts, big-endian int32), so a period of any length reads a few rows per unit.
On PostgreSQL the function warga_hist_add adds two such values inside the upsert. Filled from
the daily tables. Frozen here on purpose (no import of today's code)."""

import struct
from collections import defaultdict
from datetime import date

from tortoise import fields, migrations
from tortoise.indexes import Index
from tortoise.migrations import operations as ops

COUNTERS = ("received", "responded", "resolved", "sla_met", "rating_sum", "rating_count")

HIST_ADD = r"""
CREATE OR REPLACE FUNCTION warga_hist_add(a bytea, b bytea) RETURNS bytea
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
  alo int; an int; blo int; bn int; lo int; hi int; o int; v int;
BEGIN
  IF a IS NULL OR length(a) <= 4 THEN RETURN b; END IF;
  IF b IS NULL OR length(b) <= 4 THEN RETURN a; END IF;
  alo := ('x' || encode(substring(a from 1 for 4), 'hex'))::bit(32)::int;
  blo := ('x' || encode(substring(b from 1 for 4), 'hex'))::bit(32)::int;
  an := (length(a) - 4) / 4;
  bn := (length(b) - 4) / 4;
  lo := least(alo, blo);
  hi := greatest(alo + an, blo + bn);
  IF lo < alo OR hi > alo + an THEN
    a := int4send(lo) || decode(repeat('00', 4 * (alo - lo)), 'hex') || substring(a from 5)
         || decode(repeat('00', 4 * (hi - alo - an)), 'hex');
  END IF;
  FOR i IN 0 .. bn - 1 LOOP
    o := 5 + 4 * (blo + i - lo);
    v := ('x' || encode(substring(a from o for 4), 'hex'))::bit(32)::int
         + ('x' || encode(substring(b from 5 + 4 * i for 4), 'hex'))::bit(32)::int;
    a := overlay(a placing int4send(v) from o for 4);
  END LOOP;
  RETURN a;
END $$
"""

_FIRST = {
    "postgres": {"D": "day", "M": "CAST(date_trunc('month', day) AS DATE)", "Y": "CAST(date_trunc('year', day) AS DATE)"},
    "sqlite": {"D": "day", "M": "strftime('%Y-%m-01', day)", "Y": "strftime('%Y-01-01', day)"},
}


def _pg_fill(span, first):
    sums = ", ".join(f"SUM({c}) AS {c}" for c in COUNTERS)
    picked = ", ".join(f"c.{c}" for c in COUNTERS)
    return f"""INSERT INTO perf_span (level, unit_id, span, day, {", ".join(COUNTERS)}, response, resolution)
WITH c AS (SELECT level, unit_id, {first} AS day, {sums} FROM perf_daily GROUP BY 1, 2, 3),
h AS (SELECT level, unit_id, {first} AS day, metric, bucket::int AS bucket, SUM(n)::int AS n FROM perf_hist
      GROUP BY 1, 2, 3, 4, 5 HAVING SUM(n) <> 0),
g AS (SELECT h.*, bucket - coalesce(lag(bucket) OVER w, bucket - 1) - 1 AS gap FROM h
      WINDOW w AS (PARTITION BY level, unit_id, day, metric ORDER BY bucket)),
b AS (SELECT level, unit_id, day, metric, int4send(min(bucket))
             || string_agg(decode(repeat('00', 4 * gap), 'hex') || int4send(n), ''::bytea
                           ORDER BY bucket) AS blob
      FROM g GROUP BY 1, 2, 3, 4)
SELECT c.level, c.unit_id, '{span}', c.day, {picked}, rb.blob, sb.blob FROM c
LEFT JOIN b rb ON rb.level = c.level AND rb.unit_id = c.unit_id AND rb.day = c.day AND rb.metric = 'R'
LEFT JOIN b sb ON sb.level = c.level AND sb.unit_id = c.unit_id AND sb.day = c.day AND sb.metric = 'S'"""


def _blob(counts):
    counts = {b: n for b, n in counts.items() if n}
    if not counts:
        return None
    lo, hi = min(counts), max(counts)
    return struct.pack(f">i{hi - lo + 1}i", lo, *(counts.get(b, 0) for b in range(lo, hi + 1)))


async def _sqlite_fill(client, span, first):
    """Small databases: the same rows, histograms built here."""
    sums = ", ".join(f"SUM({c}) AS {c}" for c in COUNTERS)
    rows = await client.execute_query_dict(
        f"SELECT level, unit_id, {first} AS d, {sums} FROM perf_daily GROUP BY level, unit_id, d"
    )
    hists = defaultdict(lambda: defaultdict(dict))
    for h in await client.execute_query_dict(
        f"SELECT level, unit_id, {first} AS d, metric, bucket, SUM(n) AS n FROM perf_hist"
        " GROUP BY level, unit_id, d, metric, bucket"
    ):
        hists[(h["level"], h["unit_id"], str(h["d"]))][h["metric"]][h["bucket"]] = h["n"]
    for r in rows:
        hist = hists.get((r["level"], r["unit_id"], str(r["d"])), {})
        await client.execute_query(
            f"INSERT INTO perf_span (level, unit_id, span, day, {', '.join(COUNTERS)}, response, resolution)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [r["level"], r["unit_id"], span, date.fromisoformat(str(r["d"])).isoformat(),
             *(r[c] for c in COUNTERS), _blob(hist.get("R", {})), _blob(hist.get("S", {}))],
        )


async def fill(apps, schema_editor) -> None:
    client = schema_editor.client
    postgres = client.capabilities.dialect == "postgres"
    if postgres:
        await client.execute_script(HIST_ADD)
    for span, first in _FIRST["postgres" if postgres else "sqlite"].items():
        if postgres:
            await client.execute_script(_pg_fill(span, first))
        else:
            await _sqlite_fill(client, span, first)


async def unfill(apps, schema_editor) -> None:
    """Dropping the table (the operation before) empties it."""


class Migration(migrations.Migration):
    dependencies = [('warga', '0006_phone')]

    initial = False

    operations = [
        ops.CreateModel(
            name='PerfSpan',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('level', fields.CharField(max_length=10)),
                ('unit_id', fields.IntField()),
                ('span', fields.CharField(max_length=1)),
                ('day', fields.DateField()),
                ('received', fields.IntField(default=0)),
                ('responded', fields.IntField(default=0)),
                ('resolved', fields.IntField(default=0)),
                ('sla_met', fields.IntField(default=0)),
                ('rating_sum', fields.IntField(default=0)),
                ('rating_count', fields.IntField(default=0)),
                ('response', fields.BinaryField(null=True)),
                ('resolution', fields.BinaryField(null=True)),
            ],
            options={'table': 'perf_span', 'app': 'warga', 'unique_together': (('level', 'unit_id', 'span', 'day'),), 'indexes': [Index(fields=['level', 'span', 'day'])], 'pk_attr': 'id', 'table_description': 'Counters and duration histograms per unit per day, month and year (domain.rollups.cover).'},
            bases=['Model'],
        ),
        ops.RunPython(fill, unfill),
        ops.DeleteModel(name='PerfMonthly'),
        ops.DeleteModel(name='PerfHistMonthly'),
    ]
