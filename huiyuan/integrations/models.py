"""A merchant's connections to vendors (credentials encrypted at rest), the SMS templates mapped to
the vendor's, and the log of every call made to a vendor on the merchant's behalf."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class Connection(models.Model):
    provider = models.CharField(_("provider"), max_length=40)
    name = models.CharField(_("name"), max_length=100)
    enabled = models.BooleanField(_("enabled"), default=True)
    credentials = models.TextField(blank=True)  # Fernet token of the JSON credentials (``crypto.py``)
    settings = models.JSONField(default=dict, blank=True)  # not secret: endpoint, sign name, region
    last_test_at = models.DateTimeField(null=True, blank=True)
    last_test_ok = models.BooleanField(null=True)
    last_test_message = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["provider", "pk"]

    def __str__(self) -> str:
        return f"{self.provider}: {self.name}"


class SmsTemplate(models.Model):
    """A vendor SMS template (approved at the vendor) and how our variables fill its parameters."""

    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="sms_templates")
    name = models.CharField(_("name"), max_length=100)
    vendor_code = models.CharField(_("vendor template"), max_length=64)  # SMS_123456 / 1110
    # {"code": "{{coupon_code}}", "name": "{{name}}"} (Aliyun) or ["{{name}}", "{{coupon_code}}"] (Tencent)
    params = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


OPERATION_LABELS = {
    "send_sms": _("SMS"),
    "test": _("Connection test"),
    "task_notice": _("Task notice to staff"),
    "todo": _("To-do for staff"),
    "finance_post": _("Finance document"),
    "finance_lookup": _("Finance document lookup"),
    "customer": _("WeCom customer lookup"),
    "customer_tag": _("WeCom customer tag"),
    "callback": _("Callback from the vendor"),
    "code2session": _("Mini program sign-in"),
    "phone_number": _("Mini program phone number"),
}


class VendorCall(models.Model):
    """One call to a vendor: the delivery log staff read (recipient masked)."""

    class Status(models.TextChoices):
        OK = "ok", _("Accepted")
        FAILED = "failed", _("Failed")
        RETRYING = "retrying", _("Failed, will retry")

    connection = models.ForeignKey(Connection, null=True, on_delete=models.SET_NULL, related_name="calls")
    provider = models.CharField(max_length=40)
    operation = models.CharField(max_length=40)  # "send_sms", "test", "token"
    recipient = models.CharField(max_length=100, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices)
    vendor_message_id = models.CharField(max_length=120, blank=True)
    error_code = models.CharField(max_length=100, blank=True)
    error_message = models.CharField(max_length=500, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)
    reference = models.CharField(max_length=80, blank=True)  # what asked for it: "automation:step:12"
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-pk"]
        indexes = [models.Index(fields=["connection", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.provider}.{self.operation} {self.status}"

    @property
    def operation_label(self) -> str:
        return str(OPERATION_LABELS.get(self.operation, self.operation))


class StaffIdentity(models.Model):
    """Who a staff member is at a vendor (their WeCom userid), so task notices reach them there."""

    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="identities")
    user = models.ForeignKey("platform.User", on_delete=models.CASCADE, related_name="+")
    external_id = models.CharField(max_length=64)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["connection", "user"], name="staff_identity_once")]

    def __str__(self) -> str:
        return f"{self.user_id}@{self.connection_id}={self.external_id}"


class WebhookEndpoint(models.Model):
    """A merchant's URL that receives our events, signed with its own secret."""

    url = models.URLField(_("URL"), max_length=500)
    secret = models.TextField()  # encrypted like credentials (``crypto.py``)
    event_types = models.JSONField(default=list)  # ["order.paid", ...]; ["*"] for all
    enabled = models.BooleanField(default=True)
    description = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["pk"]

    def __str__(self) -> str:
        return self.url


class WebhookAttempt(models.Model):
    """One POST of one event to one endpoint, with what came back."""

    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="attempts")
    event_id = models.BigIntegerField()
    event_type = models.CharField(max_length=80)
    attempt = models.PositiveSmallIntegerField(default=1)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    ok = models.BooleanField(default=False)
    final = models.BooleanField(default=False)  # no more tries will follow (delivered, or given up)
    error = models.CharField(max_length=500, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-pk"]

    def __str__(self) -> str:
        return f"{self.event_type}#{self.event_id} → {self.endpoint_id}: {self.status_code}"

    @property
    def event_label(self) -> str:
        from huiyuan.platform.events.registry import event_label

        return event_label(self.event_type)


class FinanceDocument(models.Model):
    """One of our ledger movements as a finance document at the ERP: posted once (its bill number is
    ours, so a second post is refused by the ERP itself), failures kept with the vendor's message."""

    class Status(models.TextChoices):
        POSTING = "posting", _("Being posted")
        POSTED = "posted", _("Posted")
        FAILED = "failed", _("Failed")

    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="documents")
    source = models.CharField(max_length=20)  # "sv_topup", "sv_spend", "sv_refund", "points_cash"
    source_id = models.BigIntegerField()
    bill_no = models.CharField(max_length=40)
    form_id = models.CharField(max_length=40)
    amount = models.DecimalField(max_digits=14, decimal_places=2)
    status = models.CharField(max_length=10, choices=Status.choices)
    vendor_id = models.CharField(max_length=40, blank=True)
    error = models.CharField(max_length=500, blank=True)
    attempts = models.PositiveSmallIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-pk"]
        constraints = [
            models.UniqueConstraint(fields=["connection", "source", "source_id"], name="finance_document_once")
        ]

    def __str__(self) -> str:
        return self.bill_no


class MemberIdentity(models.Model):
    """Who a member is at a vendor (their mini program openid), so they sign in again as themselves."""

    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="member_identities")
    member = models.ForeignKey("members.Member", on_delete=models.CASCADE, related_name="+")
    external_id = models.CharField(max_length=64)
    union_id = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["connection", "external_id"], name="member_identity_once")]

    def __str__(self) -> str:
        return f"{self.member_id}@{self.connection_id}"
