"""Three indexes on report (issue 16, measured on a year of 14.6M reports):
- (kelurahan_id, category_id, status, created_at): a kelurahan and a category together match
  about 3,000 reports a year, and without it PostgreSQL ANDed the kelurahan's bitmap with the
  category's (2.6M rows) or with a word's text-index bitmap (4.1M rows for a common word):
  0.4-1 s per page or count; the status inside, or it ANDs the status's bitmap (730,000
  REJECTED reports: 140 ms);
- (status, vote_count, id) and (status, updated_at, id): one status in MOST_VOTED or
  RECENTLY_UPDATED order (a moderator's queue by votes; REJECTED reports, which have no
  votes, lie at the very end of the vote_count index: 5 s walked).
Frozen here on purpose (no import of today's code)."""

from tortoise import migrations
from tortoise.indexes import Index
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("warga", "0009_status_span")]

    initial = False

    operations = [
        ops.AddIndex(
            model_name="Report", index=Index(fields=["kelurahan_id", "category_id", "status", "created_at"])
        ),
        ops.AddIndex(model_name="Report", index=Index(fields=["status", "vote_count", "id"])),
        ops.AddIndex(model_name="Report", index=Index(fields=["status", "updated_at", "id"])),
    ]
