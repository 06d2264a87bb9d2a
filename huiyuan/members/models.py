from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from huiyuan.platform.models import Store


class Lifecycle(models.TextChoices):
    PROSPECT = "prospect", _("No purchase yet")
    NEW = "new", _("New")
    ACTIVE = "active", pgettext_lazy("lifecycle", "Active")
    AT_RISK = "at_risk", _("At risk")
    DORMANT = "dormant", _("Dormant")
    LOST = "lost", _("Lost")


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
    # No index of its own: the (home_store, …) composite indexes below serve every lookup by store.
    home_store = models.ForeignKey(
        Store,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="members",
        verbose_name=_("home store"),
        db_index=False,
    )
    card_no = models.CharField(_("card number"), max_length=32, unique=True)
    # Prefixes of the name's pinyin and initials (``pinyin.py``), and the name they were made from.
    name_keys = ArrayField(models.CharField(max_length=20), db_default=[], blank=True)
    name_keys_of = models.CharField(max_length=100, blank=True, db_default="")
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.ACTIVE)
    consent_sms = models.BooleanField(_("SMS consent"), default=False)
    consent_wechat = models.BooleanField(_("WeChat consent"), default=False)
    consent_email = models.BooleanField(_("e-mail consent"), default=False)
    email = models.EmailField(_("e-mail"), blank=True)
    # Values of the merchant's own fields, keyed by CustomField.key, validated by the form engine.
    custom_fields = models.JSONField(_("custom fields"), default=dict, blank=True, encoder=DjangoJSONEncoder)
    created_at = models.DateTimeField(_("joined at"), default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    # Purchase statistics, kept current in the transaction of every order and refund.
    first_purchase_at = models.DateTimeField(_("first purchase"), null=True, blank=True)
    last_purchase_at = models.DateTimeField(_("last purchase"), null=True, blank=True)
    order_count = models.PositiveIntegerField(_("orders"), default=0)
    total_spend = models.DecimalField(_("total spend"), max_digits=14, decimal_places=2, default=0)
    # Quintile scores 1–5 within the tenant (5 = best), recomputed nightly; 0 = no purchase.
    r_score = models.PositiveSmallIntegerField(_("recency score"), default=0)
    f_score = models.PositiveSmallIntegerField(_("frequency score"), default=0)
    m_score = models.PositiveSmallIntegerField(_("monetary score"), default=0)
    lifecycle = models.CharField(_("lifecycle"), max_length=16, choices=Lifecycle.choices, default=Lifecycle.PROSPECT)

    # Cached balances of the loyalty ledgers (huiyuan.loyalty), changed only in the transaction that
    # appends the entry; the database refuses negative values. Database-side defaults, so bulk COPY
    # loads (imports) that predate a column keep working.
    points_balance = models.IntegerField(_("points"), db_default=0)
    stored_principal = models.DecimalField(_("stored value (principal)"), max_digits=12, decimal_places=2, db_default=0)
    stored_bonus = models.DecimalField(_("stored value (bonus)"), max_digits=12, decimal_places=2, db_default=0)
    # Unindexed on purpose: every index slows imports of members; tier questions go through reports.
    tier = models.ForeignKey(
        "loyalty.Tier",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="members",
        verbose_name=_("tier"),
        db_index=False,
    )
    tier_since = models.DateTimeField(null=True, blank=True)
    # Set when the person's data was erased on request: the row stays for the books (orders,
    # ledgers), with nothing left that names the person.
    erased_at = models.DateTimeField(_("personal data erased at"), null=True, blank=True)

    scope_store_field = "home_store"

    class Meta:
        ordering = ["-id"]
        # Every index costs each insert and import; these serve the member list per store, name
        # search by prefix, and the value / recency segments (see bench/segment_query.py).
        indexes = [
            models.Index(fields=["home_store", "-id"]),
            models.Index(fields=["m_score", "last_purchase_at"]),
            models.Index(fields=["home_store", "m_score", "last_purchase_at"]),
            models.Index(fields=["name"], name="member_name_prefix", opclasses=["varchar_pattern_ops"]),
            GinIndex(fields=["custom_fields"], name="member_custom_fields_gin"),
            GinIndex(fields=["name_keys"], name="member_name_pinyin_gin"),
        ]
        constraints = [
            models.CheckConstraint(condition=models.Q(points_balance__gte=0), name="member_points_gte_0"),
            models.CheckConstraint(condition=models.Q(stored_principal__gte=0), name="member_principal_gte_0"),
            models.CheckConstraint(condition=models.Q(stored_bonus__gte=0), name="member_bonus_gte_0"),
        ]

    def __str__(self) -> str:
        return self.name or self.card_no

    @property
    def average_spend(self):  # type: ignore[no-untyped-def]
        return (self.total_spend / self.order_count).quantize(self.total_spend) if self.order_count else 0


class MemberSettings(models.Model):
    """One row per tenant: lifecycle thresholds in days since the last purchase."""

    new_days = models.PositiveIntegerField(default=30, help_text=_("First purchase within this many days: new"))
    active_days = models.PositiveIntegerField(default=90)
    at_risk_days = models.PositiveIntegerField(default=180)
    dormant_days = models.PositiveIntegerField(default=365)
    # Where the R/F/M quintiles changed hands at the last full ranking (nightly, after an order
    # import): members touched since are scored against these at once (``rfm_score_members``).
    rfm_boundaries = models.JSONField(default=dict, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return "member settings"


class MemberHistory(models.Model):
    """Every change to a member: who, when, old → new. Append-only."""

    class Action(models.TextChoices):
        CREATED = "created", _("Created")
        UPDATED = "updated", _("Updated")
        MERGED = "merged", _("Merged")
        IMPORTED = "imported", _("Imported")
        TAGGED = "tagged", _("Tagged")
        UNTAGGED = "untagged", _("Untagged")
        ERASED = "erased", _("Personal data erased")
        DELETED = "deleted", _("Deleted")

    member_id = models.BigIntegerField(db_index=True)  # kept after a delete, so no foreign key
    action = models.CharField(max_length=16, choices=Action.choices)
    changes = models.JSONField(default=dict, encoder=DjangoJSONEncoder)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_label = models.CharField(max_length=150, blank=True)
    source = models.CharField(max_length=100, blank=True)  # "console", "api", "import:12", "rule:3"
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.action} member {self.member_id}"


class CustomField(models.Model):
    """A member field the merchant designs itself. ``key`` never changes (values are stored under
    it), so renaming the label or reordering loses nothing; archiving hides it but keeps values."""

    key = models.SlugField(_("key"), max_length=40, unique=True)
    label = models.CharField(_("label"), max_length=100)
    field_type = models.CharField(_("type"), max_length=32)
    required = models.BooleanField(_("required"), default=False)
    unique = models.BooleanField(_("unique"), default=False)
    # Type-specific rules: min, max, max_length, pattern, choices, decimal_places.
    config = models.JSONField(default=dict, blank=True)
    help_text = models.CharField(_("help text"), max_length=255, blank=True)
    position = models.PositiveIntegerField(default=0)
    # Where the member form shows it (基本信息, 偏好…); blank: the form's last, untitled section.
    section = models.CharField(_("section"), max_length=40, blank=True, default="")
    # Roles that see and fill it on the member form and profile; empty: every role.
    visible_roles = models.JSONField(_("visible to"), default=list, blank=True)
    archived_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return self.label

    def visible_to(self, role: str | None) -> bool:
        """Whether staff of this role see the field (None: an API key or the system, which see all)."""
        return role is None or not self.visible_roles or role in self.visible_roles


class Tag(models.Model):
    class Kind(models.TextChoices):
        MANUAL = "manual", _("Manual")
        AUTO = "auto", _("Automatic")

    name = models.CharField(_("name"), max_length=50, unique=True)
    kind = models.CharField(_("kind"), max_length=8, choices=Kind.choices, default=Kind.MANUAL)
    color = models.CharField(max_length=16, blank=True)
    # For automatic tags: the segment rule (the same JSON filter language as segments).
    rule = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    evaluated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class MemberTag(models.Model):
    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="member_tags")
    tag = models.ForeignKey(Tag, on_delete=models.CASCADE, related_name="member_tags")
    # Who applied it: a staff member, or the automatic tag's rule (applied_by is then empty).
    applied_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    applied_by_rule = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tag", "member"], name="uniq_member_tag")]
        indexes = [models.Index(fields=["member", "tag"])]

    def __str__(self) -> str:
        return f"{self.member_id}:{self.tag_id}"


class Segment(models.Model):
    name = models.CharField(_("name"), max_length=100, unique=True)
    description = models.CharField(_("description"), max_length=255, blank=True)
    rule = models.JSONField()
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Someone acts on members entering this segment (a rule on ``segment.entered``): who is in it
    # is kept in ``SegmentMember`` from this moment on, and each newcomer is announced.
    watched_since = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class SegmentMember(models.Model):
    """A member in a watched segment, since when. Entering writes a row and ``segment.entered``."""

    segment = models.ForeignKey(Segment, on_delete=models.CASCADE, related_name="entries")
    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="+")
    entered_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["segment", "member"], name="segment_member_once")]

    def __str__(self) -> str:
        return f"{self.segment_id}:{self.member_id}"


class Order(models.Model):
    """A consumption record. ``order_no`` is the POS / ERP number and the idempotency key."""

    class Status(models.TextChoices):
        PAID = "paid", _("Paid")
        PARTIALLY_REFUNDED = "partially_refunded", _("Partially refunded")
        REFUNDED = "refunded", _("Refunded")

    class Source(models.TextChoices):
        POS = "pos", _("POS / API")
        CONSOLE = "console", _("Console")
        IMPORT = "import", _("Import")

    order_no = models.CharField(_("order number"), max_length=64, unique=True)
    store = models.ForeignKey(Store, on_delete=models.PROTECT, related_name="orders")
    # Indexed by (member, -paid_at) below, which also serves plain lookups by member.
    member = models.ForeignKey(
        Member, null=True, blank=True, on_delete=models.SET_NULL, related_name="orders", db_index=False
    )
    total_amount = models.DecimalField(_("total amount"), max_digits=12, decimal_places=2, default=0)
    paid_amount = models.DecimalField(_("paid amount"), max_digits=12, decimal_places=2)
    refunded_amount = models.DecimalField(_("refunded amount"), max_digits=12, decimal_places=2, default=0)
    payment_methods = models.JSONField(default=list, blank=True, encoder=DjangoJSONEncoder)
    # What checkout applied (tier and coupon discounts, points and stored value used, points earned),
    # so a refund can reverse exactly that, proportionally.
    benefits = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PAID)
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.POS)
    paid_at = models.DateTimeField(_("paid at"), db_index=True)
    request_hash = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    scope_store_field = "store"

    class Meta:
        ordering = ["-paid_at", "-id"]
        indexes = [models.Index(fields=["member", "-paid_at"])]

    def __str__(self) -> str:
        return self.order_no


class OrderLine(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    sku = models.CharField(max_length=64, blank=True)
    name = models.CharField(max_length=200, blank=True)
    category = models.CharField(max_length=64, blank=True)
    quantity = models.DecimalField(max_digits=12, decimal_places=3, default=1)
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    refunded_amount = models.DecimalField(max_digits=12, decimal_places=2, default=0)

    def __str__(self) -> str:
        return f"{self.sku} × {self.quantity}"


class Refund(models.Model):
    refund_no = models.CharField(_("refund number"), max_length=64, unique=True)
    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="refunds")
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    reason = models.CharField(max_length=255, blank=True)
    lines = models.JSONField(default=list, blank=True, encoder=DjangoJSONEncoder)
    request_hash = models.CharField(max_length=64, blank=True)
    refunded_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.refund_no


class ImportJob(models.Model):
    class Kind(models.TextChoices):
        MEMBERS = "members", _("Members")
        ORDERS = "orders", _("Order history")

    class Status(models.TextChoices):
        UPLOADED = "uploaded", _("Uploaded")
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    kind = models.CharField(max_length=10, choices=Kind.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.UPLOADED)
    # The upload itself, in the database: web and worker pods then need no shared volume.
    content = models.BinaryField()
    original_name = models.CharField(max_length=255)
    mapping = models.JSONField(default=dict, blank=True)  # column header -> field
    options = models.JSONField(default=dict, blank=True)  # upsert_by, unknown_members, ...
    total_rows = models.PositiveIntegerField(default=0)
    processed_rows = models.PositiveIntegerField(default=0)
    created_count = models.PositiveIntegerField(default=0)
    updated_count = models.PositiveIntegerField(default=0)
    unchanged_count = models.PositiveIntegerField(default=0)
    error_count = models.PositiveIntegerField(default=0)
    errors = models.JSONField(default=list, blank=True)  # [{"row", "column", "value", "reason"}]
    message = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Claims and liveness: a run bumps ``attempts`` when it claims the job and ``heartbeat_at`` as
    # it makes progress; a queued or running job whose heartbeat stopped is stalled (its message
    # or its worker was lost) and can be resumed by a redelivered task or an explicit retry.
    attempts = models.PositiveSmallIntegerField(default=0)
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.kind} import {self.pk}"

    @property
    def error_rows(self) -> int:
        """Rows with at least one error (a row may have several; ``error_count`` counts errors)."""
        return len({error.get("row") for error in self.errors or []})
