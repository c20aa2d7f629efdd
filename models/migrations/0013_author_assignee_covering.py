"""The (author_id, created_at) and (assignee_id, created_at) indexes of report carry the
columns their readers test (issue 16, measured on a year of 14.6M reports): the visibility's
status, and for an author filter seen by someone else the `anonymous` flag. A capped count of
a busy author's or assignee's reports then reads the index alone (PostgreSQL's index-only
scan) instead of a heap page per report: a signed-in citizen's own reports (their REJECTED
ones counted as rows) 137-284 -> 5-41 ms, the busiest author's 276-530 -> 13-86 ms.
Same names and key columns as before (what Tortoise's migration state knows); only the
INCLUDEd columns are new. SQLite has no INCLUDE and keeps its indexes.
Frozen here on purpose (no import of today's code)."""

from tortoise import migrations
from tortoise.migrations import operations as ops

COVERED = {"author_id, created_at": "status, anonymous", "assignee_id, created_at": "status"}


async def rebuild(client, covering: bool, covered: dict[str, str] = COVERED) -> None:
    """Each index of report on a key of `covered` dropped and created again under its name,
    with the INCLUDEd columns (or without them)."""
    if client.capabilities.dialect != "postgres":
        return
    for key, include in covered.items():
        rows = await client.execute_query_dict(
            "SELECT indexname FROM pg_indexes WHERE tablename = 'report'"
            f" AND indexdef LIKE '%btree ({key})%' ORDER BY indexname"
        )
        for row in rows[:1]:
            name = row["indexname"]
            extra = f" INCLUDE ({include})" if covering else ""
            await client.execute_script(f"DROP INDEX {name}")
            await client.execute_script(f"CREATE INDEX {name} ON report ({key}){extra}")


async def forward(apps, schema_editor) -> None:
    await rebuild(schema_editor.client, covering=True)


async def backward(apps, schema_editor) -> None:
    await rebuild(schema_editor.client, covering=False)


class Migration(migrations.Migration):
    dependencies = [("warga", "0012_kelurahan_orders")]

    operations = [ops.RunPython(forward, backward)]
