"""Console pages for integrations: connect a vendor, test it, switch it off, map SMS templates, and
read the delivery log (what was sent to whom, the vendor's id or error, in plain words)."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from huiyuan.integrations import services
from huiyuan.integrations.models import VendorCall
from huiyuan.integrations.registry import PROVIDERS, provider_class
from huiyuan.integrations.staff import staff_identities, staff_identities_save
from huiyuan.platform.errors import DomainError

from .forms import error_context
from .views import _guarded, _page

MANAGE = "platform.integrations.manage"


@_guarded(MANAGE)
def integration_list(request: HttpRequest) -> HttpResponse:
    status = request.GET.get("status", "")
    context = {
        "connections": services.connection_list(actor=request.user),
        "providers": [(key, cls.label) for key, cls in PROVIDERS.items()],
        "calls": _page(request, services.call_log(actor=request.user, status=status)),
        "call_status": status,
        "call_statuses": VendorCall.Status.choices,
    }
    return render(request, "console/integrations.html", context)


@_guarded(MANAGE)
def connection_edit(request: HttpRequest, connection_id: int | None = None) -> HttpResponse:
    connection = services.connection_get(actor=request.user, connection_id=connection_id) if connection_id else None
    provider_key = (
        connection.provider if connection else request.GET.get("provider", "") or request.POST.get("provider", "")
    )
    cls = provider_class(provider_key)
    context: dict[str, Any] = {"connection": connection, "provider": cls, "provider_key": provider_key}
    values: dict[str, Any] = {
        "name": connection.name if connection else str(cls.label),
        **(connection.settings if connection else {}),
    }
    if request.method == "POST":
        values = request.POST.dict()
        try:
            saved = services.connection_save(
                actor=request.user,
                provider=provider_key,
                name=values.get("name", ""),
                credentials={f.name: values.get(f"credential_{f.name}", "") for f in cls.credential_fields},
                settings={f.name: values.get(f"setting_{f.name}", "") for f in cls.setting_fields},
                connection_id=connection_id,
            )
            saved = services.connection_test(actor=request.user, connection_id=saved.pk)
            if saved.last_test_ok:
                messages.success(request, _("Connected: %(m)s") % {"m": saved.last_test_message})
            else:
                messages.error(request, _("Saved, but the vendor refused: %(m)s") % {"m": saved.last_test_message})
            return redirect("console:connection", connection_id=saved.pk)
        except DomainError as exc:
            context.update(error_context(exc))
    context["fields"] = [
        {"field": f, "kind": "credential", "value": "" if f.secret else values.get(f"credential_{f.name}", "")}
        for f in cls.credential_fields
    ] + [
        {"field": f, "kind": "setting", "value": values.get(f"setting_{f.name}", values.get(f.name, f.default))}
        for f in cls.setting_fields
    ]
    context["name"] = values.get("name", "")
    if connection is not None:
        context["templates"] = connection.sms_templates.all()
        context["numbered"] = connection.provider == "tencent_sms"
        context["calls"] = services.call_log(actor=request.user, connection_id=connection.pk)[:50]
        if "finance_sync" in cls.capabilities:
            context["documents"] = connection.documents.all()[:100]
        if connection.provider == "wecom":
            context["identities"] = "\n".join(staff_identities(actor=request.user, connection_id=connection.pk))
            context["callback_url"] = request.build_absolute_uri(f"/callbacks/wecom/{connection.pk}/")
    return render(request, "console/connection.html", context)


@require_POST
@_guarded(MANAGE)
def connection_action(request: HttpRequest, connection_id: int) -> HttpResponse:
    action = request.POST.get("do", "")
    if action == "test":
        tested = services.connection_test(actor=request.user, connection_id=connection_id)
        (messages.success if tested.last_test_ok else messages.error)(request, tested.last_test_message)
    elif action in ("enable", "disable"):
        services.connection_set_enabled(actor=request.user, connection_id=connection_id, enabled=action == "enable")
    elif action == "sync":
        from huiyuan.integrations.tasks import finance_sync_task

        services.connection_get(actor=request.user, connection_id=connection_id)
        finance_sync_task.delay(connection_id)
        messages.success(request, _("Sync started; the documents below fill in as it runs."))
    elif action == "identities":
        lines = [line.strip() for line in request.POST.get("identities", "").splitlines() if line.strip()]
        try:
            count = staff_identities_save(actor=request.user, connection_id=connection_id, lines=lines)
            messages.success(request, _("%(n)d staff members linked.") % {"n": count})
        except DomainError as exc:
            messages.error(request, " ".join(f"{k}: {' '.join(v)}" for k, v in exc.fields.items()))
    elif action == "template":
        connection = services.connection_get(actor=request.user, connection_id=connection_id)
        lines = [line.strip() for line in request.POST.get("params", "").splitlines() if line.strip()]
        params: Any
        if connection.provider == "tencent_sms":
            params = lines
        else:
            params = dict(line.split("=", 1) for line in lines if "=" in line)
            if len(params) != len(lines):
                messages.error(request, _("Write each parameter as name=value, one per line."))
                return redirect("console:connection", connection_id=connection_id)
        try:
            services.sms_template_save(
                actor=request.user,
                connection_id=connection_id,
                name=request.POST.get("name", ""),
                vendor_code=request.POST.get("vendor_code", ""),
                params={k.strip(): v.strip() for k, v in params.items()} if isinstance(params, dict) else params,
            )
            messages.success(request, _("SMS template saved."))
        except DomainError as exc:
            messages.error(request, " ".join(m for ms in exc.fields.values() for m in ms) or str(exc.message))
    return redirect("console:connection", connection_id=connection_id)


@_guarded(MANAGE)
def webhook_page(request: HttpRequest) -> HttpResponse:
    """Webhook endpoints: add one (its secret shown once), switch off, retry what gave up, read the tries."""
    from huiyuan.integrations import webhooks
    from huiyuan.platform.events.registry import EVENT_LABELS

    context: dict[str, Any] = {}
    if request.method == "POST":
        action = request.POST.get("do", "create")
        try:
            if action == "create":
                endpoint, secret = webhooks.endpoint_create(
                    actor=request.user,
                    url=request.POST.get("url", "").strip(),
                    event_types=request.POST.getlist("event_types"),
                    description=request.POST.get("description", ""),
                )
                context["new_secret"], context["new_endpoint"] = secret, endpoint
            elif action in ("enable", "disable"):
                webhooks.endpoint_set_enabled(
                    actor=request.user, endpoint_id=int(request.POST.get("endpoint", "0")), enabled=action == "enable"
                )
                return redirect("console:webhooks")
            elif action == "retry":
                count = webhooks.endpoint_retry_failed(
                    actor=request.user, endpoint_id=int(request.POST.get("endpoint", "0"))
                )
                messages.success(request, _("%(n)d events queued again.") % {"n": count})
                return redirect("console:webhooks")
        except DomainError as exc:
            context.update(error_context(exc), posted=request.POST)
    context.update(
        endpoints=webhooks.endpoint_list(actor=request.user),
        events=[(key, label) for key, label in EVENT_LABELS.items() if not key.startswith(webhooks.INTERNAL_PREFIXES)],
        attempts=_page(request, webhooks.attempts_log(actor=request.user)),
    )
    return render(request, "console/webhooks.html", context)
