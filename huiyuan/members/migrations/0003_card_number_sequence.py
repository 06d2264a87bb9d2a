from django.db import migrations


class Migration(migrations.Migration):
    """Card numbers come from a per-tenant sequence: unique without retries, and a bulk import can
    reserve thousands in one statement."""

    dependencies = [("members", "0002_initial")]

    operations = [
        migrations.RunSQL(
            "CREATE SEQUENCE member_card_no_seq START 1", reverse_sql="DROP SEQUENCE member_card_no_seq"
        ),
    ]
