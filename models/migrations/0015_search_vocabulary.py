"""The vocabulary of report search (issue 16, measured on a year of 14.6M reports): every
lexeme of report.words (0011), kept by triggers in the transaction that writes the report.

A search part of three letters or more matches the beginning of a lexeme (`'gorong':*`). The
full-text index answers such a prefix by collecting the posting lists of every lexeme under
it into a bitmap before the scan reads it, 50-57 ms for 'gorong' (97,504 reports), where the
posting list of the whole lexeme is streamed and skipped through, 19.6 ms. With this table a
search first looks up the lexemes under each prefix (a range of its primary key, byte order)
and asks the index for those exact lexemes. The table may hold lexemes no report has any
longer (a report's text changed): they match nothing, so a superset is enough; it must never
miss one, hence triggers, not a job.

Inserts: one statement-level trigger per INSERT or COPY, over its new rows (a transition
table); updates: a row trigger only when the stored words changed. New lexemes are inserted in
byte order so that two transactions adding the same new lexemes wait for each other instead
of deadlocking. PostgreSQL only (SQLite has no full-text column and scans). Frozen here on
purpose (no import of today's code)."""

from tortoise import migrations
from tortoise.migrations import operations as ops

FORWARD = """
CREATE TABLE IF NOT EXISTS search_word (word text COLLATE "C" PRIMARY KEY);

CREATE OR REPLACE FUNCTION search_word_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO search_word (word)
    SELECT DISTINCT w FROM inserted, unnest(tsvector_to_array(inserted.words)) AS w
    ORDER BY 1
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION search_word_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO search_word (word)
    SELECT w FROM unnest(tsvector_to_array(NEW.words)) AS w
    ORDER BY 1
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END $$;

DROP TRIGGER IF EXISTS report_words_inserted ON report;
CREATE TRIGGER report_words_inserted AFTER INSERT ON report
    REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT EXECUTE FUNCTION search_word_inserted();

DROP TRIGGER IF EXISTS report_words_updated ON report;
CREATE TRIGGER report_words_updated AFTER UPDATE ON report
    FOR EACH ROW WHEN (OLD.words IS DISTINCT FROM NEW.words) EXECUTE FUNCTION search_word_updated();
"""

# After the triggers: a report written meanwhile is in the vocabulary either way.
BACKFILL = """
INSERT INTO search_word (word)
SELECT word FROM ts_stat('SELECT words FROM report') ORDER BY 1
ON CONFLICT DO NOTHING
"""

BACKWARD = """
DROP TRIGGER IF EXISTS report_words_inserted ON report;
DROP TRIGGER IF EXISTS report_words_updated ON report;
DROP FUNCTION IF EXISTS search_word_inserted();
DROP FUNCTION IF EXISTS search_word_updated();
DROP TABLE IF EXISTS search_word;
"""


async def forward(apps, schema_editor) -> None:
    client = schema_editor.client
    if client.capabilities.dialect == "postgres":
        await client.execute_script(FORWARD)
        await client.execute_script(BACKFILL)


async def backward(apps, schema_editor) -> None:
    client = schema_editor.client
    if client.capabilities.dialect == "postgres":
        await client.execute_script(BACKWARD)


class Migration(migrations.Migration):
    dependencies = [("warga", "0014_creation_span_updated")]

    operations = [ops.RunPython(forward, backward)]
