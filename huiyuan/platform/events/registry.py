"""Subscribers to domain events. Automation and integrations register here in ``AppConfig.ready``;
the publisher sends one Celery task per (event, subscriber), so one failing subscriber retries alone."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext_lazy as _


@dataclass(frozen=True)
class Event:
    id: int
    type: str
    aggregate_type: str
    aggregate_id: str
    payload: dict[str, Any]


Handler = Callable[[Event], None]

_subscribers: dict[str, dict[str, Handler]] = {}
_subscriber_labels: dict[str, Any] = {}

# What staff read for an event type (the console lists deliveries by event); unknown types show
# their code.
EVENT_LABELS: dict[str, Any] = {
    "member.created": _("New member"),
    "member.updated": _("Member changed"),
    "member.merged": _("Members merged"),
    "member.deleted": _("Member deleted"),
    "member.imported": _("Members imported"),
    "order.paid": _("Order paid"),
    "order.refunded": _("Order refunded"),
    "order.imported": _("Orders imported"),
    "points.earned": _("Points earned"),
    "points.expiring": _("Points about to expire"),
    "points.expired": _("Points expired"),
    "tier.changed": _("Tier changed"),
    "coupon.issued": _("Coupon issued"),
    "coupon.redeemed": _("Coupon used"),
    "coupon.expiring": _("Coupon about to expire"),
    "stored_value.topped_up": _("Stored value topped up"),
    "stored_value.spent": _("Stored value spent"),
}


OPT_IN: set[str] = set()  # subscribers that get deliveries only from tenants that asked (``TenantSubscription``)


def subscribe(event_type: str, name: str, handler: Handler, *, label: Any = None, opt_in: bool = False) -> None:
    """Register ``handler`` under a stable ``name`` (the name travels in the task message) and the
    ``label`` staff read for it. ``event_type`` may be ``"*"`` for every event. ``opt_in``: only
    tenants with a ``TenantSubscription`` row for ``name`` get deliveries (webhooks: most merchants
    have none, and every event would otherwise cost them a delivery)."""
    _subscribers.setdefault(event_type, {})[name] = handler
    if label is not None:
        _subscriber_labels[name] = label
    if opt_in:
        OPT_IN.add(name)


def event_label(event_type: str) -> str:
    return str(EVENT_LABELS.get(event_type, event_type))


def subscriber_label(name: str) -> str:
    return str(_subscriber_labels.get(name, name))


def unsubscribe(event_type: str, name: str) -> None:
    _subscribers.get(event_type, {}).pop(name, None)


def subscribers_for(event_type: str) -> dict[str, Handler]:
    return {**_subscribers.get("*", {}), **_subscribers.get(event_type, {})}
