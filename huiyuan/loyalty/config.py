"""Loyalty configuration a merchant edits without code: the points settings (earn rate, rounding,
cap, exclusions, expiry, redemption, reminders), earn rules, tiers, top-up plans and coupon
templates. Every change is validated field by field and audited with what it changed.

Checkout reads the configuration with every order, so a change applies from the next one."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import transaction
from django.db.models import Model, Q
from django.utils.translation import gettext as _

from huiyuan.members.models import Member, Store
from huiyuan.platform.access import check_permission
from huiyuan.platform.audit import audit_record
from huiyuan.platform.errors import NotFound, ValidationFailed

from .ledger import loyalty_settings
from .models import CouponTemplate, EarnRule, LoyaltySettings, Tier, TierChange, TopUpPlan

Errors = dict[str, list[str]]


def _decimal(raw: Any, field: str, errors: Errors, *, low: Decimal, high: Decimal, message: str) -> Decimal | None:
    try:
        value = Decimal(str(raw).strip())
    except (InvalidOperation, ValueError):
        errors[field] = [message]
        return None
    if not value.is_finite() or not low <= value <= high:
        errors[field] = [message]
        return None
    return value


def _int(raw: Any, field: str, errors: Errors, *, low: int, high: int, message: str) -> int | None:
    try:
        value = int(str(raw).strip())
    except ValueError:
        value = None
    if value is None or not low <= value <= high:
        errors[field] = [message]
        return None
    return value


def _choice(raw: Any, field: str, errors: Errors, choices: list[str]) -> str | None:
    if raw not in choices:
        errors[field] = [_("Choose one of: %(choices)s.") % {"choices": ", ".join(choices)}]
        return None
    return str(raw)


def _categories(raw: Any) -> list[str]:
    items = raw if isinstance(raw, list) else str(raw or "").replace("，", ",").replace("\n", ",").split(",")
    return sorted({str(item).strip() for item in items if str(item).strip()})


def _apply(obj: Model, values: dict[str, Any]) -> dict[str, list[str]]:
    """Set the values that differ; return them as ``{field: [old, new]}`` for the audit log."""
    changes = {}
    for name, value in values.items():
        old = getattr(obj, name)
        if old != value:
            changes[name] = [str(old), str(value)]
            setattr(obj, name, value)
    return changes


# ---- points settings ---------------------------------------------------------------------------
def _fixed(value: Any, places: int) -> str:
    return str(Decimal(str(value)).quantize(Decimal(1).scaleb(-places)))


def settings_data(settings: LoyaltySettings) -> dict[str, Any]:
    return {
        "points_per_yuan": _fixed(settings.points_per_yuan, 3),
        "points_rounding": settings.points_rounding,
        "max_points_per_order": settings.max_points_per_order,
        "excluded_categories": settings.excluded_categories or [],
        "points_expiry": settings.points_expiry,
        "points_expiry_months": settings.points_expiry_months,
        "points_per_yuan_redeemed": settings.points_per_yuan_redeemed,
        "max_points_share": _fixed(settings.max_points_share, 2),
        "bonus_use": settings.bonus_use,
        "tier_grace_days": settings.tier_grace_days,
        "expiry_reminder_days": settings.expiry_reminder_days,
        "adjustment_approval_points": settings.adjustment_approval_points,
    }


def loyalty_settings_update(*, actor: Any, data: dict[str, Any]) -> LoyaltySettings:
    """Change any of the settings given in ``data``; the others stay as they are."""
    check_permission(actor, "loyalty.config.manage")
    errors: Errors = {}
    values: dict[str, Any] = {}
    checks = {
        "points_per_yuan": lambda v: _decimal(
            v,
            "points_per_yuan",
            errors,
            low=Decimal(0),
            high=Decimal(1000),
            message=_("Points per yuan paid: 0 to 1000, e.g. 1 or 0.5."),
        ),  # fmt: skip
        "points_rounding": lambda v: _choice(v, "points_rounding", errors, LoyaltySettings.Rounding.values),
        "max_points_per_order": lambda v: (
            None
            if v in (None, "")
            else _int(
                v,
                "max_points_per_order",
                errors,
                low=1,
                high=10_000_000,
                message=_("A whole number of points, or empty for no cap."),
            )
        ),  # fmt: skip
        "excluded_categories": _categories,
        "points_expiry": lambda v: _choice(v, "points_expiry", errors, LoyaltySettings.Expiry.values),
        "points_expiry_months": lambda v: _int(
            v, "points_expiry_months", errors, low=1, high=120, message=_("1 to 120 months.")
        ),
        "points_per_yuan_redeemed": lambda v: _int(
            v,
            "points_per_yuan_redeemed",
            errors,
            low=1,
            high=100_000,
            message=_("How many points make one yuan at checkout, e.g. 100."),
        ),  # fmt: skip
        "max_points_share": lambda v: _decimal(
            v,
            "max_points_share",
            errors,
            low=Decimal(0),
            high=Decimal(1),
            message=_("The most of a bill points may pay: 0 to 1 (0.5 is half)."),
        ),  # fmt: skip
        "bonus_use": lambda v: _choice(v, "bonus_use", errors, LoyaltySettings.BonusUse.values),
        "tier_grace_days": lambda v: _int(v, "tier_grace_days", errors, low=0, high=3650, message=_("0 to 3650 days.")),
        "adjustment_approval_points": lambda v: _int(
            v,
            "adjustment_approval_points",
            errors,
            low=0,
            high=10_000_000,
            message=_("Manual adjustments above this many points need approval (0: all of them)."),
        ),  # fmt: skip
        "expiry_reminder_days": lambda v: _int(
            v, "expiry_reminder_days", errors, low=0, high=365, message=_("0 (no reminder) to 365 days.")
        ),
    }
    unknown = sorted(set(data) - set(checks))
    if unknown:
        errors["non_field_errors"] = [_("Unknown settings: %(names)s") % {"names": ", ".join(unknown)}]
    for name, check in checks.items():
        if name in data:
            values[name] = check(data[name])
    if errors:
        raise ValidationFailed(fields=errors)
    with transaction.atomic():
        settings = LoyaltySettings.objects.select_for_update().get(pk=loyalty_settings().pk)
        changes = _apply(settings, values)
        if changes:
            settings.save()
            audit_record(actor=actor, action="loyalty.settings.update", obj=settings, changes=changes)
    return settings


# ---- earn rules -------------------------------------------------------------------------------
def _rule_match(kind: str, raw: Any, errors: Errors) -> str:
    text = str(raw or "").strip()
    if kind == EarnRule.Kind.TIER:
        if not text.isdecimal() or not Tier.objects.filter(pk=int(text)).exists():
            errors["match"] = [_("Choose a tier.")]
    elif kind == EarnRule.Kind.STORE:
        if not text.isdecimal() or not Store.objects.filter(pk=int(text)).exists():
            errors["match"] = [_("Choose a store.")]
    elif kind == EarnRule.Kind.CATEGORY:
        if not text or len(text) > 64:
            errors["match"] = [_("Name the product category exactly as the POS sends it.")]
    elif kind == EarnRule.Kind.WEEKDAY:
        if text not in {str(d) for d in range(1, 8)}:
            errors["match"] = [_("A weekday from 1 (Monday) to 7 (Sunday).")]
    elif kind == EarnRule.Kind.BIRTHDAY_MONTH:
        text = ""
    return text


def earn_rule_create(*, actor: Any, data: dict[str, Any]) -> EarnRule:
    check_permission(actor, "loyalty.config.manage")
    errors: Errors = {}
    kind = _choice(data.get("kind"), "kind", errors, EarnRule.Kind.values)
    match = _rule_match(kind, data.get("match"), errors) if kind else ""
    multiplier = _decimal(
        data.get("multiplier"), "multiplier", errors, low=Decimal(0), high=Decimal(100),
        message=_("A multiplier from 0 to 100, e.g. 2 for double points."),
    )  # fmt: skip
    if not errors and EarnRule.objects.filter(kind=kind, match=match, active=True).exists():
        errors["match"] = [_("An active rule already covers this; change or deactivate it instead.")]
    if errors or kind is None or multiplier is None:
        raise ValidationFailed(fields=errors)
    with transaction.atomic():
        rule = EarnRule.objects.create(kind=kind, match=match, multiplier=multiplier)
        audit_record(actor=actor, action="loyalty.earn_rule.create", obj=rule, changes={"rule": str(rule)})
    return rule


def weekday_choices() -> list[tuple[str, str]]:
    """ISO weekday numbers, as member-day rules store them, with their names."""
    names = [_("Monday"), _("Tuesday"), _("Wednesday"), _("Thursday"), _("Friday"), _("Saturday"), _("Sunday")]
    return [(str(n), name) for n, name in enumerate(names, start=1)]


def earn_rule_labels(rules: list[EarnRule]) -> dict[int, str]:
    """What each rule applies to, in words: the tier's or store's name, the weekday, the category."""
    tiers = dict(Tier.objects.values_list("pk", "name"))
    stores = {pk: f"{code} {name}" for pk, code, name in Store.objects.values_list("pk", "code", "name")}
    weekdays = dict(weekday_choices())
    labels = {}
    for rule in rules:
        match = rule.match
        if rule.kind == EarnRule.Kind.TIER:
            label = tiers.get(int(match), match) if match.isdecimal() else match
        elif rule.kind == EarnRule.Kind.STORE:
            label = stores.get(int(match), match) if match.isdecimal() else match
        elif rule.kind == EarnRule.Kind.WEEKDAY:
            label = weekdays.get(match, match)
        else:
            label = match
        labels[rule.pk] = f"{rule.get_kind_display()}: {label}" if label else str(rule.get_kind_display())
    return labels


def earn_rule_update(*, actor: Any, rule_id: int, data: dict[str, Any]) -> EarnRule:
    """Change a rule's multiplier or switch it on or off (rules are kept: orders name them)."""
    check_permission(actor, "loyalty.config.manage")
    errors: Errors = {}
    values: dict[str, Any] = {}
    if "multiplier" in data:
        values["multiplier"] = _decimal(
            data["multiplier"], "multiplier", errors, low=Decimal(0), high=Decimal(100),
            message=_("A multiplier from 0 to 100, e.g. 2 for double points."),
        )  # fmt: skip
    if "active" in data:
        values["active"] = _flag(data["active"])
    if errors:
        raise ValidationFailed(fields=errors)
    with transaction.atomic():
        rule = EarnRule.objects.select_for_update().filter(pk=rule_id).first()
        if rule is None:
            raise NotFound()
        if values.get("active") and not rule.active:
            twin = EarnRule.objects.filter(kind=rule.kind, match=rule.match, active=True).exclude(pk=rule.pk)
            if twin.exists():
                raise ValidationFailed(fields={"active": [_("Another active rule covers this.")]})
        changes = _apply(rule, values)
        if changes:
            rule.save()
            audit_record(actor=actor, action="loyalty.earn_rule.update", obj=rule, changes=changes)
    return rule


def _flag(raw: Any) -> bool:
    return raw is True or str(raw).strip().lower() in {"1", "true", "on", "yes"}


# ---- tiers --------------------------------------------------------------------------------------
def tier_save(*, actor: Any, data: dict[str, Any], tier_id: int | None = None) -> Tier:
    """Create a tier (ranked above the others) or change one. Members move to a tier whose
    threshold they now reach at their next order, and down only at the periodic review."""
    check_permission(actor, "loyalty.config.manage")
    tier = None
    if tier_id is not None:
        tier = Tier.objects.filter(pk=tier_id).first()
        if tier is None:
            raise NotFound()
    errors: Errors = {}
    values: dict[str, Any] = {}
    if tier is None or "name" in data:
        name = str(data.get("name") or "").strip()
        if not name or len(name) > 50:
            errors["name"] = [_("Enter a name of at most 50 characters.")]
        elif Tier.objects.filter(name=name).exclude(pk=tier.pk if tier else 0).exists():
            errors["name"] = [_("Another tier has this name.")]
        values["name"] = name
    fields = {
        "threshold_spend": (Decimal(0), Decimal("1e10"), _("A spend of 0 or more.")),
        "discount_rate": (Decimal("0.1"), Decimal(1), _("Between 0.1 and 1 (0.95 means the member pays 95 percent).")),
        "points_multiplier": (Decimal(0), Decimal(10), _("Between 0 and 10.")),
    }
    for name, (low, high, message) in fields.items():
        if name in data and data[name] not in (None, ""):
            values[name] = _decimal(data[name], name, errors, low=low, high=high, message=message)
    if "window_days" in data:
        values["window_days"] = (
            None
            if data["window_days"] in (None, "")
            else _int(
                data["window_days"], "window_days", errors, low=1, high=3650,
                message=_("Days of spend that count (e.g. 365), or empty for all time."),
            )
        )  # fmt: skip
    if "birthday_gift" in data:
        values["birthday_gift"] = str(data["birthday_gift"] or "").strip()[:200]
    if "free_shipping" in data:
        values["free_shipping"] = _flag(data["free_shipping"])
    if errors:
        raise ValidationFailed(fields=errors)
    with transaction.atomic():
        if tier is None:
            rank = (Tier.objects.order_by("-rank").values_list("rank", flat=True).first() or 0) + 1
            tier = Tier.objects.create(rank=rank, **values)
            audit_record(actor=actor, action="loyalty.tier.create", obj=tier, changes={"tier": tier.name})
            return tier
        changes = _apply(tier, values)
        if changes:
            tier.save()
            audit_record(actor=actor, action="loyalty.tier.update", obj=tier, changes=changes)
    return tier


def tier_delete(*, actor: Any, tier_id: int) -> None:
    """Only a tier nobody holds or ever held can go; otherwise raise its threshold instead."""
    check_permission(actor, "loyalty.config.manage")
    with transaction.atomic():
        tier = Tier.objects.select_for_update().filter(pk=tier_id).first()
        if tier is None:
            raise NotFound()
        held = Member.objects.filter(tier=tier).count()
        history = TierChange.objects.filter(Q(to_tier=tier) | Q(from_tier=tier)).exists()
        if held or history:
            message = _("%(n)d members hold this tier, and its history stays. Change its threshold instead.")
            raise ValidationFailed(fields={"tier": [message % {"n": held}]})
        EarnRule.objects.filter(kind=EarnRule.Kind.TIER, match=str(tier.pk)).update(active=False)
        audit_record(actor=actor, action="loyalty.tier.delete", obj=tier, changes={"tier": tier.name})
        tier.delete()


# ---- plans and templates ------------------------------------------------------------------------
def topup_plan_set_active(*, actor: Any, plan_id: int, active: bool) -> TopUpPlan:
    """Plans are switched off, never deleted: top-ups name the plan they were bought under."""
    return _set_active(actor, TopUpPlan, plan_id, active, "loyalty.topup_plan")


def coupon_template_set_active(*, actor: Any, template_id: int, active: bool) -> CouponTemplate:
    """An inactive template issues no new coupons; coupons already issued stay usable."""
    return _set_active(actor, CouponTemplate, template_id, active, "loyalty.coupon_template")


def _set_active(actor: Any, model: type[Any], pk: int, active: bool, action: str) -> Any:
    check_permission(actor, "loyalty.config.manage")
    with transaction.atomic():
        obj = model.objects.select_for_update().filter(pk=pk).first()
        if obj is None:
            raise NotFound()
        if obj.active != active:
            obj.active = active
            obj.save(update_fields=["active"])
            audit_record(actor=actor, action=f"{action}.{'activate' if active else 'deactivate'}", obj=obj)
    return obj
