"""Tortoise models: the tables of Warga. Business rules live in domain/, not here."""

from __future__ import annotations

from tortoise import fields
from tortoise.indexes import Index
from tortoise.models import Model

from models.enums import EventKind, RegionLevel, ReportStatus, Role

__all__ = [
    "Agency",
    "ApiKey",
    "AreaAlert",
    "Category",
    "Comment",
    "Event",
    "Follow",
    "HeatDaily",
    "KeyValue",
    "Media",
    "Notification",
    "NotifySettings",
    "PerfDaily",
    "PerfHist",
    "PushSubscription",
    "Region",
    "Report",
    "ResolvedDaily",
    "StatusChange",
    "StatusDaily",
    "StatusSpan",
    "User",
    "Vote",
]


class KeyValue(Model):
    """Small facts about the installation, e.g. which region set is loaded."""

    key = fields.CharField(max_length=64, primary_key=True)
    value = fields.TextField()

    class Meta:
        table = "key_value"


class Region(Model):
    id = fields.IntField(primary_key=True)
    code = fields.CharField(max_length=24, unique=True)
    name = fields.CharField(max_length=120)
    level = fields.CharEnumField(RegionLevel, max_length=12, db_index=True)
    parent: fields.ForeignKeyNullableRelation[Region] = fields.ForeignKeyField(
        "warga.Region", related_name="children", null=True, on_delete=fields.RESTRICT
    )
    lat = fields.FloatField()
    lng = fields.FloatField()
    boundary = fields.JSONField(null=True)

    class Meta:
        table = "region"


class Agency(Model):
    id = fields.IntField(primary_key=True)
    code = fields.CharField(max_length=32, unique=True)
    name = fields.CharField(max_length=160)

    class Meta:
        table = "agency"


class Category(Model):
    id = fields.IntField(primary_key=True)
    code = fields.CharField(max_length=40, unique=True)
    name = fields.CharField(max_length=120)
    name_en = fields.CharField(max_length=120, default="")
    agency: fields.ForeignKeyNullableRelation[Agency] = fields.ForeignKeyField(
        "warga.Agency", related_name="categories", null=True, on_delete=fields.RESTRICT
    )
    sla_hours = fields.IntField()
    share_pct = fields.FloatField(default=0)

    class Meta:
        table = "category"


class User(Model):
    id = fields.IntField(primary_key=True)
    handle = fields.CharField(max_length=30, unique=True)
    display_name = fields.CharField(max_length=80)
    email = fields.CharField(max_length=254, unique=True, null=True)
    phone = fields.CharField(max_length=32, unique=True, null=True)
    password_hash = fields.CharField(max_length=200)
    role = fields.CharEnumField(Role, max_length=16, default=Role.CITIZEN, db_index=True)
    region: fields.ForeignKeyNullableRelation[Region] = fields.ForeignKeyField(
        "warga.Region", related_name=False, null=True, on_delete=fields.RESTRICT
    )
    agency: fields.ForeignKeyNullableRelation[Agency] = fields.ForeignKeyField(
        "warga.Agency", related_name=False, null=True, on_delete=fields.RESTRICT
    )
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "app_user"


class Report(Model):
    id = fields.IntField(primary_key=True)
    client_request_id = fields.CharField(max_length=64)
    author: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "warga.User", related_name=False, on_delete=fields.RESTRICT
    )
    anonymous = fields.BooleanField(default=False)
    category: fields.ForeignKeyRelation[Category] = fields.ForeignKeyField(
        "warga.Category", related_name=False, on_delete=fields.RESTRICT
    )
    agency: fields.ForeignKeyNullableRelation[Agency] = fields.ForeignKeyField(
        "warga.Agency", related_name=False, null=True, on_delete=fields.RESTRICT
    )
    # The kelurahan and, denormalised because a report never moves, its kecamatan and kota:
    # region filters and rollups at every level are then one indexed equality.
    kelurahan: fields.ForeignKeyRelation[Region] = fields.ForeignKeyField(
        "warga.Region", related_name=False, on_delete=fields.RESTRICT
    )
    kecamatan: fields.ForeignKeyRelation[Region] = fields.ForeignKeyField(
        "warga.Region", related_name=False, on_delete=fields.RESTRICT
    )
    kota: fields.ForeignKeyRelation[Region] = fields.ForeignKeyField(
        "warga.Region", related_name=False, on_delete=fields.RESTRICT
    )
    status = fields.CharEnumField(ReportStatus, max_length=12, default=ReportStatus.SUBMITTED)
    lat = fields.FloatField()
    lng = fields.FloatField()
    address = fields.CharField(max_length=300, null=True)
    description = fields.TextField()
    assignee: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "warga.User", related_name=False, null=True, on_delete=fields.RESTRICT
    )
    duplicate_of: fields.ForeignKeyNullableRelation[Report] = fields.ForeignKeyField(
        "warga.Report", related_name=False, null=True, on_delete=fields.RESTRICT
    )
    created_at = fields.DatetimeField()
    updated_at = fields.DatetimeField()
    verified_at = fields.DatetimeField(null=True)
    first_response_at = fields.DatetimeField(null=True)
    resolved_at = fields.DatetimeField(null=True)
    closed_at = fields.DatetimeField(null=True)
    due_at = fields.DatetimeField(null=True)
    rating = fields.SmallIntField(null=True)
    vote_count = fields.IntField(default=0)
    comment_count = fields.IntField(default=0)

    class Meta:
        table = "report"
        unique_together = (("author_id", "client_request_id"),)
        indexes = (
            Index(fields=("created_at", "id")),
            Index(fields=("updated_at", "id")),
            Index(fields=("vote_count", "id")),
            Index(fields=("status", "created_at")),
            Index(fields=("status", "vote_count", "id")),
            Index(fields=("status", "updated_at", "id")),
            Index(fields=("kelurahan_id", "created_at")),
            Index(fields=("kelurahan_id", "vote_count", "id")),
            Index(fields=("kelurahan_id", "updated_at", "id")),
            Index(fields=("kelurahan_id", "category_id", "status", "created_at")),
            Index(fields=("kecamatan_id", "created_at")),
            Index(fields=("kota_id", "created_at")),
            Index(fields=("agency_id", "created_at")),
            Index(fields=("category_id", "created_at")),
            Index(fields=("assignee_id", "created_at")),
            Index(fields=("author_id", "created_at")),
            Index(fields=("due_at",)),
            Index(fields=("lat", "lng")),
        )


class Comment(Model):
    id = fields.IntField(primary_key=True)
    report: fields.ForeignKeyRelation[Report] = fields.ForeignKeyField(
        "warga.Report", related_name=False, on_delete=fields.CASCADE
    )
    author: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "warga.User", related_name=False, on_delete=fields.RESTRICT
    )
    body = fields.TextField()
    is_official = fields.BooleanField(default=False)
    created_at = fields.DatetimeField()
    # Soft delete: the event log and the timeline keep pointing at real rows.
    deleted_at = fields.DatetimeField(null=True)

    class Meta:
        table = "comment"
        indexes = (Index(fields=("report_id", "id")),)


class Vote(Model):
    id = fields.IntField(primary_key=True)
    report: fields.ForeignKeyRelation[Report] = fields.ForeignKeyField(
        "warga.Report", related_name=False, on_delete=fields.CASCADE
    )
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "warga.User", related_name=False, on_delete=fields.CASCADE
    )
    created_at = fields.DatetimeField()

    class Meta:
        table = "vote"
        unique_together = (("report_id", "user_id"),)
        indexes = (Index(fields=("user_id", "report_id")),)


class StatusChange(Model):
    id = fields.IntField(primary_key=True)
    report: fields.ForeignKeyRelation[Report] = fields.ForeignKeyField(
        "warga.Report", related_name=False, on_delete=fields.CASCADE
    )
    from_status = fields.CharEnumField(ReportStatus, max_length=12, null=True)
    to_status = fields.CharEnumField(ReportStatus, max_length=12)
    actor: fields.ForeignKeyNullableRelation[User] = fields.ForeignKeyField(
        "warga.User", related_name=False, null=True, on_delete=fields.RESTRICT
    )
    note = fields.TextField(null=True)
    created_at = fields.DatetimeField()

    class Meta:
        table = "status_change"
        indexes = (Index(fields=("report_id", "id")),)


class Media(Model):
    id = fields.IntField(primary_key=True)
    uploader: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "warga.User", related_name=False, on_delete=fields.RESTRICT
    )
    sha256 = fields.CharField(max_length=64, db_index=True)
    content_type = fields.CharField(max_length=32)
    width = fields.IntField()
    height = fields.IntField()
    path = fields.CharField(max_length=200)
    thumb_path = fields.CharField(max_length=200)
    created_at = fields.DatetimeField()
    report: fields.ForeignKeyNullableRelation[Report] = fields.ForeignKeyField(
        "warga.Report", related_name=False, null=True, on_delete=fields.CASCADE
    )
    status_change: fields.ForeignKeyNullableRelation[StatusChange] = fields.ForeignKeyField(
        "warga.StatusChange", related_name=False, null=True, on_delete=fields.CASCADE
    )

    class Meta:
        table = "media"
        indexes = (Index(fields=("report_id", "id")), Index(fields=("status_change_id", "id")))


class Event(Model):
    """The event log: one row per streamable change, written in the change's transaction.

    Readers order it by (tx, id). On PostgreSQL `tx` is the writing transaction's id and
    readers never pass the oldest Warga writer still in flight (subscriptions/log.py), so an
    event that commits late is never skipped; on SQLite writers are serialised, `tx` is 0 and
    id order is commit order.
    """

    id = fields.BigIntField(primary_key=True)
    tx = fields.BigIntField(default=0)
    kind = fields.CharEnumField(EventKind, max_length=16)
    report: fields.ForeignKeyNullableRelation[Report] = fields.ForeignKeyField(
        "warga.Report", related_name=False, on_delete=fields.CASCADE, null=True
    )  # null for USER_CHANGED
    status_change_id = fields.IntField(null=True)
    comment_id = fields.IntField(null=True)
    user_id = fields.IntField(null=True)  # USER_CHANGED: whose sight changed
    created_at = fields.DatetimeField()

    class Meta:
        table = "event"
        indexes = (Index(fields=("tx", "id")),)


# ---------------------------------------------------------------- rollups (domain/rollups.py)


class PerfCounters(Model):
    """Government performance counters per unit (day or month of report creation)."""

    id = fields.BigIntField(primary_key=True)
    day = fields.DateField()
    level = fields.CharField(max_length=10)
    unit_id = fields.IntField()
    received = fields.IntField(default=0)
    responded = fields.IntField(default=0)
    resolved = fields.IntField(default=0)
    sla_met = fields.IntField(default=0)
    rating_sum = fields.IntField(default=0)
    rating_count = fields.IntField(default=0)

    class Meta:
        abstract = True


class PerfDaily(PerfCounters):
    """Government performance counters per unit per Jakarta day of report creation."""

    class Meta:
        table = "perf_daily"
        unique_together = (("level", "unit_id", "day"),)
        indexes = (Index(fields=("level", "day")),)


class PerfHistogram(Model):
    """Duration histograms (log buckets, 4 percent wide) behind the median response and resolution
    times."""

    id = fields.BigIntField(primary_key=True)
    day = fields.DateField()
    level = fields.CharField(max_length=10)
    unit_id = fields.IntField()
    metric = fields.CharField(max_length=1)  # R: response, S: resolution
    bucket = fields.SmallIntField()
    n = fields.IntField(default=0)

    class Meta:
        abstract = True


class PerfHist(PerfHistogram):
    """Duration histograms (log buckets, 4 percent wide) behind the median response and resolution
    times."""

    class Meta:
        table = "perf_hist"
        unique_together = (("level", "unit_id", "metric", "day", "bucket"),)
        indexes = (Index(fields=("level", "day")),)


class PerfSpan(Model):
    """The counters and duration histograms of a unit over a Jakarta day, calendar month or
    calendar year (span D/M/Y, day: its first day), so that any period reads a few rows per unit
    (domain.rollups.cover). Histograms: the first bucket then the counts, big-endian int32."""

    id = fields.BigIntField(primary_key=True)
    level = fields.CharField(max_length=10)
    unit_id = fields.IntField()
    span = fields.CharField(max_length=1)
    day = fields.DateField()
    received = fields.IntField(default=0)
    responded = fields.IntField(default=0)
    resolved = fields.IntField(default=0)
    sla_met = fields.IntField(default=0)
    rating_sum = fields.IntField(default=0)
    rating_count = fields.IntField(default=0)
    response = fields.BinaryField(null=True)
    resolution = fields.BinaryField(null=True)

    class Meta:
        table = "perf_span"
        unique_together = (("level", "unit_id", "span", "day"),)
        indexes = (Index(fields=("level", "span", "day")),)


class StatusDaily(Model):
    """Reports by creation day, kelurahan, category and current status (for stats)."""

    id = fields.BigIntField(primary_key=True)
    day = fields.DateField()
    kelurahan_id = fields.IntField()
    kecamatan_id = fields.IntField()
    kota_id = fields.IntField()
    category_id = fields.IntField()
    status = fields.CharField(max_length=12)
    n = fields.IntField(default=0)

    class Meta:
        table = "status_daily"
        unique_together = (("day", "kelurahan_id", "category_id", "status"),)
        indexes = (Index(fields=("kota_id", "day")), Index(fields=("kecamatan_id", "day")))


class StatusSpan(Model):
    """Reports by current status (a counter each) per kelurahan, kecamatan or kota, category and
    agency (0: none) over a Jakarta day, calendar month or calendar year of creation (span
    D/M/Y, day: its first day): exact counts and stats of any period in a few rows per unit
    (domain.counts, domain.rollups.cover)."""

    id = fields.BigIntField(primary_key=True)
    level = fields.CharField(max_length=10)
    unit_id = fields.IntField()
    span = fields.CharField(max_length=1)
    day = fields.DateField()
    category_id = fields.IntField()
    agency_id = fields.IntField()
    submitted = fields.IntField(default=0)
    verified = fields.IntField(default=0)
    rejected = fields.IntField(default=0)
    duplicate = fields.IntField(default=0)
    in_progress = fields.IntField(default=0)
    resolved = fields.IntField(default=0)
    closed = fields.IntField(default=0)
    reopened = fields.IntField(default=0)

    class Meta:
        table = "status_span"
        unique_together = (("level", "unit_id", "span", "day", "category_id", "agency_id"),)


class ResolvedDaily(Model):
    """Reports by the Jakarta day of their current resolvedAt (for the daily resolved series)."""

    id = fields.BigIntField(primary_key=True)
    day = fields.DateField()
    kelurahan_id = fields.IntField()
    kecamatan_id = fields.IntField()
    kota_id = fields.IntField()
    category_id = fields.IntField()
    n = fields.IntField(default=0)

    class Meta:
        table = "resolved_daily"
        unique_together = (("day", "kelurahan_id", "category_id"),)
        indexes = (Index(fields=("kota_id", "day")), Index(fields=("kecamatan_id", "day")))


class HeatDaily(Model):
    """Visible reports per creation day, H3 cell (resolution 9) and category (for heatmaps)."""

    id = fields.BigIntField(primary_key=True)
    day = fields.DateField()
    cell = fields.CharField(max_length=16)
    category_id = fields.IntField()
    n = fields.IntField(default=0)

    class Meta:
        table = "heat_daily"
        unique_together = (("day", "cell", "category_id"),)


class ApiKey(Model):
    """Keys issued to partner apps (Open311 POST). Only a hash is kept, the key is shown once."""

    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=120)
    prefix = fields.CharField(max_length=12)
    key_hash = fields.CharField(max_length=64, unique=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "warga.User", related_name=False, on_delete=fields.RESTRICT
    )
    created_at = fields.DatetimeField()
    revoked_at = fields.DatetimeField(null=True)

    class Meta:
        table = "api_key"


# ---------------------------------------------------------------- notifications (domain/notifications*.py)


class NotifySettings(Model):
    """Notification choices and e-mail verification state of a user (no row: the defaults)."""

    user: fields.OneToOneRelation[User] = fields.OneToOneField(
        "warga.User", related_name=False, primary_key=True, on_delete=fields.CASCADE
    )
    push = fields.BooleanField(default=True)
    email = fields.BooleanField(default=True)
    follow_on_vote = fields.BooleanField(default=True)
    follow_on_comment = fields.BooleanField(default=True)
    language = fields.CharField(max_length=5, default="id")
    # The address that was verified: a changed address is unverified again.
    verified_email = fields.CharField(max_length=254, null=True)
    verify_nonce = fields.CharField(max_length=32, null=True)
    verify_window_start = fields.DatetimeField(null=True)
    verify_count = fields.IntField(default=0)
    last_push_at = fields.DatetimeField(null=True)

    class Meta:
        table = "notify_settings"


class PushSubscription(Model):
    """The Web Push subscription of a browser or device (what PushSubscription.toJSON() gives)."""

    id = fields.IntField(primary_key=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "warga.User", related_name=False, on_delete=fields.CASCADE
    )
    endpoint = fields.CharField(max_length=1024, unique=True)
    p256dh = fields.CharField(max_length=100)
    auth = fields.CharField(max_length=40)
    created_at = fields.DatetimeField()

    class Meta:
        table = "push_subscription"
        indexes = (Index(fields=("user_id", "id")),)


class Follow(Model):
    id = fields.IntField(primary_key=True)
    report: fields.ForeignKeyRelation[Report] = fields.ForeignKeyField(
        "warga.Report", related_name=False, on_delete=fields.CASCADE
    )
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "warga.User", related_name=False, on_delete=fields.CASCADE
    )
    created_at = fields.DatetimeField()

    class Meta:
        table = "follow"
        unique_together = (("report_id", "user_id"),)
        indexes = (Index(fields=("user_id", "report_id")),)


class AreaAlert(Model):
    """A region of any level or a circle, optionally only some categories (comma-separated ids)."""

    id = fields.IntField(primary_key=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "warga.User", related_name=False, on_delete=fields.CASCADE
    )
    region_id = fields.IntField(null=True)
    lat = fields.FloatField(null=True)
    lng = fields.FloatField(null=True)
    radius_m = fields.IntField(null=True)
    category_ids = fields.CharField(max_length=400, default="")
    created_at = fields.DatetimeField()

    class Meta:
        table = "area_alert"
        indexes = (Index(fields=("user_id", "id")),)


class Notification(Model):
    """The outbox: one row per change, recipient and channel, written in the transaction of the change
    and delivered after commit by the sender of any process (domain/notifications_sender.py).
    `source` names the change, so (source, user, channel) is unique: a notification is decided
    once however often the decision runs."""

    id = fields.BigIntField(primary_key=True)
    user: fields.ForeignKeyRelation[User] = fields.ForeignKeyField(
        "warga.User", related_name=False, on_delete=fields.CASCADE
    )
    report: fields.ForeignKeyNullableRelation[Report] = fields.ForeignKeyField(
        "warga.Report", related_name=False, null=True, on_delete=fields.CASCADE
    )
    channel = fields.CharField(max_length=8)  # push | email
    kind = fields.CharField(max_length=16)
    source = fields.CharField(max_length=40)
    payload = fields.TextField()
    state = fields.CharField(max_length=8, default="pending")  # pending | sent | failed
    attempts = fields.IntField(default=0)
    # When a pending row may next be tried: its creation, a retry's backoff, a claim's lease.
    due_at = fields.DatetimeField()
    created_at = fields.DatetimeField()
    sent_at = fields.DatetimeField(null=True)
    error = fields.TextField(null=True)
    done = fields.CharField(max_length=400, default="")  # push subscriptions that acknowledged it
    # Order, backoff and batching are kept per user, channel and lane: `report:<id>` for the
    # author of an anonymous report about it, '' for everything else (migration 0018).
    lane = fields.CharField(max_length=24, default="")

    class Meta:
        table = "notification"
        unique_together = (("source", "user_id", "channel"),)
        indexes = (Index(fields=("state", "due_at")), Index(fields=("user_id", "channel", "state", "id")))
