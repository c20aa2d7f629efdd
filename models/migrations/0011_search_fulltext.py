"""Report search on PostgreSQL through a full-text index: one GIN index on the words of the
description and the address (`to_tsvector('simple', ...)`: every word as written, lowercased,
no stemming or stop words) instead of the two trigram indexes of 0002. On a year of 14.6M
reports a trigram lookup of a word with common trigrams ('KWITANG': TAN, ANG) read posting
lists millions long (58-72 ms for 25,000 matches, 107 ms for 'TERSUMBAT'); the word's own
posting list is its matches. No extension is needed. SQLite has neither and scans.
Frozen here on purpose (no import of today's code)."""

import importlib

from tortoise import migrations
from tortoise.migrations import operations as ops

VECTOR = "to_tsvector('simple', COALESCE(description, '') || ' ' || COALESCE(address, ''))"


async def forward(apps, schema_editor) -> None:
    client = schema_editor.client
    if client.capabilities.dialect != "postgres":
        return
    await client.execute_script(f"CREATE INDEX IF NOT EXISTS idx_report_words ON report USING gin ({VECTOR})")
    for column in ("description", "address"):
        await client.execute_script(f"DROP INDEX IF EXISTS idx_report_{column}_trgm")


async def backward(apps, schema_editor) -> None:
    """0002's trigram indexes back (by 0002's own forward, frozen like this file)."""
    await importlib.import_module("models.migrations.0002_search_trigram").forward(apps, schema_editor)
    if schema_editor.client.capabilities.dialect == "postgres":
        await schema_editor.client.execute_script("DROP INDEX IF EXISTS idx_report_words")


class Migration(migrations.Migration):
    dependencies = [("warga", "0010_report_indexes")]

    operations = [ops.RunPython(forward, backward)]
