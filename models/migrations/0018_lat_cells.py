"""On PostgreSQL, report's (lat, lng) index becomes ((floor(lat * 100)), lng): latitude cells of
1.1 km first (issue 16, measured on a year of 14.6M reports). Keyed by (lat, lng), a box or a
circle read every entry of its latitude band across the whole city and tested the longitude
there (a 300 m circle: 4,176 index pages for 8,623 candidates, 12-14 ms cached); keyed by the
cell, it reads each cell's longitude range. It carries what 0017's did and the latitude
(domain/report.py box_condition asks for the cells). SQLite keeps its (lat, lng) index: its
tables are small. The dropped index's name is the one 0001 gave it (Tortoise's name for
report (lat, lng)), which backward restores with 0017's columns. Frozen here on purpose (no
import of today's code)."""

from tortoise import migrations
from tortoise.migrations import operations as ops

CELL_INDEX = "idx_report_lat_cell"
CELL = (
    f"CREATE INDEX {CELL_INDEX} ON report ((floor(lat * 100)), lng)"
    " INCLUDE (lat, status, author_id, id, created_at, vote_count, updated_at)"
)
LAT_LNG = (
    "CREATE INDEX {name} ON report (lat, lng)"
    " INCLUDE (status, author_id, id, created_at, vote_count, updated_at)"
)
NAME_0001 = "idx_report_lat_c17505"


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
    await client.execute_script(LAT_LNG.format(name=NAME_0001))


class Migration(migrations.Migration):
    dependencies = [("warga", "0017_circle_keys")]

    operations = [ops.RunPython(forward, backward)]
