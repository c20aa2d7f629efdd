"""Two more of report's indexes carry every column a page's plain filters test (issue 16,
measured on a year of 14.6M reports after a restart, when every page is read from disk):

* the creation span's (migration 0014): reports created before a date, by last update, first
  100, walked 4,425 rows of it to test the date and the status on the table, a heap page each
  (277-344 ms cold, 3 ms cached);
* a kelurahan's (kelurahan_id, created_at): a kelurahan and a category, NEWEST first 100, read
  4,570 heap pages to find the category's (104-246 ms cold, 10 ms cached); with `id` and the
  filters' columns beside its keys, the page's window is read from the index alone and only
  the page's rows from the table;
* a kelurahan's and category's (kelurahan_id, category_id, status, created_at): their every
  match, read when a window holds too few of them (by votes or by last update, whose
  kelurahan indexes hold the rows on pages of their own), now with the id and both orders'
  keys beside them: 5,515 heap pages from disk before for a first 100 by either order.

The span index is created under a new name first (IF NOT EXISTS: an operator may build it
CONCURRENTLY beforehand, README.md), then the old one dropped; the kelurahan's keeps its name
and key columns (what Tortoise's migration state knows), rebuilt as migration 0016 rebuilt the
order indexes. SQLite has no INCLUDE and keeps its indexes. Frozen here on purpose (no import
of today's code): the columns are those domain/report.py's WALK_COLUMNS names."""

import importlib

from tortoise import migrations
from tortoise.migrations import operations as ops

WALKED = (
    "status, category_id, kelurahan_id, kecamatan_id, kota_id, agency_id, author_id, anonymous,"
    " assignee_id, lat, lng, created_at, due_at"
)
SPAN = "(date_part('day', created_at - TIMESTAMPTZ '2000-01-01 00:00:00+00')::int / 30)"
OLD_SPAN, NEW_SPAN = "idx_report_span_updated", "idx_report_span_walk"
KELURAHAN = {
    "kelurahan_id, created_at": (
        "id, status, category_id, kecamatan_id, kota_id, agency_id, author_id, anonymous, assignee_id,"
        " lat, lng, due_at"
    ),
    "kelurahan_id, category_id, status, created_at": "id, vote_count, updated_at",
}


def _covering():
    """0013's rebuild (frozen like this file): same names and keys, other INCLUDEd columns."""
    return importlib.import_module("models.migrations.0013_author_assignee_covering")


async def forward(apps, schema_editor) -> None:
    client = schema_editor.client
    if client.capabilities.dialect != "postgres":
        return
    await client.execute_script(
        f"CREATE INDEX IF NOT EXISTS {NEW_SPAN} ON report (({SPAN}), updated_at, id) INCLUDE ({WALKED})"
    )
    await client.execute_script(f"DROP INDEX IF EXISTS {OLD_SPAN}")
    await _covering().rebuild(client, True, KELURAHAN)


async def backward(apps, schema_editor) -> None:
    client = schema_editor.client
    if client.capabilities.dialect != "postgres":
        return
    await client.execute_script(f"CREATE INDEX IF NOT EXISTS {OLD_SPAN} ON report (({SPAN}), updated_at, id)")
    await client.execute_script(f"DROP INDEX IF EXISTS {NEW_SPAN}")
    await _covering().rebuild(client, False, KELURAHAN)


class Migration(migrations.Migration):
    dependencies = [("warga", "0020_word_ranks")]
    operations = [ops.RunPython(forward, backward)]
