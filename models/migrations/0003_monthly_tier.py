"""The monthly tier of the performance rollups (perf_monthly, perf_hist_monthly), filled from
the daily tables so existing databases rank long periods from it at once."""

from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields
from tortoise.indexes import Index



# Frozen copy of what domain.rollups.monthly_fill() produced when this migration was written:
# a migration is history, so today's code must not change what it does.
_FIRST_DAY = {
    "postgres": "CAST(date_trunc('month', day) AS DATE)",
    "sqlite": "strftime('%Y-%m-01', day)",
}
_FILL = [
    "DELETE FROM perf_monthly",
    "INSERT INTO perf_monthly (day, level, unit_id, received, responded, resolved, sla_met, rating_sum,"
    " rating_count) SELECT {first_day}, level, unit_id, SUM(received), SUM(responded), SUM(resolved),"
    " SUM(sla_met), SUM(rating_sum), SUM(rating_count) FROM perf_daily GROUP BY {first_day}, level, unit_id",
    "DELETE FROM perf_hist_monthly",
    "INSERT INTO perf_hist_monthly (day, level, unit_id, metric, bucket, n) SELECT {first_day}, level,"
    " unit_id, metric, bucket, SUM(n) FROM perf_hist GROUP BY {first_day}, level, unit_id, metric, bucket",
]


def fill_sql(dialect: str) -> list[str]:
    first_day = _FIRST_DAY["postgres" if dialect == "postgres" else "sqlite"]
    return [statement.format(first_day=first_day) for statement in _FILL]


async def fill(apps, schema_editor) -> None:
    client = schema_editor.client
    for statement in fill_sql(client.capabilities.dialect):
        await client.execute_script(statement)


async def unfill(apps, schema_editor) -> None:
    """Dropping the tables (the operations before) empties them."""


class Migration(migrations.Migration):
    dependencies = [('warga', '0002_search_trigram')]

    initial = False

    operations = [
        ops.CreateModel(
            name='PerfHistMonthly',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('day', fields.DateField()),
                ('level', fields.CharField(max_length=10)),
                ('unit_id', fields.IntField()),
                ('metric', fields.CharField(max_length=1)),
                ('bucket', fields.SmallIntField()),
                ('n', fields.IntField(default=0)),
            ],
            options={'table': 'perf_hist_monthly', 'app': 'warga', 'unique_together': (('level', 'unit_id', 'metric', 'day', 'bucket'),), 'indexes': [Index(fields=['level', 'day'])], 'pk_attr': 'id', 'table_description': 'The monthly tier of perf_hist (day: the first day of the month).'},
            bases=['PerfHistogram'],
        ),
        ops.CreateModel(
            name='PerfMonthly',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('day', fields.DateField()),
                ('level', fields.CharField(max_length=10)),
                ('unit_id', fields.IntField()),
                ('received', fields.IntField(default=0)),
                ('responded', fields.IntField(default=0)),
                ('resolved', fields.IntField(default=0)),
                ('sla_met', fields.IntField(default=0)),
                ('rating_sum', fields.IntField(default=0)),
                ('rating_count', fields.IntField(default=0)),
            ],
            options={'table': 'perf_monthly', 'app': 'warga', 'unique_together': (('level', 'unit_id', 'day'),), 'indexes': [Index(fields=['level', 'day'])], 'pk_attr': 'id', 'table_description': 'The monthly tier of perf_daily (day: the first day of the month), so long periods read few rows.'},
            bases=['PerfCounters'],
        ),
        ops.RunPython(fill, unfill),
    ]
