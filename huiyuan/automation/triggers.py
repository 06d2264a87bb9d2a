"""Trigger types: domain events from the outbox (each handled once through the core's inbox) and
daily schedules at a local time in the merchant's time zone."""

from __future__ import annotations

import calendar
from datetime import date, datetime, time, timedelta
from typing import Any, ClassVar

from django.db.models import Exists, OuterRef, Q
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from huiyuan.loyalty.models import PointsLot
from huiyuan.members.models import Segment
from huiyuan.members.segments import segment_watch
from huiyuan.platform.errors import ValidationFailed
from huiyuan.platform.events.registry import EVENT_LABELS
from huiyuan.platform.tenancy import tenant_timezone

from .registry import AT_PARAM, EventTrigger, Param, ScheduleTrigger, register_trigger

# Events a rule can start from. Each is a trigger type "event:<type>".
TRIGGER_EVENTS = (
    "member.created",
    "member.updated",
    "order.paid",
    "order.refunded",
    "points.earned",
    "points.expiring",
    "tier.changed",
    "coupon.issued",
    "coupon.expiring",
    "stored_value.topped_up",
    "stored_value.low",
    "tag.added",
    "task.overdue",
)
EVENT_LABELS.setdefault("stored_value.low", _("Stored value running low"))
EVENT_LABELS.setdefault("tag.added", _("Tag added"))
EVENT_LABELS.setdefault("task.overdue", _("Task overdue"))


def _event_trigger(event_type: str) -> EventTrigger:
    cls = type(
        f"EventTrigger_{event_type.replace('.', '_')}",
        (EventTrigger,),
        {"type": f"event:{event_type}", "label": EVENT_LABELS[event_type], "event_type": event_type},
    )
    return cls()


for _event_type in TRIGGER_EVENTS:
    register_trigger(_event_trigger(_event_type))

EVENT_LABELS.setdefault("segment.entered", _("Member entered a segment"))


class SegmentEnteredTrigger(EventTrigger):
    """A member newly matches a saved segment (after an order, an edit, or as time passes)."""

    type = "event:segment.entered"
    label = _("Member entered a segment")
    event_type = "segment.entered"
    params = (Param("segment_id", _("Segment"), "segment"),)

    def clean(self, config: dict[str, Any]) -> dict[str, Any]:
        cleaned = super().clean(config)
        if not Segment.objects.filter(pk=cleaned["segment_id"]).exists():
            raise ValidationFailed(fields={"trigger.segment_id": [gettext("Choose a saved segment.")]})
        return cleaned

    def matches(self, config: dict[str, Any], payload: dict[str, Any]) -> bool:
        return str(payload.get("segment_id")) == str(config.get("segment_id"))

    def on_save(self, config: dict[str, Any]) -> None:
        segment_watch(config["segment_id"])


register_trigger(SegmentEnteredTrigger())


def _on_month_day(field: str, day: date) -> Q:
    """Members whose date (birthday, join day) falls on ``day``'s month and day; those born on
    29 February are greeted on the 28th in years without one. Date parts of datetimes are taken
    in the current time zone, which the engine sets to the merchant's."""
    q = Q(**{f"{field}__month": day.month, f"{field}__day": day.day})
    if day.month == 2 and day.day == 28 and not calendar.isleap(day.year):
        q |= Q(**{f"{field}__month": 2, f"{field}__day": 29})
    return q


class BirthdayTrigger(ScheduleTrigger):
    type = "schedule:birthday"
    label = _("On the member's birthday")
    params = (AT_PARAM,)

    def members(self, config: dict[str, Any], day: date, now: datetime) -> Q:
        return _on_month_day("birthday", day)

    def period_sql(self, config: dict[str, Any], day: date) -> tuple[str, list[Any]]:
        return "%s", [str(day.year)]  # once a year


class AnniversaryTrigger(ScheduleTrigger):
    type = "schedule:anniversary"
    label = _("On the anniversary of joining")
    params = (AT_PARAM,)

    def members(self, config: dict[str, Any], day: date, now: datetime) -> Q:
        # Joined on this local month and day in an earlier year.
        return _on_month_day("created_at", day) & Q(created_at__year__lt=day.year)

    def period_sql(self, config: dict[str, Any], day: date) -> tuple[str, list[Any]]:
        return "%s", [str(day.year)]


class InactiveTrigger(ScheduleTrigger):
    """Members who bought before and then not for N days: reached once per spell of inactivity."""

    type = "schedule:inactive"
    label = _("No purchase for some days")
    params = (Param("days", _("Days without a purchase"), "int", default=30, minimum=1, maximum=3650), AT_PARAM)

    def members(self, config: dict[str, Any], day: date, now: datetime) -> Q:
        cutoff = datetime.combine(day - timedelta(days=config["days"]), time.min, tzinfo=tenant_timezone())
        return Q(last_purchase_at__lt=cutoff)

    def period_sql(self, config: dict[str, Any], day: date) -> tuple[str, list[Any]]:
        # The spell starts at the last purchase: a new purchase and another quiet month reach them again.
        return "'since:' || to_char(m.last_purchase_at AT TIME ZONE 'UTC', 'YYYYMMDD')", []


class PointsExpiringTrigger(ScheduleTrigger):
    type = "schedule:points_expiring"
    label = _("Points expire within some days")
    params = (Param("days", _("Days before expiry"), "int", default=30, minimum=1, maximum=365), AT_PARAM)

    def members(self, config: dict[str, Any], day: date, now: datetime) -> Q:
        until = now + timedelta(days=config["days"])
        return Q(
            Exists(
                PointsLot.objects.filter(
                    member=OuterRef("pk"), remaining__gt=0, expires_at__gt=now, expires_at__lte=until
                )
            )
        )

    def period_sql(self, config: dict[str, Any], day: date) -> tuple[str, list[Any]]:
        # Once per expiry date: the first lot that will expire names the period.
        return (
            "'expiry:' || (SELECT to_char(min(l.expires_at) AT TIME ZONE 'UTC', 'YYYYMMDD') FROM loyalty_pointslot l"
            " WHERE l.member_id = m.id AND l.remaining > 0 AND l.expires_at > %s)",
            [datetime.combine(day, time.min, tzinfo=tenant_timezone())],
        )


for _cls in (BirthdayTrigger, AnniversaryTrigger, InactiveTrigger, PointsExpiringTrigger):
    register_trigger(_cls())


class ManualTrigger(ScheduleTrigger):
    """A campaign: started once by staff (now or at a set time) on a frozen audience."""

    type = "campaign"
    label = _("Campaign (started by staff)")
    params: ClassVar[tuple[Param, ...]] = ()

    def members(self, config: dict[str, Any], day: date, now: datetime) -> Q:
        return Q()

    def period_sql(self, config: dict[str, Any], day: date) -> tuple[str, list[Any]]:
        return "%s", ["campaign"]


register_trigger(ManualTrigger())
