"""On PostgreSQL, report's (lat, lng) index becomes ((floor(lat * 100)), lng): latitude cells of
1.1 km first, carrying the id and the orders' keys (issue 16, measured on a year of 14.6M
reports). A box or a circle matches few enough rows that a page sorts every match
(domain/pagination.py); it read each match's heap page for its order's key (a 300 m circle:
8,562 pages, 532-921 ms after a restart), and keyed by (lat, lng) it read every index entry of
its latitude band across the whole city, testing the longitude there (4,176 index pages,
12-14 ms cached). Now the matches are ids and keys from each cell's longitude range, and the
table gives only the page's rows. domain/report.py box_condition names the cells. SQLite keeps
its (lat, lng) index: its tables are small. Backward restores the (lat, lng) index as 0016 left
it, under the name 0001 gave it (Tortoise's name for report (lat, lng), which the models still
declare). Frozen here on purpose (no import of today's code)."""

from tortoise import migrations
from tortoise.migrations import operations as ops

CELL_INDEX = "idx_report_lat_cell"
CELL = (
    f"CREATE INDEX {CELL_INDEX} ON report ((floor(lat * 100)), lng)"
    " INCLUDE (lat, status, author_id, id, created_at, vote_count, updated_at)"
)
NAME_0001 = "idx_report_lat_c17505"
LAT_LNG = f"CREATE INDEX {NAME_0001} ON report (lat, lng) INCLUDE (status, author_id)"


async def forward(apps, schema_editor) -> None:
    client = schema_editor.client
    if client.capabilities.dialect != "postgres":
        return
    rows = await client.execute_query_dict(
        "SELECT indexname FROM pg_indexes WHERE tablename = 'report' AND indexdef LIKE '%btree (lat, lng)%'"
    )
    for row in rows:
        await client.execute_script(f"DROP INDEX {row['indexname']}")
    await client.execute_script(CELL)


async def backward(apps, schema_editor) -> None:
    client = schema_editor.client
    if client.capabilities.dialect != "postgres":
        return
    await client.execute_script(f"DROP INDEX IF EXISTS {CELL_INDEX}")
    await client.execute_script(LAT_LNG)


class Migration(migrations.Migration):
    dependencies = [("warga", "0016_order_walk_covering")]

    operations = [ops.RunPython(forward, backward)]
