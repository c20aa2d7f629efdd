"""Notifications (issue 15): settings, push subscriptions, follows, area alerts and the outbox.
Frozen: every field is spelled out here, nothing of today's code is imported."""

from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('warga', '0004_privacy')]

    initial = False

    operations = [
        ops.CreateModel(
            name='AreaAlert',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('user', fields.ForeignKeyField('warga.User', source_field='user_id', db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.CASCADE)),
                ('region_id', fields.IntField(null=True)),
                ('lat', fields.FloatField(null=True)),
                ('lng', fields.FloatField(null=True)),
                ('radius_m', fields.IntField(null=True)),
                ('category_ids', fields.CharField(default='', max_length=400)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'area_alert', 'app': 'warga', 'indexes': [Index(fields=['user_id', 'id'])], 'pk_attr': 'id', 'table_description': 'A region of any level or a circle, optionally only some categories (comma-separated ids).'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Follow',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('report', fields.ForeignKeyField('warga.Report', source_field='report_id', db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.CASCADE)),
                ('user', fields.ForeignKeyField('warga.User', source_field='user_id', db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.CASCADE)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'follow', 'app': 'warga', 'unique_together': (('report_id', 'user_id'),), 'indexes': [Index(fields=['user_id', 'report_id'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Notification',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('user', fields.ForeignKeyField('warga.User', source_field='user_id', db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.CASCADE)),
                ('report', fields.ForeignKeyField('warga.Report', source_field='report_id', null=True, db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.CASCADE)),
                ('channel', fields.CharField(max_length=8)),
                ('kind', fields.CharField(max_length=16)),
                ('source', fields.CharField(max_length=40)),
                ('payload', fields.TextField(unique=False)),
                ('state', fields.CharField(default='pending', max_length=8)),
                ('attempts', fields.IntField(default=0)),
                ('due_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('sent_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('error', fields.TextField(null=True, unique=False)),
                ('done', fields.CharField(default='', max_length=400)),
            ],
            options={'table': 'notification', 'app': 'warga', 'unique_together': (('source', 'user_id', 'channel'),), 'indexes': [Index(fields=['state', 'due_at']), Index(fields=['user_id', 'channel', 'state', 'id'])], 'pk_attr': 'id', 'table_description': 'The outbox: one row per change, recipient and channel, written in the transaction of the change'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='NotifySettings',
            fields=[
                ('user', fields.OneToOneField('warga.User', source_field='user_id', primary_key=True, db_index=True, db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.CASCADE)),
                ('push', fields.BooleanField(default=True)),
                ('email', fields.BooleanField(default=True)),
                ('follow_on_vote', fields.BooleanField(default=True)),
                ('follow_on_comment', fields.BooleanField(default=True)),
                ('language', fields.CharField(default='id', max_length=5)),
                ('verified_email', fields.CharField(null=True, max_length=254)),
                ('verify_nonce', fields.CharField(null=True, max_length=32)),
                ('verify_window_start', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('verify_count', fields.IntField(default=0)),
                ('last_push_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'notify_settings', 'app': 'warga', 'pk_attr': 'user_id', 'table_description': "Notification choices and e-mail verification state of a user (no row: the defaults)."},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='PushSubscription',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('user', fields.ForeignKeyField('warga.User', source_field='user_id', db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.CASCADE)),
                ('endpoint', fields.CharField(unique=True, max_length=1024)),
                ('p256dh', fields.CharField(max_length=100)),
                ('auth', fields.CharField(max_length=40)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'push_subscription', 'app': 'warga', 'indexes': [Index(fields=['user_id', 'id'])], 'pk_attr': 'id', 'table_description': "The Web Push subscription of a browser or device (what PushSubscription.toJSON() gives)."},
            bases=['Model'],
        ),
    ]
