"""On PostgreSQL, a text index of each report's words by the month it was created in: the word
'kwitang' of a report of November 2026 is the key 'kwitang@24323' (year * 12 + month, UTC).
A search's newest matches and its capped count then read the posting lists of the months they
need, newest first, where the full-text index (migration 0011) gives every match of the years
kept: 'kwitang''s newest 500 of 25,322 on a year read 24,857 heap pages (65-140 ms), and its
posting list and heap pages grow with every year (issue 16, item 6). On half a year's rate,
'kwitang''s month was 944 keys read in 0.2 ms. domain/report.py month_condition builds the
keys; SQLite has no such index (its tables are small). Frozen here on purpose (no import of
today's code)."""

from tortoise import migrations
from tortoise.migrations import operations as ops

INDEX = "idx_report_word_month"
FUNCTION = (
    "CREATE OR REPLACE FUNCTION report_word_months(w tsvector, t timestamptz) RETURNS text[]"
    " LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT array_agg(l || '@' || ("
    "extract(year FROM timezone('UTC', t)) * 12 + extract(month FROM timezone('UTC', t)))::int)"
    " FROM unnest(tsvector_to_array(w)) AS l $$"
)
CREATE = f"CREATE INDEX {INDEX} ON report USING gin (report_word_months(words, created_at))"


async def forward(apps, schema_editor) -> None:
    client = schema_editor.client
    if client.capabilities.dialect != "postgres":
        return
    await client.execute_script(FUNCTION)
    await client.execute_script(CREATE)


async def backward(apps, schema_editor) -> None:
    client = schema_editor.client
    if client.capabilities.dialect != "postgres":
        return
    await client.execute_script(f"DROP INDEX IF EXISTS {INDEX}")
    await client.execute_script("DROP FUNCTION IF EXISTS report_word_months(tsvector, timestamptz)")


class Migration(migrations.Migration):
    dependencies = [("warga", "0018_notification_lane")]

    operations = [ops.RunPython(forward, backward)]
