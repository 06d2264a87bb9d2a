"""Daily rollups the reports read instead of millions of orders, and the dashboards staff compose.

``DailyStats`` holds one row per local day and store (the member's home store for member and ledger
figures, the selling store for orders); ``MemberMonth`` one row per member and month with orders,
for purchase frequency and repurchase. Both are rebuilt from the source tables by
``rollups.rollup_days`` (nightly for the last days, and after an order import for the days it
touched), so they can always be recomputed and never drift."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


def money() -> models.DecimalField:  # type: ignore[type-arg]
    return models.DecimalField(max_digits=16, decimal_places=2, default=0)


class DailyStats(models.Model):
    scope_store_field = "store"

    day = models.DateField()
    store = models.ForeignKey("platform.Store", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    new_members = models.IntegerField(default=0)
    orders = models.IntegerField(default=0)
    sales = money()  # paid amount of the day's orders
    refunds = money()  # refunded that day, whenever the order was
    points_issued = models.BigIntegerField(default=0)
    points_redeemed = models.BigIntegerField(default=0)
    points_expired = models.BigIntegerField(default=0)
    stored_principal_in = money()
    stored_bonus_in = money()
    stored_principal_out = money()
    stored_bonus_out = money()
    coupons_issued = models.IntegerField(default=0)
    coupons_redeemed = models.IntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["day", "store"], name="daily_stats_once", nulls_distinct=False)]
        indexes = [models.Index(fields=["day"])]

    def __str__(self) -> str:
        return f"{self.day} {self.store_id}"


class MemberMonth(models.Model):
    scope_store_field = "store"

    month = models.DateField()  # the first day of the month, local time
    member_id = models.BigIntegerField()
    store = models.ForeignKey("platform.Store", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    orders = models.IntegerField(default=0)
    sales = money()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["month", "member_id"], name="member_month_once")]
        indexes = [models.Index(fields=["month", "store"])]

    def __str__(self) -> str:
        return f"{self.month} {self.member_id}"


class Dashboard(models.Model):
    """Widgets (a report type, its parameters and a width) in the order the owner arranged them;
    kept for its owner, or shared with everyone of a role."""

    name = models.CharField(_("name"), max_length=100)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="dashboards")
    shared_role = models.CharField(_("shared with"), max_length=32, blank=True)
    widgets = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "pk"]

    def __str__(self) -> str:
        return self.name


class ReportSchedule(models.Model):
    """A dashboard (or the cockpit) sent to staff daily or weekly as a summary with a link. Each
    recipient gets the figures of their own stores."""

    class Frequency(models.TextChoices):
        DAILY = "daily", _("Daily")
        WEEKLY = "weekly", _("Weekly")

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    dashboard = models.ForeignKey(Dashboard, null=True, blank=True, on_delete=models.CASCADE, related_name="schedules")
    frequency = models.CharField(_("how often"), max_length=8, choices=Frequency.choices, default=Frequency.DAILY)
    weekday = models.PositiveSmallIntegerField(_("weekday"), default=0)  # 0 = Monday, for weekly ones
    hour = models.PositiveSmallIntegerField(_("hour"), default=8)  # local time
    recipients = models.ManyToManyField(settings.AUTH_USER_MODEL, related_name="+")
    by_email = models.BooleanField(_("by e-mail"), default=True)
    by_work_app = models.BooleanField(_("by WeCom / DingTalk"), default=False)
    last_sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.frequency} {self.dashboard_id or 'cockpit'}"
