"""On PostgreSQL, a text index of each report's words keyed by the two other orders a search
pages in: 'kwitang@u24323' for a report last updated in November 2026 (year * 12 + month,
UTC: RECENTLY_UPDATED), 'kwitang@v4' for one with 8 to 15 votes (0 for none, else the vote
count's bit length: MOST_VOTED). A search by either order must see every match to sort them,
and the full-text index (migration 0011) gives every match of the years kept: 'kwitang''s
first 100 by votes read 25,000 heap pages, 94-128 ms on a year and 128-160 ms on two (issue
16). By these keys the page reads the newest months, or the most voted buckets, until it is
full. domain/report.py KEYED builds the keys; SQLite has no such index (its tables are
small). Frozen here on purpose (no import of today's code)."""

from tortoise import migrations
from tortoise.migrations import operations as ops

INDEX = "idx_report_word_rank"
FUNCTION = (
    "CREATE OR REPLACE FUNCTION report_word_ranks(w tsvector, u timestamptz, v int) RETURNS text[]"
    " LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT array_agg(k) FROM unnest(tsvector_to_array(w)) AS l,"
    " LATERAL (VALUES (l || '@u' || (extract(year FROM timezone('UTC', u)) * 12"
    " + extract(month FROM timezone('UTC', u)))::int),"
    " (l || '@v' || CASE WHEN v > 0 THEN 33 - position('1' IN v::bit(32)::text) ELSE 0 END)) AS x(k) $$"
)
# IF NOT EXISTS: on a large table an operator may build it first without holding writes
# (CREATE INDEX CONCURRENTLY, after FUNCTION; README.md); built here it holds them meanwhile.
CREATE = f"CREATE INDEX IF NOT EXISTS {INDEX} ON report USING gin (report_word_ranks(words, updated_at, vote_count))"


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
    await client.execute_script("DROP FUNCTION IF EXISTS report_word_ranks(tsvector, timestamptz, int)")


class Migration(migrations.Migration):
    dependencies = [("warga", "0019_word_months")]

    operations = [ops.RunPython(forward, backward)]
