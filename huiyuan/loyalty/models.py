"""Loyalty ledgers. Each is append-only: entries are never updated or deleted, corrections are new
entries, and the member's cached balance changes in the same transaction (CHECK constraints keep
it from going negative). Every entry has an idempotency key, so a retried write finds its first
result instead of crediting twice, and names its cause (order, refund, rule, staff, import)."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class LoyaltySettings(models.Model):
    class Expiry(models.TextChoices):
        ROLLING = "rolling", _("N months after earning")
        END_OF_YEAR = "end_of_year", _("End of the year after earning")
        NEVER = "never", _("Never")

    class BonusUse(models.TextChoices):
        PROPORTIONAL = "proportional", _("In proportion to principal")
        LAST = "last", _("After the principal is used up")

    class Rounding(models.TextChoices):
        DOWN = "down", _("Round down")
        HALF_UP = "half_up", _("Round half up")
        UP = "up", _("Round up")

    points_expiry = models.CharField(max_length=16, choices=Expiry.choices, default=Expiry.ROLLING)
    points_expiry_months = models.PositiveSmallIntegerField(default=12)
    bonus_use = models.CharField(max_length=16, choices=BonusUse.choices, default=BonusUse.PROPORTIONAL)
    # Earning: points per yuan paid, rounded per order, optionally capped; excluded categories earn nothing.
    points_per_yuan = models.DecimalField(max_digits=8, decimal_places=3, default=1)
    points_rounding = models.CharField(max_length=8, choices=Rounding.choices, default=Rounding.DOWN)
    max_points_per_order = models.PositiveIntegerField(null=True, blank=True)
    excluded_categories = models.JSONField(default=list, blank=True)
    # Redemption at checkout: how many points make one yuan, and the most of a bill points may pay.
    points_per_yuan_redeemed = models.PositiveIntegerField(default=100)
    max_points_share = models.DecimalField(max_digits=4, decimal_places=2, default=Decimal("0.5"))
    # Tiers: upgrades happen at once; downgrades at the periodic review, not within this many days
    # of the member reaching the tier.
    tier_grace_days = models.PositiveIntegerField(default=30)
    # Members hear this many days before points or a coupon expire (0: no reminder).
    expiry_reminder_days = models.PositiveSmallIntegerField(default=7)
    # A manual points adjustment larger than this (either way) waits for a second person's approval.
    adjustment_approval_points = models.PositiveIntegerField(default=1000)
    # A stored-value spend that takes the balance below this announces ``stored_value.low`` (0: never).
    low_balance_threshold = models.DecimalField(max_digits=12, decimal_places=2, default=Decimal("50"))

    def __str__(self) -> str:
        return "loyalty settings"


class Cause(models.TextChoices):
    ORDER = "order", _("Order")
    REFUND = "refund", _("Refund")
    RULE = "rule", _("Rule")
    STAFF = "staff", _("Staff")
    IMPORT = "import", _("Import")
    EXPIRY = "expiry", _("Expiry")
    AUTOMATION = "automation", _("Automation")
    EXCHANGE = "exchange", _("Points exchange")


class LedgerEntry(models.Model):
    """What every ledger entry records besides its amounts: its idempotency key, its cause and who."""

    idempotency_key = models.CharField(max_length=120, unique=True)
    cause = models.CharField(max_length=12, choices=Cause.choices)
    cause_id = models.CharField(max_length=64, blank=True)
    reason = models.CharField(max_length=255, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        abstract = True


class PointsEntry(LedgerEntry):
    class Kind(models.TextChoices):
        EARN = "earn", _("Earned")
        SPEND = "spend", _("Spent")
        EXPIRE = "expire", _("Expired")
        ADJUST = "adjust", _("Adjusted")
        REVERSE = "reverse", _("Reversed")

    member = models.ForeignKey("members.Member", on_delete=models.PROTECT, related_name="points_entries")
    kind = models.CharField(max_length=8, choices=Kind.choices)
    amount = models.IntegerField()  # + credit, - debit
    balance_after = models.IntegerField()

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["member", "-id"])]
        constraints = [
            models.CheckConstraint(condition=models.Q(balance_after__gte=0), name="points_entry_balance_gte_0")
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.amount:+d}"


class PointsLot(models.Model):
    """Points earned together, with one expiry. Spending and expiry consume lots oldest-expiry first."""

    member = models.ForeignKey("members.Member", on_delete=models.PROTECT, related_name="points_lots")
    earned_by = models.OneToOneField(PointsEntry, on_delete=models.PROTECT, related_name="lot")
    amount = models.PositiveIntegerField()
    remaining = models.PositiveIntegerField()
    expires_at = models.DateTimeField(null=True, blank=True)
    expiry_reminded_at = models.DateTimeField(null=True, blank=True)  # ``points.expiring`` sent
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["member", "expires_at", "id"], name="points_lot_open_fifo", condition=models.Q(remaining__gt=0)
            ),
            models.Index(fields=["expires_at"], name="points_lot_open_expiry", condition=models.Q(remaining__gt=0)),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(remaining__lte=models.F("amount")), name="points_lot_remaining_lte_amount"
            )
        ]

    def __str__(self) -> str:
        return f"lot {self.pk}: {self.remaining}/{self.amount}"


class PointsLotMovement(models.Model):
    """Which lots a debit consumed, so a reversal (refund) restores exactly those points."""

    entry = models.ForeignKey(PointsEntry, on_delete=models.PROTECT, related_name="movements")
    lot = models.ForeignKey(PointsLot, on_delete=models.PROTECT, related_name="movements")
    amount = models.IntegerField()

    def __str__(self) -> str:
        return f"{self.entry_id}→{self.lot_id}: {self.amount}"


class StoredValueEntry(LedgerEntry):
    """储值 ledger: principal (money paid in) and bonus (given by a top-up plan) kept apart."""

    class Kind(models.TextChoices):
        TOPUP = "topup", _("Top-up")
        SPEND = "spend", _("Spent")
        REFUND = "refund", _("Top-up refunded")
        REVERSE = "reverse", _("Spend reversed")
        ADJUST = "adjust", _("Adjusted")

    member = models.ForeignKey("members.Member", on_delete=models.PROTECT, related_name="stored_value_entries")
    kind = models.CharField(max_length=8, choices=Kind.choices)
    principal = models.DecimalField(max_digits=12, decimal_places=2)  # + credit, - debit
    bonus = models.DecimalField(max_digits=12, decimal_places=2)
    principal_after = models.DecimalField(max_digits=12, decimal_places=2)
    bonus_after = models.DecimalField(max_digits=12, decimal_places=2)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["member", "-id"])]
        constraints = [
            models.CheckConstraint(condition=models.Q(principal_after__gte=0), name="sv_principal_after_gte_0"),
            models.CheckConstraint(condition=models.Q(bonus_after__gte=0), name="sv_bonus_after_gte_0"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.principal:+} / {self.bonus:+}"


class CouponTemplate(models.Model):
    class Kind(models.TextChoices):
        FIXED = "fixed", _("Fixed amount off")
        PERCENT = "percent", _("Percentage off")
        THRESHOLD = "threshold", _("Amount off above a threshold (满减)")
        GIFT = "gift", _("Gift")

    name = models.CharField(_("name"), max_length=100)
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    amount_off = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    percent_off = models.PositiveSmallIntegerField(null=True, blank=True)  # 15 = 15% off (八五折)
    threshold = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    gift = models.CharField(max_length=200, blank=True)
    # Validity: fixed dates, or N days from issue.
    valid_from = models.DateTimeField(null=True, blank=True)
    valid_until = models.DateTimeField(null=True, blank=True)
    valid_days = models.PositiveIntegerField(null=True, blank=True)
    stores = models.ManyToManyField("platform.Store", blank=True, related_name="+")  # empty: every store
    per_member_limit = models.PositiveIntegerField(null=True, blank=True)
    stock = models.PositiveIntegerField(null=True, blank=True)  # empty: unlimited
    issued_count = models.PositiveIntegerField(default=0)
    points_price = models.PositiveIntegerField(null=True, blank=True)  # members may exchange points for one
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(stock__isnull=True) | models.Q(issued_count__lte=models.F("stock")),
                name="coupon_template_within_stock",
            )
        ]

    def __str__(self) -> str:
        return self.name


class Coupon(models.Model):
    class Status(models.TextChoices):
        ISSUED = "issued", _("Issued")
        REDEEMED = "redeemed", _("Redeemed")
        EXPIRED = "expired", _("Expired")
        VOID = "void", _("Void")

    template = models.ForeignKey(CouponTemplate, on_delete=models.PROTECT, related_name="coupons")
    member = models.ForeignKey("members.Member", on_delete=models.PROTECT, related_name="coupons")
    code = models.CharField(max_length=20, unique=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ISSUED)
    issue_key = models.CharField(max_length=120, unique=True)
    issued_at = models.DateTimeField(auto_now_add=True)
    valid_from = models.DateTimeField(null=True, blank=True)
    valid_until = models.DateTimeField(null=True, blank=True)
    redeemed_at = models.DateTimeField(null=True, blank=True)
    redeem_key = models.CharField(max_length=120, null=True, blank=True, unique=True)
    redeemed_store = models.ForeignKey(
        "platform.Store", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    redeemed_order_no = models.CharField(max_length=64, blank=True)
    discount = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    void_reason = models.CharField(max_length=255, blank=True)
    expiry_reminded_at = models.DateTimeField(null=True, blank=True)  # ``coupon.expiring`` sent

    class Meta:
        indexes = [
            models.Index(fields=["member", "status"]),
            models.Index(fields=["valid_until"], name="coupon_open_expiry", condition=models.Q(status="issued")),
        ]

    def __str__(self) -> str:
        return self.code


class EarnRule(models.Model):
    """A multiplier on earned points for a tier, store, category, weekday (会员日) or the member's
    birthday month. Multipliers of different rules multiply together."""

    class Kind(models.TextChoices):
        TIER = "tier", _("Tier")
        STORE = "store", _("Store")
        CATEGORY = "category", _("Category")
        WEEKDAY = "weekday", _("Weekday (member day)")
        BIRTHDAY_MONTH = "birthday_month", _("Birthday month")

    kind = models.CharField(max_length=16, choices=Kind.choices)
    # tier id, store id, category name or ISO weekday (1 = Monday); empty for the birthday month.
    match = models.CharField(max_length=64, blank=True)
    multiplier = models.DecimalField(max_digits=6, decimal_places=2)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.kind}={self.match} ×{self.multiplier}"


class Tier(models.Model):
    """A membership level (普通 / 银卡 / 金卡 / 钻石) reached by spend within a window."""

    name = models.CharField(_("name"), max_length=50, unique=True)
    rank = models.PositiveSmallIntegerField(unique=True)  # higher is better
    threshold_spend = models.DecimalField(max_digits=12, decimal_places=2, default=0)
    window_days = models.PositiveIntegerField(null=True, blank=True)  # empty: lifetime spend
    discount_rate = models.DecimalField(max_digits=4, decimal_places=3, default=1)  # 0.95 = 九五折
    points_multiplier = models.DecimalField(max_digits=5, decimal_places=2, default=1)
    birthday_gift = models.CharField(max_length=200, blank=True)
    free_shipping = models.BooleanField(default=False)

    class Meta:
        ordering = ["rank"]

    def __str__(self) -> str:
        return self.name


class TierChange(models.Model):
    member = models.ForeignKey("members.Member", on_delete=models.CASCADE, related_name="tier_changes")
    from_tier = models.ForeignKey(Tier, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    to_tier = models.ForeignKey(Tier, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    reason = models.CharField(max_length=255)
    qualifying_spend = models.DecimalField(max_digits=14, decimal_places=2)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.member_id}: {self.from_tier_id} → {self.to_tier_id}"


class TopUpPlan(models.Model):
    """A stored-value offer, e.g. pay 1000 get 1100 (principal 1000, bonus 100)."""

    name = models.CharField(_("name"), max_length=100)
    pay_amount = models.DecimalField(max_digits=12, decimal_places=2)
    bonus_amount = models.DecimalField(max_digits=12, decimal_places=2, default=0)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["pay_amount"]

    def __str__(self) -> str:
        return self.name


class PaymentPassword(models.Model):
    """A member's optional stored-value PIN, hashed; locked for a while after repeated mistakes."""

    member = models.OneToOneField("members.Member", on_delete=models.CASCADE, related_name="payment_password")
    password_hash = models.CharField(max_length=200)
    failed_attempts = models.PositiveSmallIntegerField(default=0)
    locked_until = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"payment password of {self.member_id}"


class PointsAdjustment(models.Model):
    """A points correction by hand, with its reason. Small ones apply at once; above the tenant's
    threshold a second person with approval rights applies or rejects it (never the requester)."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting for approval")
        APPLIED = "applied", _("Applied")
        REJECTED = "rejected", _("Rejected")

    member = models.ForeignKey("members.Member", on_delete=models.PROTECT, related_name="points_adjustments")
    amount = models.IntegerField()  # + credit, - debit
    reason = models.CharField(max_length=255)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    idempotency_key = models.CharField(max_length=120, unique=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_note = models.CharField(max_length=255, blank=True)
    entry = models.OneToOneField(PointsEntry, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["status", "id"], name="points_adjustment_status")]

    def __str__(self) -> str:
        return f"{self.amount:+d} ({self.status})"
