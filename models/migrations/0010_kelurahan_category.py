"""An index on report (kelurahan_id, category_id, created_at): a kelurahan and a category
together match about 3,000 reports a year out of 14.6M, and without it PostgreSQL ANDed the
kelurahan's bitmap with the category's (2.6M rows) or with a word's text-index bitmap
(4.1M rows for a common word): 0.4-1 s per page or count on a year (issue 16). Frozen here
on purpose (no import of today's code)."""

from tortoise import migrations
from tortoise.indexes import Index
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("warga", "0009_status_span")]

    initial = False

    operations = [
        ops.AddIndex(model_name="Report", index=Index(fields=["kelurahan_id", "category_id", "created_at"])),
    ]
