from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _
from django_tenants.models import DomainMixin, TenantMixin


class Plan(models.Model):  # type: ignore[django-manager-missing]  # reverse FK from a TenantMixin subclass
    code = models.SlugField(unique=True)
    name = models.CharField(max_length=100)
    max_stores = models.PositiveIntegerField(default=5)
    max_members = models.PositiveIntegerField(default=50_000)
    max_staff = models.PositiveIntegerField(default=50)
    is_default = models.BooleanField(default=False)

    def __str__(self) -> str:
        return self.name


class Tenant(TenantMixin):
    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        SUSPENDED = "suspended", _("Suspended")
        # Pre-provisioned schema waiting in the pool to be claimed by a signup; never routable.
        POOL = "pool", _("Pool")
        # Its row is saved before its schema is cloned; a signup must not claim it until it is done.
        PROVISIONING = "provisioning", _("Provisioning")
        # The migrated schema that new tenants are cloned from; never routable.
        TEMPLATE = "template", _("Template")
        PLATFORM = "platform", _("Platform")

    name = models.CharField(max_length=100, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE, db_index=True)
    plan = models.ForeignKey(Plan, null=True, blank=True, on_delete=models.PROTECT, related_name="tenants")
    time_zone = models.CharField(max_length=64, default="Asia/Shanghai")
    owner_email = models.EmailField(blank=True)
    owner_phone = models.CharField(max_length=20, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    # Closing a merchant: its data export handed over, then the schema dropped after a grace period.
    closed_at = models.DateTimeField(null=True, blank=True)
    purge_after = models.DateTimeField(null=True, blank=True)
    closed_reason = models.CharField(max_length=255, blank=True)

    # The template only ever holds rows written by migrations (django_migrations, auth
    # permissions, seeded defaults), exactly what a migrated schema holds, so copy them with it.
    clone_mode = "DATA"
    auto_create_schema = True
    auto_drop_schema = True

    def __str__(self) -> str:
        return self.name or self.schema_name


class Domain(DomainMixin):
    def __str__(self) -> str:
        return self.domain
