"""Drive automation in the test's own transaction: publish what was recorded and handle every
delivery that is due, over and over until nothing is left. ``until`` is the test's clock: timers,
waits and retries due by then count as due (deliveries already sent are due at once)."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Q
from django.utils import timezone

from huiyuan.platform.events.models import Delivery
from huiyuan.platform.events.services import delivery_handle, publish_events
from huiyuan.platform.tenancy import current_schema


def drain(until: datetime | None = None, *, rounds: int = 50, send: bool = True) -> int:
    """``send``: also do what the send task does after a commit (which a test's transaction never
    makes) for messages queued and not yet tried; retries stay with the test."""
    from huiyuan.automation.models import Message
    from huiyuan.automation.sending import message_send

    handled = 0
    for _round in range(rounds):
        if send:
            for message_id in Message.objects.filter(status="queued", attempts=0).values_list("pk", flat=True):
                message_send(message_id)
        publish_events()
        due = list(
            Delivery.objects.filter(tenant_schema=current_schema(), status=Delivery.Status.PENDING)
            .filter(Q(dispatches__gte=1) | Q(next_attempt_at__lte=until or timezone.now()))
            .order_by("next_attempt_at", "pk")
            .values_list("pk", flat=True)
        )
        if not due and not (send and Message.objects.filter(status="queued", attempts=0).exists()):
            return handled
        for pk in due:
            if delivery_handle(pk) == "handled":
                handled += 1
    raise AssertionError("deliveries kept coming")
