"""The (vote_count, id) and (updated_at, id) indexes of report carry every column a page's plain
filters test (issue 16, measured on a year of 14.6M reports). A filtered page by MOST_VOTED or
RECENTLY_UPDATED walks the order's index and keeps the rows that match (domain/pagination.py);
these orders are uncorrelated with the table, so each row walked was a heap page of its own: a
kelurahan and a category by MOST_VOTED, first 100, read 30,443 rows, 29,879 pages from disk
after a restart (2,274 ms; 44-56 ms cached). Testing the filters in the index and reading the
page's rows by id after (an index-only scan, then 101 rows): 592 pages, 62 ms cold, 6 ms cached.
The (lat, lng) index carries the visibility's columns (status; the viewer's own reports by
author_id), so a bbox's or a circle's capped count reads the index alone, not 10,000 heap pages.
Same names and key columns as before (what Tortoise's migration state knows); only the INCLUDEd
columns are new, the ones domain/report.py's WALK_COLUMNS names. SQLite has no INCLUDE and keeps
its indexes. Frozen here on purpose (no import of today's code)."""

import importlib

from tortoise import migrations
from tortoise.migrations import operations as ops

WALKED = (
    "status, category_id, kelurahan_id, kecamatan_id, kota_id, agency_id, author_id, anonymous,"
    " assignee_id, lat, lng, created_at, due_at"
)
COVERED = {"vote_count, id": WALKED, "updated_at, id": WALKED, "lat, lng": "status, author_id"}


def _covering():
    """0013's rebuild (frozen like this file): same names and keys, other INCLUDEd columns."""
    return importlib.import_module("models.migrations.0013_author_assignee_covering")


async def forward(apps, schema_editor) -> None:
    await _covering().rebuild(schema_editor.client, True, COVERED)


async def backward(apps, schema_editor) -> None:
    await _covering().rebuild(schema_editor.client, False, COVERED)


class Migration(migrations.Migration):
    dependencies = [("warga", "0015_search_vocabulary")]

    operations = [ops.RunPython(forward, backward)]
