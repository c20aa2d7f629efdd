from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from models.enums import EventKind, RegionLevel, ReportStatus, Role
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    initial = True

    operations = [
        ops.CreateModel(
            name='Agency',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('code', fields.CharField(unique=True, max_length=32)),
                ('name', fields.CharField(max_length=160)),
            ],
            options={'table': 'agency', 'app': 'warga', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Category',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('code', fields.CharField(unique=True, max_length=40)),
                ('name', fields.CharField(max_length=120)),
                ('name_en', fields.CharField(default='', max_length=120)),
                ('agency', fields.ForeignKeyField('warga.Agency', source_field='agency_id', null=True, db_constraint=True, to_field='id', related_name='categories', on_delete=OnDelete.RESTRICT)),
                ('sla_hours', fields.IntField()),
                ('share_pct', fields.FloatField(default=0)),
            ],
            options={'table': 'category', 'app': 'warga', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='KeyValue',
            fields=[
                ('key', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=64)),
                ('value', fields.TextField(unique=False)),
            ],
            options={'table': 'key_value', 'app': 'warga', 'pk_attr': 'key', 'table_description': 'Small facts about the installation, e.g. which region set is loaded.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Region',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('code', fields.CharField(unique=True, max_length=24)),
                ('name', fields.CharField(max_length=120)),
                ('level', fields.CharEnumField(db_index=True, description='PROVINSI: PROVINSI\nKOTA: KOTA\nKECAMATAN: KECAMATAN\nKELURAHAN: KELURAHAN', enum_type=RegionLevel, max_length=12)),
                ('parent', fields.ForeignKeyField('warga.Region', source_field='parent_id', null=True, db_constraint=True, to_field='id', related_name='children', on_delete=OnDelete.RESTRICT)),
                ('lat', fields.FloatField()),
                ('lng', fields.FloatField()),
                ('boundary', fields.JSONField(null=True, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
            ],
            options={'table': 'region', 'app': 'warga', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='User',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('handle', fields.CharField(unique=True, max_length=30)),
                ('display_name', fields.CharField(max_length=80)),
                ('email', fields.CharField(null=True, unique=True, max_length=254)),
                ('phone', fields.CharField(null=True, unique=True, max_length=32)),
                ('password_hash', fields.CharField(max_length=200)),
                ('role', fields.CharEnumField(default=Role.CITIZEN, db_index=True, description='CITIZEN: CITIZEN\nMODERATOR: MODERATOR\nOFFICER: OFFICER\nAGENCY_PARTNER: AGENCY_PARTNER\nADMIN: ADMIN', enum_type=Role, max_length=16)),
                ('region', fields.ForeignKeyField('warga.Region', source_field='region_id', null=True, db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.RESTRICT)),
                ('agency', fields.ForeignKeyField('warga.Agency', source_field='agency_id', null=True, db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.RESTRICT)),
                ('reports_count', fields.IntField(default=0)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'app_user', 'app': 'warga', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Report',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('client_request_id', fields.CharField(max_length=64)),
                ('author', fields.ForeignKeyField('warga.User', source_field='author_id', db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.RESTRICT)),
                ('anonymous', fields.BooleanField(default=False)),
                ('category', fields.ForeignKeyField('warga.Category', source_field='category_id', db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.RESTRICT)),
                ('agency', fields.ForeignKeyField('warga.Agency', source_field='agency_id', null=True, db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.RESTRICT)),
                ('kelurahan', fields.ForeignKeyField('warga.Region', source_field='kelurahan_id', db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.RESTRICT)),
                ('kecamatan', fields.ForeignKeyField('warga.Region', source_field='kecamatan_id', db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.RESTRICT)),
                ('kota', fields.ForeignKeyField('warga.Region', source_field='kota_id', db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.RESTRICT)),
                ('status', fields.CharEnumField(default=ReportStatus.SUBMITTED, description='SUBMITTED: SUBMITTED\nVERIFIED: VERIFIED\nREJECTED: REJECTED\nDUPLICATE: DUPLICATE\nIN_PROGRESS: IN_PROGRESS\nRESOLVED: RESOLVED\nCLOSED: CLOSED\nREOPENED: REOPENED', enum_type=ReportStatus, max_length=12)),
                ('lat', fields.FloatField()),
                ('lng', fields.FloatField()),
                ('address', fields.CharField(null=True, max_length=300)),
                ('description', fields.TextField(unique=False)),
                ('assignee', fields.ForeignKeyField('warga.User', source_field='assignee_id', null=True, db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.RESTRICT)),
                ('duplicate_of', fields.ForeignKeyField('warga.Report', source_field='duplicate_of_id', null=True, db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.RESTRICT)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('updated_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('verified_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('first_response_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('resolved_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('closed_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('due_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('rating', fields.SmallIntField(null=True)),
                ('vote_count', fields.IntField(default=0)),
                ('comment_count', fields.IntField(default=0)),
            ],
            options={'table': 'report', 'app': 'warga', 'unique_together': (('author_id', 'client_request_id'),), 'indexes': [Index(fields=['created_at', 'id']), Index(fields=['updated_at', 'id']), Index(fields=['vote_count', 'id']), Index(fields=['status', 'created_at']), Index(fields=['kelurahan_id', 'created_at']), Index(fields=['kecamatan_id', 'created_at']), Index(fields=['kota_id', 'created_at']), Index(fields=['agency_id', 'created_at']), Index(fields=['category_id', 'created_at']), Index(fields=['assignee_id', 'created_at']), Index(fields=['author_id', 'created_at']), Index(fields=['due_at']), Index(fields=['lat', 'lng'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Comment',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('report', fields.ForeignKeyField('warga.Report', source_field='report_id', db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.CASCADE)),
                ('author', fields.ForeignKeyField('warga.User', source_field='author_id', db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.RESTRICT)),
                ('body', fields.TextField(unique=False)),
                ('is_official', fields.BooleanField(default=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('deleted_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'comment', 'app': 'warga', 'indexes': [Index(fields=['report_id', 'id'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Event',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('tx', fields.BigIntField(default=0)),
                ('kind', fields.CharEnumField(description='CREATED: CREATED\nSTATUS_CHANGED: STATUS_CHANGED\nCOMMENT_ADDED: COMMENT_ADDED\nVOTES_CHANGED: VOTES_CHANGED', enum_type=EventKind, max_length=16)),
                ('report', fields.ForeignKeyField('warga.Report', source_field='report_id', db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.CASCADE)),
                ('status_change_id', fields.IntField(null=True)),
                ('comment_id', fields.IntField(null=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'event', 'app': 'warga', 'indexes': [Index(fields=['tx', 'id'])], 'pk_attr': 'id', 'table_description': "The event log: one row per streamable change, written in the change's transaction."},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='StatusChange',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('report', fields.ForeignKeyField('warga.Report', source_field='report_id', db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.CASCADE)),
                ('from_status', fields.CharEnumField(null=True, description='SUBMITTED: SUBMITTED\nVERIFIED: VERIFIED\nREJECTED: REJECTED\nDUPLICATE: DUPLICATE\nIN_PROGRESS: IN_PROGRESS\nRESOLVED: RESOLVED\nCLOSED: CLOSED\nREOPENED: REOPENED', enum_type=ReportStatus, max_length=12)),
                ('to_status', fields.CharEnumField(description='SUBMITTED: SUBMITTED\nVERIFIED: VERIFIED\nREJECTED: REJECTED\nDUPLICATE: DUPLICATE\nIN_PROGRESS: IN_PROGRESS\nRESOLVED: RESOLVED\nCLOSED: CLOSED\nREOPENED: REOPENED', enum_type=ReportStatus, max_length=12)),
                ('actor', fields.ForeignKeyField('warga.User', source_field='actor_id', null=True, db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.RESTRICT)),
                ('note', fields.TextField(null=True, unique=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'status_change', 'app': 'warga', 'indexes': [Index(fields=['report_id', 'id'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Media',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('uploader', fields.ForeignKeyField('warga.User', source_field='uploader_id', db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.RESTRICT)),
                ('sha256', fields.CharField(db_index=True, max_length=64)),
                ('content_type', fields.CharField(max_length=32)),
                ('width', fields.IntField()),
                ('height', fields.IntField()),
                ('path', fields.CharField(max_length=200)),
                ('thumb_path', fields.CharField(max_length=200)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('report', fields.ForeignKeyField('warga.Report', source_field='report_id', null=True, db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.CASCADE)),
                ('status_change', fields.ForeignKeyField('warga.StatusChange', source_field='status_change_id', null=True, db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.CASCADE)),
            ],
            options={'table': 'media', 'app': 'warga', 'indexes': [Index(fields=['report_id', 'id']), Index(fields=['status_change_id', 'id'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Vote',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('report', fields.ForeignKeyField('warga.Report', source_field='report_id', db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.CASCADE)),
                ('user', fields.ForeignKeyField('warga.User', source_field='user_id', db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.CASCADE)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'vote', 'app': 'warga', 'unique_together': (('report_id', 'user_id'),), 'indexes': [Index(fields=['user_id', 'report_id'])], 'pk_attr': 'id'},
            bases=['Model'],
        ),
    ]
