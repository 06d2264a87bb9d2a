from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class Store(models.Model):
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
        ordering = ["code"]
        permissions = [("pii_view", "See unmasked phone numbers of this store's members")]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class Member(models.Model):
    class Gender(models.TextChoices):
        UNKNOWN = "unknown", _("Unknown")
        MALE = "male", _("Male")
        FEMALE = "female", _("Female")

    class Channel(models.TextChoices):
        STORE = "store", _("Store")
        MINI_PROGRAM = "mini_program", _("Mini-program")
        ONLINE_MALL = "online_mall", _("Online mall")
        IMPORT = "import", _("Import")
        API = "api", _("API")

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        FROZEN = "frozen", _("Frozen")

    name = models.CharField(_("name"), max_length=100, blank=True)
    phone = models.CharField(_("phone"), max_length=20, unique=True)
    gender = models.CharField(_("gender"), max_length=8, choices=Gender.choices, default=Gender.UNKNOWN)
    birthday = models.DateField(_("birthday"), null=True, blank=True)
    province = models.CharField(_("province"), max_length=32, blank=True)
    city = models.CharField(_("city"), max_length=32, blank=True)
    channel = models.CharField(_("channel"), max_length=16, choices=Channel.choices, default=Channel.STORE)
    home_store = models.ForeignKey(
        Store, null=True, blank=True, on_delete=models.PROTECT, related_name="members", verbose_name=_("home store")
    )
    card_no = models.CharField(_("card number"), max_length=20, unique=True)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.ACTIVE)
    consent_sms = models.BooleanField(_("SMS consent"), default=False)
    consent_wechat = models.BooleanField(_("WeChat consent"), default=False)
    consent_email = models.BooleanField(_("e-mail consent"), default=False)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    scope_store_field = "home_store"

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["home_store", "-id"])]

    def __str__(self) -> str:
        return self.name or self.card_no


class Order(models.Model):
    """A consumption record. The members issue grows this into the full order path with lines,
    refunds and stats; the loyalty issue hooks points and tiers into it."""

    order_no = models.CharField(_("order number"), max_length=64, unique=True)
    store = models.ForeignKey(Store, on_delete=models.PROTECT, related_name="orders")
    member = models.ForeignKey(Member, null=True, blank=True, on_delete=models.PROTECT, related_name="orders")
    paid_amount = models.DecimalField(_("paid amount"), max_digits=12, decimal_places=2)
    paid_at = models.DateTimeField(_("paid at"), db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)

    scope_store_field = "store"

    class Meta:
        ordering = ["-paid_at", "-id"]
        indexes = [models.Index(fields=["member", "-paid_at"])]

    def __str__(self) -> str:
        return self.order_no
