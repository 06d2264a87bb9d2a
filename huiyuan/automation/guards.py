"""Guards every rule and campaign obeys: quiet hours in local time, frequency caps per member
across all rules, and the merchant's daily budgets. (Consent is the channel's; "once per member
per period" is the run's unique key.)

Caps are counted under the member's row lock, which every step holds, so two rules cannot both
take a member's last message of the day. The merchant-wide budget is counted without a lock and
may be overshot by as many messages as there are workers at that moment."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, time, timedelta
from typing import Any

from django.core.cache import cache
from django.utils.translation import gettext as _

from huiyuan.loyalty.models import Coupon
from huiyuan.platform.access import check_permission
from huiyuan.platform.audit import audit_record
from huiyuan.platform.cache import cache_unavailable
from huiyuan.platform.errors import ValidationFailed
from huiyuan.platform.tenancy import tenant_timezone

from .models import AutomationSettings, Message
from .registry import ActionSkipped


def automation_settings() -> AutomationSettings:
    settings, _created = AutomationSettings.objects.get_or_create(pk=1)
    return settings


def _local_midnight(now: datetime) -> datetime:
    local = now.astimezone(tenant_timezone())
    return datetime.combine(local.date(), time.min, tzinfo=tenant_timezone())


def quiet_until(now: datetime, settings: AutomationSettings | None = None) -> datetime | None:
    """When quiet hours end, if ``now`` falls in them (they may span midnight: 21:00–09:00)."""
    settings = settings or automation_settings()
    start, end = settings.quiet_start, settings.quiet_end
    if start == end:
        return None
    local = now.astimezone(tenant_timezone())
    clock = local.time()
    inside = (start <= clock < end) if start < end else (clock >= start or clock < end)
    if not inside:
        return None
    end_at = datetime.combine(local.date(), end, tzinfo=tenant_timezone())
    return end_at if end_at > local else end_at + timedelta(days=1)


def message_allowed(*, member_id: int, now: datetime) -> None:
    settings = automation_settings()
    sent = Message.objects.filter(member_id=member_id).exclude(status=Message.Status.FAILED)
    if sent.filter(created_at__gt=now - timedelta(days=1)).count() >= settings.max_messages_per_member_day:
        raise ActionSkipped(_("This member already had the most messages allowed in a day."))
    if sent.filter(created_at__gt=now - timedelta(days=7)).count() >= settings.max_messages_per_member_week:
        raise ActionSkipped(_("This member already had the most messages allowed in a week."))

    def sent_today() -> int:
        return (
            Message.objects.filter(created_at__gte=_local_midnight(now)).exclude(status=Message.Status.FAILED).count()
        )

    if _take_from_budget("messages", now, settings.daily_message_budget, sent_today):
        raise ActionSkipped(_("Today's message budget is spent."))


def coupon_allowed(*, now: datetime) -> None:
    def issued_today() -> int:
        return Coupon.objects.filter(issue_key__startswith="automation:", issued_at__gte=_local_midnight(now)).count()

    if _take_from_budget("coupons", now, automation_settings().daily_coupon_budget, issued_today):
        raise ActionSkipped(_("Today's coupon budget is spent."))


def _take_from_budget(kind: str, now: datetime, budget: int, counted: Callable[[], int]) -> bool:
    """Count one against today's budget; True when it is spent. A counter per merchant and day in
    Redis (counting today's rows for each message would make a 100,000-message campaign quadratic),
    started from the database's count; with Redis down, the database's count is used directly."""
    key = f"automation-budget:{kind}:{_local_midnight(now).date().isoformat()}"
    if cache_unavailable():
        return counted() >= budget
    if cache.get(key) is None:
        cache.add(key, counted(), timeout=2 * 24 * 3600)
    return bool(cache.incr(key, 1) > budget)


SETTING_FIELDS = (
    "max_messages_per_member_day",
    "max_messages_per_member_week",
    "daily_message_budget",
    "daily_coupon_budget",
)


def automation_settings_update(*, actor: Any, data: dict[str, Any]) -> AutomationSettings:
    check_permission(actor, "automation.rule.manage")
    settings = automation_settings()
    errors: dict[str, list[str]] = {}
    for name in ("quiet_start", "quiet_end"):
        text = str(data.get(name, "")).strip()
        try:
            hour, minute = (int(part) for part in text.split(":")[:2])
            setattr(settings, name, time(hour, minute))
        except ValueError:
            errors[name] = [_("A time such as 21:00.")]
    for name in SETTING_FIELDS:
        text = str(data.get(name, "")).strip()
        if not text.isdecimal() or int(text) > 10_000_000:
            errors[name] = [_("A whole number.")]
        else:
            setattr(settings, name, int(text))
    if errors:
        raise ValidationFailed(fields=errors)
    settings.save()
    audit_record(
        actor=actor,
        action="automation.settings.update",
        obj=settings,
        changes={k: str(data.get(k)) for k in SETTING_FIELDS},
    )
    return settings
