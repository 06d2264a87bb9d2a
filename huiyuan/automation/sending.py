"""Sending a message through an outside vendor at most once, without losing it.

1. The step that decides to send writes the message ``queued`` in its own transaction and, right
   after commit, sends it from the same worker; it also sets a watchdog (a delivery due a little
   later) in case that worker dies before its claim.
2. The worker claims the message in a committed ``UPDATE … SET status = 'sending' WHERE status =
   'queued'`` and only then calls the vendor, then records the answer. A second copy of the task
   finds nothing to claim.
3. The watchdog: a message still ``queued`` is handed over again; one ``sending`` for longer than
   the lease was being sent when its worker died. Whether the vendor got it is unknown, so it is
   marked ``unconfirmed`` for staff and never sent again automatically: a member getting the same
   SMS twice is worse than staff deciding to resend one.
Failures the vendor says are worth retrying (throttling, unreachable before sending) put the
message back in the queue with backoff; refusals fail it for good."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from django.conf import settings as django_settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from huiyuan.platform.access import check_permission
from huiyuan.platform.audit import audit_record
from huiyuan.platform.events.registry import Event, subscribe
from huiyuan.platform.events.services import deliveries_schedule

from .models import Message
from .registry import CHANNELS, ActionFailed, ActionSkipped

logger = logging.getLogger(__name__)
WATCHDOG = "automation.message_watch"


def claim_lease() -> timedelta:
    """How long a claimed message may stay ``sending``: longer than any vendor call (10 s timeouts)."""
    return timedelta(seconds=django_settings.HUIYUAN_SEND_CLAIM_SECONDS)


def message_queue(message: Message) -> None:
    """Send the message right after the current transaction commits (the step runs in a worker: it
    sends it itself, with no second trip through the broker), and set its watchdog in case that
    worker dies first."""
    due = timezone.now() + claim_lease()
    deliveries_schedule(WATCHDOG, WATCHDOG, [({"message_id": message.pk}, due)])
    message_id = message.pk

    def send_now() -> None:
        try:
            message_send(message_id)
        except Exception:  # noqa: BLE001 - the message stays queued or sending; the watchdog takes it from there
            logger.exception("automation: sending message %s after commit failed", message_id)

    transaction.on_commit(send_now, robust=True)


def message_hand_over(message_id: int) -> None:
    """Queue a message for a worker (the watchdog, and staff resending, are not in one)."""
    from .tasks import send_message_task

    def hand_over() -> None:
        try:
            send_message_task.apply_async(args=[message_id], retry=False)
        except Exception as exc:  # noqa: BLE001 - the watchdog hands it over again
            logger.warning("automation: could not hand message %s over: %s", message_id, exc)

    transaction.on_commit(hand_over, robust=True)


def message_send(message_id: int) -> str:
    """Claim and send one message (runs outside any transaction: the claim must commit first)."""
    claimed = Message.objects.filter(pk=message_id, status=Message.Status.QUEUED).update(
        status=Message.Status.SENDING, claimed_at=timezone.now(), attempts=F("attempts") + 1
    )
    if not claimed:
        return "not queued"
    message = Message.objects.select_related("member").get(pk=message_id)
    channel = CHANNELS.get(message.channel)
    try:
        if channel is None:
            raise ActionSkipped(_("The channel %(c)s is not connected.") % {"c": message.channel})
        vendor_id = channel.send(
            member=message.member,
            address=message.address,
            subject=message.subject,
            body=message.body,
            message_id=message.pk,
            options=message.options,
        )
    except ActionSkipped as exc:
        _finish(message, Message.Status.FAILED, error=str(exc))
        return "failed"
    except ActionFailed as exc:
        if exc.retry and message.attempts < django_settings.HUIYUAN_AUTOMATION_MAX_ATTEMPTS:
            backoff = django_settings.HUIYUAN_AUTOMATION_RETRY_BASE * 2 ** (message.attempts - 1)
            with transaction.atomic():
                _finish(message, Message.Status.QUEUED, error=str(exc))
                deliveries_schedule(
                    WATCHDOG, WATCHDOG, [({"message_id": message.pk}, timezone.now() + timedelta(seconds=backoff))]
                )
            return "retrying"
        _finish(message, Message.Status.FAILED, error=str(exc))
        return "failed"
    Message.objects.filter(pk=message.pk, status=Message.Status.SENDING).update(
        status=Message.Status.SENT, vendor_message_id=str(vendor_id)[:120], sent_at=timezone.now(), error=""
    )
    return "sent"


def _finish(message: Message, status: str, *, error: str) -> None:
    Message.objects.filter(pk=message.pk, status=Message.Status.SENDING).update(status=status, error=error[:2000])


def _watch(event: Event) -> None:
    message = Message.objects.select_for_update().filter(pk=event.payload["message_id"]).first()
    if message is None:
        return
    if message.status == Message.Status.QUEUED:
        # Not sent yet (the sender died before its claim, or a retry is due): to a worker, and watched again.
        deliveries_schedule(WATCHDOG, WATCHDOG, [({"message_id": message.pk}, timezone.now() + claim_lease())])
        message_hand_over(message.pk)
    elif message.status == Message.Status.SENDING and message.claimed_at:
        if timezone.now() - message.claimed_at >= claim_lease():
            message.status = Message.Status.UNCONFIRMED
            message.error = _("The sender stopped while sending; the vendor may or may not have sent it.")
            message.save(update_fields=["status", "error"])
        else:
            deliveries_schedule(WATCHDOG, WATCHDOG, [({"message_id": message.pk}, message.claimed_at + claim_lease())])


subscribe(WATCHDOG, WATCHDOG, _watch, label=gettext_lazy("Messages to send"))


def messages_resend(*, message_ids: list[int], actor: Any = None) -> int:
    """Staff decided: send unconfirmed or failed messages again (of members they may see)."""
    qs = Message.objects.filter(pk__in=message_ids, status__in=[Message.Status.UNCONFIRMED, Message.Status.FAILED])
    if actor is not None:
        from huiyuan.members.selectors import member_list

        check_permission(actor, "automation.rule.manage")
        qs = qs.filter(member__in=member_list(actor=actor).values("pk"))
        audit_record(actor=actor, action="automation.message.resend", obj=None, changes={"messages": len(message_ids)})
    ids = list(qs.values_list("pk", flat=True))
    with transaction.atomic():
        Message.objects.filter(pk__in=ids).update(status=Message.Status.QUEUED, attempts=0, error="")
        due = timezone.now() + claim_lease()
        deliveries_schedule(WATCHDOG, WATCHDOG, [({"message_id": pk}, due) for pk in ids])
        for pk in ids:
            message_hand_over(pk)
    return len(ids)
