"""The member form designer: the merchant's own fields arranged in sections by drag and drop (or
the arrow buttons, for keyboards), each with who sees it, and a preview of the form as any role
will see it. Also the lifecycle thresholds, which shape the member profile too."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from huiyuan.members import custom_fields, stats
from huiyuan.members.fields import registry
from huiyuan.members.stores import store_list
from huiyuan.platform.errors import ValidationFailed
from huiyuan.platform.roles import Role

from .forms import error_context
from .views import _guarded

FIELD_INPUTS = ("label", "field_type", "key", "help_text", "choices", "min", "max", "section")


def _sections(fields: list[Any]) -> list[dict[str, Any]]:
    """Fields grouped by section in the designer's order; the untitled section last."""
    groups: dict[str, list[Any]] = {}
    for field in fields:
        groups.setdefault(field.section, []).append(field)
    named = [{"name": name, "fields": items} for name, items in groups.items() if name]
    return [*named, {"name": "", "fields": groups.get("", [])}]


def _config_from(values: dict[str, str]) -> dict[str, Any]:
    config: dict[str, Any] = {}
    if values.get("choices", "").strip():
        config["choices"] = [c.strip() for c in values["choices"].replace("，", ",").split(",") if c.strip()]
    for bound in ("min", "max"):
        if values.get(bound, "").strip():
            config[bound] = values[bound].strip()
    return config


@_guarded("members.field.manage")
def field_designer(request: HttpRequest) -> HttpResponse:
    everything = list(custom_fields.custom_field_list(include_archived=True))
    active = [f for f in everything if f.archived_at is None]
    type_labels = {k: t.label for k, t in registry.all_types().items()}
    context: dict[str, Any] = {
        "sections": _sections(active),
        "section_names": sorted({f.section for f in active if f.section}),
        "archived": [f for f in everything if f.archived_at is not None],
        "types": list(type_labels.items()),
        "type_labels": type_labels,
        "roles": Role.choices,
        "role_labels": dict(Role.choices),
        "values": {},
        "lifecycle": stats.member_settings(),
    }
    if request.method == "POST":
        action = request.POST.get("action", "create")
        field_id = request.POST.get("field_id", "")
        roles = request.POST.getlist("visible_roles")
        try:
            if action == "create":
                values = {k: request.POST.get(k, "") for k in FIELD_INPUTS}
                context["values"] = {**values, "visible_roles": roles}
                custom_fields.custom_field_create(
                    actor=request.user,
                    label=values["label"],
                    field_type=values["field_type"],
                    key=values["key"] or None,
                    required=bool(request.POST.get("required")),
                    unique=bool(request.POST.get("unique")),
                    config=_config_from(values),
                    help_text=values["help_text"],
                    section=values["section"],
                    visible_roles=roles,
                )
                messages.success(request, _("Field created."))
            elif action == "update" and field_id.isdecimal():
                custom_fields.custom_field_update(
                    actor=request.user,
                    field_id=int(field_id),
                    label=request.POST.get("label", ""),
                    section=request.POST.get("section", ""),
                    required=bool(request.POST.get("required")),
                    help_text=request.POST.get("help_text", ""),
                    visible_roles=roles,
                )
                messages.success(request, _("Field saved."))
            elif action == "lifecycle":
                stats.member_settings_update(
                    actor=request.user, **{name: request.POST.get(name, "") for name in stats.LIFECYCLE_FIELDS}
                )
                messages.success(request, _("Lifecycle thresholds saved."))
            elif action in ("archive", "restore") and field_id.isdecimal():
                custom_fields.custom_field_set_archived(
                    actor=request.user, field_id=int(field_id), archived=action == "archive"
                )
        except ValidationFailed as exc:
            context.update(error_context(exc))
            context["failed_field"] = field_id
        else:
            return redirect("console:fields")
    return render(request, "console/fields.html", context)


@require_POST
@_guarded("members.field.manage")
def field_layout(request: HttpRequest) -> HttpResponse:
    """The designer's drag and drop, saved as it happens: ``{"layout": [{"id", "section"}, …]}``."""
    try:
        body = json.loads(request.body or b"{}")
    except ValueError:
        body = None
    try:
        custom_fields.custom_field_layout(
            actor=request.user, layout=(body or {}).get("layout") if isinstance(body, dict) else None
        )
    except ValidationFailed as exc:
        return JsonResponse({"error": {"message": str(exc.message), "fields": exc.fields}}, status=400)
    return JsonResponse({"saved": True, "message": _("Layout saved.")})


@_guarded("members.field.manage")
def field_preview(request: HttpRequest) -> HttpResponse:
    """The enrolment form's own fields as staff of ``role`` will see them (nothing is saved)."""
    from .member_views import _custom_form_fields

    role = request.GET.get("role", Role.CASHIER)
    if role not in Role.values:
        role = Role.CASHIER
    return render(
        request,
        "console/_field_preview.html",
        {
            "custom": _custom_form_fields(None, role=role),
            "stores": store_list(actor=request.user),
            "role_label": dict(Role.choices)[role],
        },
    )
