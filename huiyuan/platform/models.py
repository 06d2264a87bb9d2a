"""Tenant-schema models of the platform: staff, their store assignments, API keys, audit, idempotency."""

from __future__ import annotations

from typing import ClassVar

from django.contrib.auth.models import AbstractUser, UserManager
from django.db import models
from django.utils.translation import gettext_lazy as _

from .roles import Role


class Store(models.Model):
    """A shop of the merchant. Lives in the platform because access control scopes by it."""

    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        CLOSED = "closed", _("Closed")

    code = models.CharField(_("code"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=100)
    region = models.CharField(_("region"), max_length=100, blank=True)
    address = models.CharField(_("address"), max_length=255, blank=True)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.OPEN)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    scope_store_field = "pk"

    class Meta:
        # The table keeps its first name: Store moved here from members without a data migration.
        db_table = "members_store"
        ordering = ["code"]
        permissions = [("pii_view", "See unmasked phone numbers of this store's members")]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class User(AbstractUser):
    """A merchant's staff member. Lives in the tenant schema: tenants never share logins."""

    name = models.CharField(_("name"), max_length=100, blank=True)
    phone = models.CharField(_("phone"), max_length=20, null=True, blank=True, unique=True)
    role = models.CharField(_("role"), max_length=32, choices=Role.choices, default=Role.CASHIER)
    stores = models.ManyToManyField("platform.Store", through="StoreAssignment", related_name="staff", blank=True)
    invited_by = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    invite_token_hash = models.CharField(max_length=64, blank=True, db_index=True)
    invite_expires_at = models.DateTimeField(null=True, blank=True)
    # The console language this person chose (empty: the browser's); follows them to any device.
    language = models.CharField(_("language"), max_length=10, blank=True, default="")
    # Console choices that follow the person: member list columns and the like.
    preferences = models.JSONField(default=dict, blank=True)

    objects: ClassVar[UserManager[User]] = UserManager()  # type: ignore[assignment]

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.name or self.username

    @property
    def display_name(self) -> str:
        return self.name or self.username


class StoreAssignment(models.Model):
    """Plain join used by every store-scoped list query (no per-row permission checks)."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="store_assignments")
    store = models.ForeignKey("platform.Store", on_delete=models.CASCADE, related_name="staff_assignments")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "store"], name="uniq_store_assignment")]
        indexes = [models.Index(fields=["user", "store"])]

    def __str__(self) -> str:
        return f"{self.user_id}@{self.store_id}"


class ApiKey(models.Model):
    """A key for POS / ERP. Only a SHA-256 digest of the secret is stored: the secret is 256 random
    bits, so a slow password hash adds nothing but latency to every API call."""

    name = models.CharField(_("name"), max_length=100)
    prefix = models.CharField(max_length=12, unique=True)
    secret_hash = models.CharField(max_length=64)
    scopes = models.JSONField(default=list)
    store = models.ForeignKey(
        "platform.Store",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="api_keys",
        help_text=_("Restrict the key to one store; empty means all stores."),
    )
    created_by = models.ForeignKey(User, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix})"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class AuditEntry(models.Model):
    """Who did what to which object, from where. Append-only; the tenant is the schema it lives in."""

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    api_key = models.ForeignKey(ApiKey, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    actor_label = models.CharField(max_length=150, blank=True)
    action = models.CharField(max_length=80, db_index=True)
    object_type = models.CharField(max_length=80, blank=True, db_index=True)
    object_id = models.CharField(max_length=64, blank=True)
    object_repr = models.CharField(max_length=200, blank=True)
    changes = models.JSONField(default=dict, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["object_type", "object_id"])]

    def __str__(self) -> str:
        return f"{self.action} {self.object_type}:{self.object_id}"


class IdempotencyRecord(models.Model):
    """First response to a write request carrying an ``Idempotency-Key``; replays return it verbatim."""

    key = models.CharField(max_length=200)
    principal = models.CharField(max_length=64)
    method = models.CharField(max_length=10)
    path = models.CharField(max_length=300)
    request_hash = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField(null=True)
    # The rendered bytes, so a replay is byte-for-byte the first answer (JSONB would reorder keys).
    response_body = models.TextField(null=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["principal", "key"], name="uniq_idempotency_key_per_principal")]

    def __str__(self) -> str:
        return f"{self.principal}:{self.key}"
