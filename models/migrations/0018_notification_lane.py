"""The outbox's lanes: a notification to the author of an anonymous report about that report
goes in a lane of its own (`report:<id>`), every other in the user's common lane (''). The
sender keeps order, backoff and batching per lane, so nothing in how the author's own named
notifications are delivered (a batch window, a retry) shapes theirs about the anonymous report,
nor the other way round: a push held back for a user who had just got one told an officer,
who could push to any suspect, which of them wrote an anonymous report. Frozen here on purpose
(no import of today's code)."""

from tortoise import fields, migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("warga", "0017_lat_cells")]

    operations = [
        ops.AddField(
            model_name="Notification", name="lane", field=fields.CharField(max_length=24, default="")
        ),
    ]
