"""Indexes for the `search` filter (words in a report's description or address) on
PostgreSQL: trigram GIN indexes serve ILIKE '%word%'. SQLite has no such index and scans.
Where the role may not create the pg_trgm extension, the migration logs it and carries on
(search still works, unindexed)."""

import logging

from tortoise import migrations
from tortoise.migrations import operations as ops

log = logging.getLogger("warga.migrations")


async def forward(apps, schema_editor) -> None:
    client = schema_editor.client
    if client.capabilities.dialect != "postgres":
        return
    await client.execute_script("SAVEPOINT warga_trgm")
    try:
        await client.execute_script("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    except Exception as exc:  # no privilege, or contrib not installed
        await client.execute_script("ROLLBACK TO SAVEPOINT warga_trgm")
        log.warning("pg_trgm unavailable (%s): report search stays unindexed", exc)
        return
    for column in ("description", "address"):
        await client.execute_script(
            # The expression Tortoise generates for `icontains`: UPPER(CAST(col AS VARCHAR)) LIKE ...
            f"CREATE INDEX IF NOT EXISTS idx_report_{column}_trgm ON report"
            f" USING gin ((UPPER(CAST({column} AS VARCHAR))) gin_trgm_ops)"
        )


async def backward(apps, schema_editor) -> None:
    client = schema_editor.client
    if client.capabilities.dialect == "postgres":
        for column in ("description", "address"):
            await client.execute_script(f"DROP INDEX IF EXISTS idx_report_{column}_trgm")


class Migration(migrations.Migration):
    dependencies = [("warga", "0001_initial")]

    operations = [ops.RunPython(forward, backward)]
