"""An index of report by creation span and last update (issue 16, measured on a year of
14.6M reports): ((days since 2000-01-01 UTC) / 30, updated_at, id). Reports created before a
date, by last update (RECENTLY_UPDATED with `createdBefore`), walked the whole updated_at
index to find old reports among the newest updates: 2.6M of 14.6M matched for a date 300 days
back, none among the 11.6M updated since, and every such page ran into the 2 s budget. With
this index each 30-day span of the period is read from its latest update, the spans merged
(PostgreSQL's Merge Append): the page reads about as many rows as it shows. A monthly
partition's own updated_at index would do the same; this needs no change of the table.
PostgreSQL only (SQLite pages read their few rows whole). Frozen here on purpose (no import of
today's code): the expression is the one domain/report.py's SPAN_SQL asks for."""

from tortoise import migrations
from tortoise.migrations import operations as ops

NAME = "idx_report_span_updated"
SPAN = "(date_part('day', created_at - TIMESTAMPTZ '2000-01-01 00:00:00+00')::int / 30)"


async def forward(apps, schema_editor) -> None:
    client = schema_editor.client
    if client.capabilities.dialect == "postgres":
        await client.execute_script(f"CREATE INDEX IF NOT EXISTS {NAME} ON report (({SPAN}), updated_at, id)")


async def backward(apps, schema_editor) -> None:
    client = schema_editor.client
    if client.capabilities.dialect == "postgres":
        await client.execute_script(f"DROP INDEX IF EXISTS {NAME}")


class Migration(migrations.Migration):
    dependencies = [("warga", "0013_author_assignee_covering")]

    operations = [ops.RunPython(forward, backward)]
