"""Ready-made rules a merchant switches on in one click and then edits like any other rule."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from huiyuan.loyalty.models import CouponTemplate
from huiyuan.platform.errors import ValidationFailed

from .models import Rule
from .rules import rule_save, rule_set_status
from .workflow import task_types_ensure


@dataclass(frozen=True)
class RuleTemplate:
    key: str
    name: Any
    description: Any
    needs_coupon: bool

    def spec(self, coupon_id: int | None, care_type_id: int) -> dict[str, Any]:
        return SPECS[self.key](coupon_id, care_type_id)


def _coupon(coupon_id: int | None) -> list[dict[str, Any]]:
    return [{"type": "issue_coupon", "template_id": coupon_id}]


def _message(body: Any, subject: Any = "") -> dict[str, Any]:
    return {"type": "send_message", "channel": "inbox", "subject": str(subject), "body": str(body)}


SPECS: dict[str, Any] = {
    "welcome": lambda c, t: {
        "trigger": {"type": "event:member.created"},
        "actions": [
            *_coupon(c),
            _message(
                _(
                    "Welcome to {{merchant}}, {{name}}! "
                    "Here is a {{coupon}} for your next visit (code {{coupon_code}})."
                ),
                _("Welcome"),
            ),
        ],
        "guards": {"once_per": "ever"},
    },
    "birthday": lambda c, t: {
        "trigger": {"type": "schedule:birthday", "at": "09:00"},
        "actions": [
            *_coupon(c),
            _message(
                _("Happy birthday, {{name}}! A {{coupon}} is waiting for you until {{coupon_valid_until}}."),
                _("Happy birthday"),
            ),
        ],
        "guards": {"once_per": "natural"},
    },
    "points_expiring": lambda c, t: {
        "trigger": {"type": "schedule:points_expiring", "days": 30, "at": "10:00"},
        "actions": [
            _message(
                _("{{name}}, {{expiring_points}} of your points expire on {{expires_at}}. Use them before then."),
                _("Points expiring"),
            )
        ],
        "guards": {"once_per": "natural"},
    },
    "win_back": lambda c, t: {
        "trigger": {"type": "schedule:inactive", "days": 30, "at": "10:00"},
        "conditions": {"member": {"field": "m_score", "op": "gte", "value": 4}},
        "actions": [
            *_coupon(c),
            _message(_("We miss you, {{name}}! Come back with this {{coupon}}."), _("We miss you")),
        ],
        "guards": {"once_per": "natural"},
    },
    "churn_risk": lambda c, t: {
        # A regular (high frequency score) who has not come for 45 days: their store calls them.
        "trigger": {"type": "schedule:inactive", "days": 45, "at": "09:30"},
        "conditions": {"member": {"field": "f_score", "op": "gte", "value": 4}},
        "actions": [
            {
                "type": "create_task",
                "task_type_id": t,
                "title": str(_("Care call: {{name}} ({{card_no}}) has not visited for 45 days")),
                "role": "store_manager",
                "due_hours": 48,
            }
        ],
        "guards": {"once_per": "natural"},
    },
    "tier_upgrade": lambda c, t: {
        "trigger": {"type": "event:tier.changed"},
        "conditions": {"event": [{"field": "upgrade", "op": "eq", "value": "True"}]},
        "actions": [_message(_("Congratulations, {{name}}: you are now {{tier}}!"), _("New tier"))],
    },
    "low_balance": lambda c, t: {
        "trigger": {"type": "event:stored_value.low"},
        "actions": [
            _message(
                _("{{name}}, your stored value is down to ¥{{balance}}. Top up to keep your bonus."),
                _("Balance running low"),
            )
        ],
        "guards": {"once_per": "week"},
    },
}

GALLERY = [
    RuleTemplate(
        "welcome",
        gettext_lazy("Welcome message and new-member coupon"),
        gettext_lazy("When a member joins: a coupon and a welcome."),
        True,
    ),
    RuleTemplate(
        "birthday",
        gettext_lazy("Birthday greeting with coupon"),
        gettext_lazy("09:00 on the birthday (28 February for 29 February birthdays in other years)."),
        True,
    ),
    RuleTemplate(
        "points_expiring",
        gettext_lazy("Points expiring in 30 days"),
        gettext_lazy("Once per expiry date, at 10:00."),
        False,
    ),
    RuleTemplate(
        "win_back",
        gettext_lazy("Win back high-value members"),
        gettext_lazy("High spenders (M score 4–5) with no purchase in 30 days get a coupon."),
        True,
    ),
    RuleTemplate(
        "churn_risk",
        gettext_lazy("Churn-risk care task"),
        gettext_lazy("Regulars (F score 4–5) away for 45 days: a care call task for their store."),
        False,
    ),
    RuleTemplate(
        "tier_upgrade", gettext_lazy("Tier upgrade notice"), gettext_lazy("When a member moves up a tier."), False
    ),
    RuleTemplate(
        "low_balance",
        gettext_lazy("Low stored-value reminder"),
        gettext_lazy("When a spend takes the balance below the threshold in loyalty settings."),
        False,
    ),
]
GALLERY_BY_KEY = {t.key: t for t in GALLERY}


def template_install(*, actor: Any, key: str, coupon_template_id: int | None = None, activate: bool = True) -> Rule:
    """Create a rule from a template (switched on unless ``activate`` is false)."""
    template = GALLERY_BY_KEY.get(key)
    if template is None:
        raise ValidationFailed(fields={"key": [_("Unknown template.")]})
    if template.needs_coupon and coupon_template_id is None:
        first = CouponTemplate.objects.filter(active=True).order_by("pk").first()
        if first is None:
            raise ValidationFailed(
                fields={"coupon_template_id": [_("This template gives a coupon: create a coupon in Loyalty first.")]}
            )
        coupon_template_id = first.pk
    care = task_types_ensure().filter(key="care").first() or task_types_ensure().first()
    assert care is not None
    spec = template.spec(coupon_template_id, care.pk)
    with transaction.atomic():
        rule = rule_save(
            actor=actor,
            name=str(template.name),
            description=str(template.description),
            trigger=spec["trigger"],
            conditions=spec.get("conditions"),
            actions=spec["actions"],
            guards=spec.get("guards"),
            template_key=key,
        )
        if activate:
            rule = rule_set_status(actor=actor, rule_id=rule.pk, status=Rule.Status.ACTIVE)
    return rule
