"""Coupons now point at platform.Store (state only; the same table)."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('loyalty', '0006_adjustments_and_exchange'),
        ('platform', '0002_store'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
            migrations.AlterField(
                model_name='coupon',
                name='redeemed_store',
                field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='platform.store'),
            ),
            migrations.AlterField(
                model_name='coupontemplate',
                name='stores',
                field=models.ManyToManyField(blank=True, related_name='+', to='platform.store'),
            ),
            ],
            database_operations=[],
        ),
    ]
