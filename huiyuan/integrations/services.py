"""Connections (save, test, switch off), the one way to reach a vendor (``vendor_call``: rate limit,
token refresh, retries where they help, and a line in the delivery log), and reading the log."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from huiyuan.platform.access import check_permission
from huiyuan.platform.audit import audit_record
from huiyuan.platform.errors import NotFound, ValidationFailed
from huiyuan.platform.phones import mask_phones_in

from .crypto import credentials_decrypt, credentials_encrypt
from .limits import rate_wait
from .models import Connection, VendorCall
from .registry import FINANCE_SYNC, PROVIDERS, Provider, TokenExpired, VendorError, provider_class

logger = logging.getLogger(__name__)
T = TypeVar("T")
MANAGE = "platform.integrations.manage"


# ---- connections --------------------------------------------------------------------------------
def connection_list(*, actor: Any) -> QuerySet[Connection]:
    check_permission(actor, MANAGE)
    return Connection.objects.all()


def connection_get(*, actor: Any, connection_id: int) -> Connection:
    connection = connection_list(actor=actor).filter(pk=connection_id).first()
    if connection is None:
        raise NotFound()
    return connection


def connection_save(
    *,
    actor: Any,
    provider: str,
    name: str,
    credentials: dict[str, Any],
    settings: dict[str, Any] | None = None,
    connection_id: int | None = None,
) -> Connection:
    """Create or change a connection. Secret fields left empty on an edit keep their stored value,
    so the console never has to show a secret to let an admin change something else."""
    check_permission(actor, MANAGE)
    cls = provider_class(provider)
    existing = connection_get(actor=actor, connection_id=connection_id) if connection_id else None
    stored = credentials_decrypt(existing.credentials) if existing else {}
    errors: dict[str, list[str]] = {}
    clean_credentials: dict[str, Any] = {}
    for field in cls.credential_fields:
        value = str((credentials or {}).get(field.name) or "").strip() or (
            stored.get(field.name, "") if field.secret else ""
        )
        if field.required and not value:
            errors[f"credentials.{field.name}"] = [_("Required.")]
        clean_credentials[field.name] = value
    clean_settings: dict[str, Any] = {}
    for field in cls.setting_fields:
        value = str((settings or {}).get(field.name) or field.default).strip()
        if field.required and not value:
            errors[f"settings.{field.name}"] = [_("Required.")]
        clean_settings[field.name] = value
    if not str(name or "").strip():
        errors["name"] = [_("Enter a name.")]
    if errors:
        raise ValidationFailed(fields=errors)
    with transaction.atomic():
        connection = existing or Connection(provider=provider)
        connection.name = name.strip()[:100]
        connection.credentials = credentials_encrypt(clean_credentials)
        connection.settings = clean_settings
        connection.last_test_ok = None  # changed credentials are untested
        connection.save()
        if existing is None and FINANCE_SYNC in cls.capabilities:
            from .finance import finance_daily_arm

            finance_daily_arm(connection)
        audit_record(
            actor=actor,
            action="integrations.connection.update" if existing else "integrations.connection.create",
            obj=connection,
            changes={"provider": provider, "settings": clean_settings},  # never the secrets
        )
    return connection


def connection_set_enabled(*, actor: Any, connection_id: int, enabled: bool) -> Connection:
    connection = connection_get(actor=actor, connection_id=connection_id)
    connection.enabled = enabled
    connection.save(update_fields=["enabled", "updated_at"])
    audit_record(
        actor=actor,
        action="integrations.connection.enable" if enabled else "integrations.connection.disable",
        obj=connection,
        changes={},
    )
    return connection


_providers: dict[tuple[str, int, str], Provider] = {}  # per process: SDK clients are costly to build


def provider_for(connection: Connection) -> Provider:
    """The connection's provider, reused while the connection is unchanged (an edit changes
    ``updated_at``, so new credentials are picked up at once)."""
    key = (connection.provider, connection.pk, connection.updated_at.isoformat() if connection.updated_at else "")
    provider = _providers.get(key)
    if provider is None:
        if len(_providers) > 1000:
            _providers.clear()
        provider = _providers[key] = PROVIDERS[connection.provider](
            connection, credentials_decrypt(connection.credentials)
        )
    return provider


def connection_test(*, actor: Any, connection_id: int) -> Connection:
    """Call the vendor with the stored credentials and record what it said, in words."""
    connection = connection_get(actor=actor, connection_id=connection_id)
    provider = provider_for(connection)
    try:
        message = vendor_call(connection, "test", "", provider.test, retries=0)
        ok = True
    except VendorError as exc:
        message, ok = vendor_error_text(exc), False
    connection.last_test_at, connection.last_test_ok, connection.last_test_message = timezone.now(), ok, message[:500]
    connection.save(update_fields=["last_test_at", "last_test_ok", "last_test_message"])
    return connection


def vendor_error_text(exc: VendorError) -> str:
    return f"{exc.code}: {exc}" if exc.code else str(exc)


def connection_for(capability: str) -> Connection | None:
    """The merchant's enabled connection offering ``capability`` (the first, by provider order)."""
    keys = [key for key, cls in PROVIDERS.items() if capability in cls.capabilities]
    return Connection.objects.filter(provider__in=keys, enabled=True).order_by("pk").first()


# ---- calling a vendor ---------------------------------------------------------------------------
def vendor_call(
    connection: Connection,
    operation: str,
    recipient: str,
    call: Callable[[], T],
    *,
    reference: str = "",
    retries: int = 2,
    on_token_expired: Callable[[], None] | None = None,
) -> T:
    """Call a vendor within its rate limit and log the outcome. An expired token is dropped and the
    call made once more; a transient failure is retried ``retries`` times with backoff (only for
    calls safe to repeat: sending an SMS is not, the vendor may have sent it, so senders pass 0 and
    leave the retry to the step, after the vendor said it did not send); a refusal is not retried."""
    provider = PROVIDERS[connection.provider]
    attempt, token_retried = 0, False
    while True:
        rate_wait(f"{connection.provider}:{connection.pk}", provider.rate_for(connection.settings or {}))
        started = time.monotonic()
        try:
            result = call()
        except TokenExpired as exc:
            _log(connection, operation, recipient, started, error=exc, final=token_retried, reference=reference)
            if token_retried or on_token_expired is None:
                raise
            on_token_expired()
            token_retried = True
            continue
        except VendorError as exc:
            final = not exc.retry or attempt >= retries
            _log(connection, operation, recipient, started, error=exc, final=final, reference=reference)
            if final:
                raise
            attempt += 1
            time.sleep(exc.wait if exc.wait is not None else min(0.5 * 2**attempt, 8.0))
            continue
        _log(connection, operation, recipient, started, result=result, reference=reference)
        return result


def _log(
    connection: Connection,
    operation: str,
    recipient: str,
    started: float,
    *,
    result: Any = None,
    error: VendorError | None = None,
    final: bool = True,
    reference: str = "",
) -> None:
    status = (
        VendorCall.Status.OK if error is None else (VendorCall.Status.FAILED if final else VendorCall.Status.RETRYING)
    )
    VendorCall.objects.create(
        connection=connection,
        provider=connection.provider,
        operation=operation,
        recipient=mask_phones_in(recipient)[:100],
        status=status,
        vendor_message_id=str(result)[:120] if error is None and isinstance(result, str) else "",
        error_code=(error.code if error else "")[:100],
        error_message=(str(error) if error else "")[:500],
        duration_ms=int((time.monotonic() - started) * 1000),
        reference=reference[:80],
    )


def call_log(*, actor: Any, connection_id: int | None = None, status: str = "") -> QuerySet[VendorCall]:
    check_permission(actor, MANAGE)
    qs = VendorCall.objects.select_related("connection")
    if connection_id:
        qs = qs.filter(connection_id=connection_id)
    if status:
        qs = qs.filter(status=status)
    return qs


# ---- SMS templates ------------------------------------------------------------------------------
def sms_template_save(
    *, actor: Any, connection_id: int, name: str, vendor_code: str, params: Any, template_id: int | None = None
) -> Any:
    """A vendor template and how our variables fill it: a mapping for Aliyun (named parameters), a
    list for Tencent (numbered parameters)."""
    from huiyuan.automation.messaging import template_check

    from .models import SmsTemplate

    connection = connection_get(actor=actor, connection_id=connection_id)
    errors: dict[str, list[str]] = {}
    if not str(name or "").strip():
        errors["name"] = [_("Enter a name.")]
    if not str(vendor_code or "").strip():
        errors["vendor_code"] = [_("Enter the template code the vendor approved.")]
    numbered = connection.provider == "tencent_sms"
    if numbered and not isinstance(params, list):
        errors["params"] = [_("Tencent templates take their parameters in order: one per line.")]
    if not numbered and not isinstance(params, dict):
        errors["params"] = [_("Aliyun templates take named parameters: name=value, one per line.")]
    if errors:
        raise ValidationFailed(fields=errors)
    for value in params if isinstance(params, list) else params.values():
        template_check(str(value), "params")
    template = SmsTemplate.objects.filter(pk=template_id, connection=connection).first() if template_id else None
    template = template or SmsTemplate(connection=connection)
    template.name, template.vendor_code, template.params = name.strip()[:100], vendor_code.strip()[:64], params
    template.save()
    audit_record(
        actor=actor, action="integrations.sms_template.save", obj=template, changes={"code": template.vendor_code}
    )
    return template


def sms_templates_available() -> QuerySet[Any]:
    """Templates of enabled SMS connections, for the rule editor."""
    from .models import SmsTemplate

    return SmsTemplate.objects.filter(connection__enabled=True).select_related("connection")
