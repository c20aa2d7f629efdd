"""The (lat, lng) index of report also carries the id and the orders' keys (issue 16, measured
on a year of 14.6M reports). A circle or a box matches few enough rows that a page sorts every
match (domain/pagination.py); it read each match's heap page for its creation time (a 300 m
circle: 8,562 pages, 532-600 ms after a restart, 28 ms cached). With the keys in the index the
matches are ids and keys from the index alone, and the table gives only the page's rows. Same
name and key columns as before; the visibility's columns (status, author_id) stay INCLUDEd.
SQLite has no INCLUDE and keeps its index. Frozen here on purpose (no import of today's code)."""

import importlib

from tortoise import migrations
from tortoise.migrations import operations as ops

BEFORE = {"lat, lng": "status, author_id"}
AFTER = {"lat, lng": "status, author_id, id, created_at, vote_count, updated_at"}


def _covering():
    """0013's rebuild (frozen like this file)."""
    return importlib.import_module("models.migrations.0013_author_assignee_covering")


async def forward(apps, schema_editor) -> None:
    await _covering().rebuild(schema_editor.client, True, AFTER)


async def backward(apps, schema_editor) -> None:
    await _covering().rebuild(schema_editor.client, True, BEFORE)


class Migration(migrations.Migration):
    dependencies = [("warga", "0016_order_walk_covering")]

    operations = [ops.RunPython(forward, backward)]
