"""`app_user.reports_count` goes: since issue 11 a user's report count is computed per viewer
from `report` (an anonymous report may not be counted for everyone), so the stored counter
was written on every createReport and never read. Frozen here on purpose (no import of
today's code): one column dropped, the same statement on SQLite (3.35+) and PostgreSQL."""

from tortoise import migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("warga", "0007_perf_span")]

    initial = False

    operations = [ops.RemoveField(model_name="User", name="reports_count")]
