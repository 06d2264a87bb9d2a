"""Outbound webhooks: merchants subscribe URLs to events; each event is POSTed as JSON, signed, and
retried with backoff until the receiver answers 2xx (then given up after a day, visible in the log).

Signature: ``X-Huiyuan-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>``.
Receivers recompute it and refuse a ``t`` more than 5 minutes old (the replay window); the event id
in ``X-Huiyuan-Event-Id`` (also in the body) lets them drop a retry they already handled: delivery is
at least once."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from datetime import timedelta
from typing import Any

import httpx
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from huiyuan.platform.access import check_permission
from huiyuan.platform.audit import audit_record
from huiyuan.platform.errors import NotFound, ValidationFailed
from huiyuan.platform.events.models import OutboxEvent
from huiyuan.platform.events.registry import EVENT_LABELS, Event, subscribe
from huiyuan.platform.events.services import deliveries_schedule, tenant_opt_in
from huiyuan.platform.tenancy import current_schema

from .crypto import credentials_decrypt, credentials_encrypt
from .models import WebhookAttempt, WebhookEndpoint

SEND = "integrations.webhook"
FAN_OUT = "integrations.webhooks"
MANAGE = "platform.integrations.manage"
MAX_ATTEMPTS = 10  # 30 s doubling: the last try about a day after the first
BASE_DELAY = 30.0
# What goes out: business events, not our own plumbing (automation steps, timers).
INTERNAL_PREFIXES = ("automation.", "tests.")


def sign(secret: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def signature_valid(secret: str, header: str, body: bytes, *, now: float | None = None, window: int = 300) -> bool:
    """What a receiver does (and our tests, as one)."""
    try:
        fields = dict(part.split("=", 1) for part in header.split(","))
        stamp = int(fields["t"])
    except (KeyError, ValueError):
        return False
    if abs((now or time.time()) - stamp) > window:
        return False
    return hmac.compare_digest(sign(secret, stamp, body), header)


def endpoint_list(*, actor: Any) -> QuerySet[WebhookEndpoint]:
    check_permission(actor, MANAGE)
    return WebhookEndpoint.objects.all()


def endpoint_create(
    *, actor: Any, url: str, event_types: list[str], description: str = ""
) -> tuple[WebhookEndpoint, str]:
    """A new endpoint and its signing secret (shown once)."""
    check_permission(actor, MANAGE)
    errors: dict[str, list[str]] = {}
    parsed = httpx.URL(url) if str(url).startswith(("https://", "http://")) else None
    if parsed is None or not parsed.host:
        errors["url"] = [_("A web address starting with https://.")]
    known = set(EVENT_LABELS) | {"*"}
    chosen = sorted({str(t) for t in event_types or []})
    if not chosen or any(t not in known for t in chosen):
        errors["event_types"] = [_("Choose the events to send.")]
    if errors:
        raise ValidationFailed(fields=errors)
    secret = "whsec_" + secrets.token_urlsafe(24)
    endpoint = WebhookEndpoint.objects.create(
        url=url, secret=credentials_encrypt({"secret": secret}), event_types=chosen, description=description[:200]
    )
    tenant_opt_in(FAN_OUT, True)
    audit_record(
        actor=actor, action="integrations.webhook.create", obj=endpoint, changes={"url": url, "events": chosen}
    )
    return endpoint, secret


def endpoint_set_enabled(*, actor: Any, endpoint_id: int, enabled: bool) -> WebhookEndpoint:
    endpoint = endpoint_list(actor=actor).filter(pk=endpoint_id).first()
    if endpoint is None:
        raise NotFound()
    endpoint.enabled = enabled
    endpoint.save(update_fields=["enabled"])
    tenant_opt_in(FAN_OUT, WebhookEndpoint.objects.filter(enabled=True).exists())
    return endpoint


def _fan_out(event: Event) -> None:
    """Each event, once: one send per endpoint that wants it."""
    if event.type.startswith(INTERNAL_PREFIXES):
        return
    wanted = [
        e.pk
        for e in WebhookEndpoint.objects.filter(enabled=True)
        if "*" in e.event_types or event.type in e.event_types
    ]
    payload = {"id": event.id, "type": event.type, "data": event.payload}
    deliveries_schedule(SEND, SEND, [({"endpoint_id": pk, "event": payload, "attempt": 1}, None) for pk in wanted])


def _send(event: Event) -> None:
    """One POST; the outcome is logged and a failure schedules the next try (in this transaction)."""
    endpoint = WebhookEndpoint.objects.filter(pk=event.payload["endpoint_id"]).first()
    if endpoint is None or not endpoint.enabled:
        return
    body_event = event.payload["event"]
    attempt = int(event.payload.get("attempt", 1))
    body = json.dumps({**body_event, "attempt": attempt}, ensure_ascii=False, cls=DjangoJSONEncoder).encode()
    secret = credentials_decrypt(endpoint.secret)["secret"]
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Huiyuan-Webhooks/1",
        "X-Huiyuan-Event": body_event["type"],
        "X-Huiyuan-Event-Id": str(body_event["id"]),
        "X-Huiyuan-Signature": sign(secret, int(time.time()), body),
    }
    started = time.monotonic()
    status, error = None, ""
    try:
        reply = httpx.post(endpoint.url, content=body, headers=headers, timeout=10.0)
        status = reply.status_code
        if not 200 <= status < 300:
            error = reply.text[:300]
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}"[:300]
    ok = status is not None and 200 <= status < 300
    final = ok or attempt >= MAX_ATTEMPTS
    WebhookAttempt.objects.create(
        endpoint=endpoint,
        event_id=body_event["id"],
        event_type=body_event["type"],
        attempt=attempt,
        status_code=status,
        ok=ok,
        final=final,
        error=error,
        duration_ms=int((time.monotonic() - started) * 1000),
    )
    if not final:
        due = timezone.now() + timedelta(seconds=BASE_DELAY * 2 ** (attempt - 1))
        deliveries_schedule(SEND, SEND, [({**event.payload, "attempt": attempt + 1}, due)])


def attempts_log(*, actor: Any, endpoint_id: int | None = None) -> QuerySet[WebhookAttempt]:
    check_permission(actor, MANAGE)
    qs = WebhookAttempt.objects.select_related("endpoint")
    return qs.filter(endpoint_id=endpoint_id) if endpoint_id else qs


def endpoint_retry_failed(*, actor: Any, endpoint_id: int) -> int:
    """Send again the events whose last try gave up."""
    check_permission(actor, MANAGE)
    given_up = WebhookAttempt.objects.filter(endpoint_id=endpoint_id, final=True, ok=False)
    with transaction.atomic():
        events = OutboxEvent.objects.filter(
            tenant_schema=current_schema(), pk__in=given_up.values_list("event_id", flat=True)
        )
        items: list[tuple[dict[str, Any], Any]] = [
            (
                {
                    "endpoint_id": endpoint_id,
                    "event": {"id": e.pk, "type": e.event_type, "data": e.payload},
                    "attempt": 1,
                },
                None,
            )
            for e in events
        ]
        given_up.update(final=False)
        deliveries_schedule(SEND, SEND, items)
    return len(items)


subscribe("*", FAN_OUT, _fan_out, label=gettext_lazy("Webhooks to merchants' systems"), opt_in=True)
subscribe(SEND, SEND, _send, label=gettext_lazy("Webhook sends"))
