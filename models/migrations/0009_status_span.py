"""status_span: reports by current status (one counter per status) per kelurahan, kecamatan and
kota, category and agency, over a Jakarta day, month and year of creation, so that an exact
`totalCount` (and `stats`) of any period reads a few rows per unit (issue 16). Filled from
status_daily, which has no agency: a report's agency is taken as its category's, which is
what createReport and a category correction set (a category moved to another dinas after
reports were filed would need `warga rebuild-rollups`, which recounts from the reports).
Frozen here on purpose (no import of today's code)."""

from tortoise import fields, migrations
from tortoise.migrations import operations as ops

STATUSES = ("SUBMITTED", "VERIFIED", "REJECTED", "DUPLICATE", "IN_PROGRESS", "RESOLVED", "CLOSED", "REOPENED")
COUNTERS = tuple(s.lower() for s in STATUSES)
LEVELS = (("KELURAHAN", "kelurahan_id"), ("KECAMATAN", "kecamatan_id"), ("KOTA", "kota_id"))
_FIRST = {
    "postgres": {"D": "day", "M": "CAST(date_trunc('month', day) AS DATE)", "Y": "CAST(date_trunc('year', day) AS DATE)"},
    "sqlite": {"D": "day", "M": "strftime('%Y-%m-01', day)", "Y": "strftime('%Y-01-01', day)"},
}


def fill_sql(dialect: str) -> str:
    """One statement: status_daily pivoted once (a column per status), then summed per level
    and span."""
    postgres = dialect == "postgres"
    first = _FIRST["postgres" if postgres else "sqlite"]
    pivot = ", ".join(
        f"SUM(CASE WHEN s.status = '{status}' THEN s.n ELSE 0 END) AS {column}"
        for status, column in zip(STATUSES, COUNTERS)
    )
    sums = ", ".join(f"SUM({c})" for c in COUNTERS)
    parts = [
        f"SELECT '{level}', {column}, '{span}', {day}, category_id, agency_id, {sums} FROM t"
        f" GROUP BY {column}, {day}, category_id, agency_id"
        for level, column in LEVELS
        for span, day in first.items()
    ]
    return (
        f"INSERT INTO status_span (level, unit_id, span, day, category_id, agency_id, {', '.join(COUNTERS)})"
        f" WITH t AS {'MATERIALIZED ' if postgres else ''}(SELECT s.day, s.kelurahan_id, s.kecamatan_id,"
        f" s.kota_id, s.category_id, COALESCE(c.agency_id, 0) AS agency_id, {pivot} FROM status_daily s"
        " LEFT JOIN category c ON c.id = s.category_id GROUP BY 1, 2, 3, 4, 5, 6 HAVING SUM(s.n) <> 0) "
        + " UNION ALL ".join(parts)
    )


async def fill(apps, schema_editor) -> None:
    client = schema_editor.client
    await client.execute_script(fill_sql(client.capabilities.dialect))


async def unfill(apps, schema_editor) -> None:
    """Dropping the table (the operation before) empties it."""


class Migration(migrations.Migration):
    dependencies = [("warga", "0008_drop_reports_count")]

    initial = False

    operations = [
        ops.CreateModel(
            name="StatusSpan",
            fields=[
                ("id", fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ("level", fields.CharField(max_length=10)),
                ("unit_id", fields.IntField()),
                ("span", fields.CharField(max_length=1)),
                ("day", fields.DateField()),
                ("category_id", fields.IntField()),
                ("agency_id", fields.IntField()),
                *((column, fields.IntField(default=0)) for column in COUNTERS),
            ],
            options={
                "table": "status_span",
                "app": "warga",
                "unique_together": (("level", "unit_id", "span", "day", "category_id", "agency_id"),),
                "pk_attr": "id",
                "table_description": "Reports by current status per unit, category and agency per day, month and year.",
            },
            bases=["Model"],
        ),
        ops.RunPython(fill, unfill),
    ]
