"""Store moves from members to the platform (access control scopes by it). State only: the table
keeps its name, members_store, and every foreign key keeps pointing at it."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('members', '0010_rfm_boundaries'),
        ('platform', '0001_initial'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
            migrations.CreateModel(
                name='Store',
                fields=[
                    ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                    ('code', models.CharField(max_length=32, unique=True, verbose_name='code')),
                    ('name', models.CharField(max_length=100, verbose_name='name')),
                    ('region', models.CharField(blank=True, max_length=100, verbose_name='region')),
                    ('address', models.CharField(blank=True, max_length=255, verbose_name='address')),
                    ('status', models.CharField(choices=[('open', 'Open'), ('closed', 'Closed')], default='open', max_length=16, verbose_name='status')),
                    ('created_at', models.DateTimeField(auto_now_add=True)),
                    ('updated_at', models.DateTimeField(auto_now=True)),
                ],
                options={
                    'db_table': 'members_store',
                    'ordering': ['code'],
                    'permissions': [('pii_view', "See unmasked phone numbers of this store's members")],
                },
            ),
            migrations.AlterField(
                model_name='apikey',
                name='store',
                field=models.ForeignKey(blank=True, help_text='Restrict the key to one store; empty means all stores.', null=True, on_delete=django.db.models.deletion.PROTECT, related_name='api_keys', to='platform.store'),
            ),
            migrations.AlterField(
                model_name='storeassignment',
                name='store',
                field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='staff_assignments', to='platform.store'),
            ),
            migrations.AlterField(
                model_name='user',
                name='stores',
                field=models.ManyToManyField(blank=True, related_name='staff', through='platform.StoreAssignment', to='platform.store'),
            ),
            ],
            database_operations=[],
        ),
    ]
