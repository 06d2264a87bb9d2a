"""The registries of trigger, condition and action types, and the channels messages go through.
Each type is one small class keyed by a ``type`` string (the shape of ``members/fields``); the
console builds its editor from their ``params`` so nobody types JSON."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, ClassVar

from django.db.models import Q
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from huiyuan.platform.errors import ValidationFailed


@dataclass(frozen=True)
class Param:
    """One setting of a trigger or action, as the editor shows it."""

    name: str
    label: Any
    kind: str  # "int", "text", "longtext", "time", "coupon_template", "tag", "tier", "channel", "task_type",
    # "role", "segment"
    required: bool = True
    default: Any = None
    minimum: int | None = None
    maximum: int | None = None


def clean_params(params: tuple[Param, ...], config: dict[str, Any], path: str) -> dict[str, Any]:
    """Check a config against its params: whole numbers in range, text present, times as HH:MM."""
    if not isinstance(config, dict):
        raise ValidationFailed(fields={path: [_("Expected settings.")]})
    cleaned: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}
    for param in params:
        value = config.get(param.name, param.default)
        where = f"{path}.{param.name}"
        if value in (None, ""):
            if param.required:
                errors[where] = [_("Required.")]
            continue
        if param.kind in {"int", "coupon_template", "tag", "tier", "task_type", "segment", "sms_template"}:
            try:
                number = int(str(value).strip())
            except ValueError:
                errors[where] = [_("A whole number.")]
                continue
            if param.minimum is not None and number < param.minimum:
                errors[where] = [_("At least %(n)d.") % {"n": param.minimum}]
                continue
            if param.maximum is not None and number > param.maximum:
                errors[where] = [_("At most %(n)d.") % {"n": param.maximum}]
                continue
            cleaned[param.name] = number
        elif param.kind == "time":
            text = str(value).strip()
            try:
                hour, minute = (int(part) for part in text.split(":"))
                if not (0 <= hour < 24 and 0 <= minute < 60):
                    raise ValueError(text)
            except ValueError:
                errors[where] = [_("A time such as 09:00.")]
                continue
            cleaned[param.name] = f"{hour:02d}:{minute:02d}"
        else:
            text = str(value).strip()
            limit = 2000 if param.kind == "longtext" else 200
            if len(text) > limit:
                errors[where] = [_("At most %(n)d characters.") % {"n": limit}]
                continue
            cleaned[param.name] = text
    if errors:
        raise ValidationFailed(fields=errors)
    return cleaned


AT_PARAM = Param("at", gettext_lazy("At (local time)"), "time", default="09:00")


# ---- triggers -----------------------------------------------------------------------------------
class Trigger:
    type: ClassVar[str]
    label: ClassVar[Any]
    kind: ClassVar[str]  # "event" or "schedule"
    params: ClassVar[tuple[Param, ...]] = ()

    def clean(self, config: dict[str, Any]) -> dict[str, Any]:
        return clean_params(self.params, config, "trigger")


class EventTrigger(Trigger):
    kind = "event"
    event_type: ClassVar[str]

    def matches(self, config: dict[str, Any], payload: dict[str, Any]) -> bool:
        """Whether this event is the one a rule's trigger settings ask for (all of its type, here)."""
        return True

    def on_save(self, config: dict[str, Any]) -> None:
        """What saving a rule with this trigger sets in motion (nothing, here)."""

    def member_id(self, payload: dict[str, Any], aggregate_type: str, aggregate_id: str) -> int | None:
        member_id = payload.get("member_id") or (aggregate_id if aggregate_type == "member" else None)
        return int(member_id) if member_id not in (None, "") else None


class ScheduleTrigger(Trigger):
    """Runs once a day at a local time; picks the members it applies to on that local date."""

    kind = "schedule"

    def members(self, config: dict[str, Any], day: date, now: datetime) -> Q:
        raise NotImplementedError

    def period_sql(self, config: dict[str, Any], day: date) -> tuple[str, list[Any]]:
        """SQL (over ``members_member m``) for the period a member is reached once in."""
        return "%s", [day.isoformat()]


# ---- conditions ---------------------------------------------------------------------------------
class Condition:
    type: ClassVar[str]
    label: ClassVar[Any]


# ---- actions ------------------------------------------------------------------------------------
class ActionFailed(Exception):
    """An action could not be done. ``retry``: worth trying again later (a vendor timeout), not a
    configuration problem (a coupon template switched off) that no retry will mend."""

    def __init__(self, message: str, *, retry: bool = True):
        super().__init__(message)
        self.retry = retry


class ActionSkipped(Exception):
    """A guard said no (no consent, cap reached): recorded as skipped, never retried."""


@dataclass
class StepContext:
    step: Any
    run: Any
    member: Any
    config: dict[str, Any]
    now: datetime
    event: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        """Idempotency key of this step's effects: a retried step finds what it already did."""
        return f"automation:step:{self.step.pk}"


class Action:
    type: ClassVar[str]
    label: ClassVar[Any]
    params: ClassVar[tuple[Param, ...]] = ()
    sends_message: ClassVar[bool] = False
    issues_coupon: ClassVar[bool] = False

    def clean(self, config: dict[str, Any], path: str, actor: Any) -> dict[str, Any]:
        return clean_params(self.params, config, path)

    def execute(self, ctx: StepContext) -> dict[str, Any]:
        raise NotImplementedError


# ---- channels -----------------------------------------------------------------------------------
class Channel:
    """How a message reaches a member. Integrations add SMS, WeCom and others with one class each."""

    key: ClassVar[str]
    label: ClassVar[Any]
    consent_field: ClassVar[str | None] = None  # the member's opt-in for this channel
    # Sent by an outside vendor: after the step commits, claimed first, at most once (``sending.py``).
    external: ClassVar[bool] = True

    def address(self, member: Any) -> str | None:
        """Where to send, or None when the member cannot be reached this way."""
        raise NotImplementedError

    def clean_options(self, config: dict[str, Any], path: str) -> dict[str, Any]:
        """Check the channel's own settings of a message action (an SMS template); return them."""
        return {}

    def send(
        self, *, member: Any, address: str, subject: str, body: str, message_id: int, options: dict[str, Any]
    ) -> str:
        """Send; return the vendor's message id. Raise ``ActionFailed`` on failure (``retry``: the
        vendor says it did not send), ``ActionSkipped`` when it cannot be sent this way at all."""
        raise NotImplementedError


TRIGGERS: dict[str, Trigger] = {}
CONDITIONS: dict[str, Condition] = {}
ACTIONS: dict[str, Action] = {}
CHANNELS: dict[str, Channel] = {}


def register_trigger(trigger: Trigger) -> Trigger:
    TRIGGERS[trigger.type] = trigger
    return trigger


def register_action(cls: type[Action]) -> type[Action]:
    ACTIONS[cls.type] = cls()
    return cls


def register_channel(cls: type[Channel]) -> type[Channel]:
    CHANNELS[cls.key] = cls()
    return cls


def trigger_get(trigger_type: str) -> Trigger:
    if trigger_type not in TRIGGERS:
        raise ValidationFailed(fields={"trigger.type": [_("Unknown trigger %(t)s.") % {"t": trigger_type}]})
    return TRIGGERS[trigger_type]


def action_get(action_type: str, path: str = "actions") -> Action:
    if action_type not in ACTIONS:
        raise ValidationFailed(fields={f"{path}.type": [_("Unknown action %(t)s.") % {"t": action_type}]})
    return ACTIONS[action_type]
