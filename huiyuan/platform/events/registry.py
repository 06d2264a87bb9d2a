"""Subscribers to domain events. Automation and integrations register here in ``AppConfig.ready``;
the publisher sends one Celery task per (event, subscriber), so one failing subscriber retries alone."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Event:
    id: int
    type: str
    aggregate_type: str
    aggregate_id: str
    payload: dict[str, Any]


Handler = Callable[[Event], None]

_subscribers: dict[str, dict[str, Handler]] = {}


def subscribe(event_type: str, name: str, handler: Handler) -> None:
    """Register ``handler`` under a stable ``name`` (the name travels in the task message).
    ``event_type`` may be ``"*"`` for every event."""
    _subscribers.setdefault(event_type, {})[name] = handler


def unsubscribe(event_type: str, name: str) -> None:
    _subscribers.get(event_type, {}).pop(name, None)


def subscribers_for(event_type: str) -> dict[str, Handler]:
    return {**_subscribers.get("*", {}), **_subscribers.get(event_type, {})}
