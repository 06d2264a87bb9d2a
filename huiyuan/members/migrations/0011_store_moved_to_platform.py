"""Store has moved to the platform (state only). Its content type and the per-store permission
(``pii_view``) with every grant follow it, in each schema."""

import django.db.models.deletion
from django.db import migrations, models


def move_store_permissions(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    Permission = apps.get_model("auth", "Permission")
    UserObjectPermission = apps.get_model("guardian", "UserObjectPermission")
    GroupObjectPermission = apps.get_model("guardian", "GroupObjectPermission")
    old = ContentType.objects.filter(app_label="members", model="store").first()
    if old is None:
        return
    new = ContentType.objects.filter(app_label="platform", model="store").first()
    if new is None:  # the content type rows are shared: the first schema renames it for all
        old.app_label = "platform"
        old.save(update_fields=["app_label"])
        return
    for permission in Permission.objects.filter(content_type=old):
        target = Permission.objects.filter(content_type=new, codename=permission.codename).first()
        if target is None:
            permission.content_type = new
            permission.save(update_fields=["content_type"])
            target = permission
        for grants in (UserObjectPermission, GroupObjectPermission):
            grants.objects.filter(permission=permission).update(permission=target, content_type=new)
        if target.pk != permission.pk:
            permission.delete()
    for grants in (UserObjectPermission, GroupObjectPermission):
        grants.objects.filter(content_type=old).update(content_type=new)


class Migration(migrations.Migration):

    dependencies = [
        ('guardian', '0002_generic_permissions_index'),
        ('contenttypes', '0002_remove_content_type_name'),
        ('loyalty', '0007_store_in_platform'),
        ('members', '0010_rfm_boundaries'),
        ('platform', '0002_store'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
            migrations.AlterField(
                model_name='order',
                name='store',
                field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='orders', to='platform.store'),
            ),
            migrations.AlterField(
                model_name='member',
                name='home_store',
                field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='members', to='platform.store', verbose_name='home store'),
            ),
            migrations.DeleteModel(
                name='Store',
            ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(move_store_permissions, migrations.RunPython.noop),
    ]
