"""Two indexes on report (issue 16, measured on a year of 14.6M reports): a kelurahan's
reports by votes and by last update, (kelurahan_id, vote_count, id) and (kelurahan_id,
updated_at, id). A kelurahan holds about 1 in 267 of the city's reports, so a page of them in
MOST_VOTED or RECENTLY_UPDATED order read 100,000 rows of the whole city's order index to
find its 100 (random heap pages: 150-608 ms cold); with these, the page's first window reads
the kelurahan's own. Frozen here on purpose (no import of today's code)."""

from tortoise import migrations
from tortoise.indexes import Index
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("warga", "0011_search_words")]

    initial = False

    operations = [
        ops.AddIndex(model_name="Report", index=Index(fields=["kelurahan_id", "vote_count", "id"])),
        ops.AddIndex(model_name="Report", index=Index(fields=["kelurahan_id", "updated_at", "id"])),
    ]
