"""Events that are not about a report: a user's sight changed (role, region, agency), so
every process's hub can make that user's open websockets follow it at once."""

from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("warga", "0003_monthly_tier")]

    initial = False

    operations = [
        ops.AlterField(
            model_name="Event",
            name="report",
            field=fields.ForeignKeyField(
                "warga.Report", source_field="report_id", null=True, db_constraint=True, to_field="id",
                related_name=False, on_delete=OnDelete.CASCADE,
            ),
        ),
        ops.AddField(model_name="Event", name="user_id", field=fields.IntField(null=True)),
    ]
