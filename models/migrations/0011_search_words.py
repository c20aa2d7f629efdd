"""Report search on PostgreSQL through a full-text index instead of the two trigram indexes of
0002 (issue 16, measured on a year of 14.6M reports): a trigram lookup of a word with common
trigrams ('KWITANG': TAN, ANG) read posting lists millions long (58-72 ms for 25,000 matches,
107 ms for 'TERSUMBAT'); a word's own posting list is its matches.

`words` is a stored column, not an index expression, so that checking a row against a word
costs no parsing: the search's sample of the table's pages, its windows along an order's
index and its counts test thousands of rows (an expression index made the 7,000-row sample
cost 55 ms instead of 5-12). The text is cut at every ASCII character that is not a letter or
a digit before PostgreSQL's parser sees it: left whole, 'Jl.Kwitang' parses as a host name,
one lexeme, and 'kwitang' would not find it. domain/report.py cuts a search word the same way.

Adding a stored column rewrites the table under an exclusive lock: minutes for a year of
reports (the README says so). SQLite has neither index nor column and scans.
Frozen here on purpose (no import of today's code)."""

import importlib

from tortoise import migrations
from tortoise.migrations import operations as ops

SEPARATORS = r"[\x01-\x2f\x3a-\x40\x5b-\x60\x7b-\x7f[:space:]]+"
WORDS = (
    "to_tsvector('simple'::regconfig, regexp_replace("
    f"COALESCE(description, '') || ' ' || COALESCE(address, ''), '{SEPARATORS}', ' ', 'g'))"
)


async def forward(apps, schema_editor) -> None:
    client = schema_editor.client
    if client.capabilities.dialect != "postgres":
        return
    await client.execute_script(
        f"ALTER TABLE report ADD COLUMN IF NOT EXISTS words tsvector GENERATED ALWAYS AS ({WORDS}) STORED"
    )
    await client.execute_script("CREATE INDEX IF NOT EXISTS idx_report_words ON report USING gin (words)")
    for column in ("description", "address"):
        await client.execute_script(f"DROP INDEX IF EXISTS idx_report_{column}_trgm")


async def backward(apps, schema_editor) -> None:
    """0002's trigram indexes back (by 0002's own forward, frozen like this file)."""
    await importlib.import_module("models.migrations.0002_search_trigram").forward(apps, schema_editor)
    if schema_editor.client.capabilities.dialect == "postgres":
        await schema_editor.client.execute_script("ALTER TABLE report DROP COLUMN IF EXISTS words")


class Migration(migrations.Migration):
    dependencies = [("warga", "0010_report_indexes")]

    operations = [ops.RunPython(forward, backward)]
