"""Dashboards: the default member cockpit, and the ones staff compose from report widgets, kept for
themselves or shared with a role. Exports of a report to CSV and XLSX."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils.translation import gettext as _

from huiyuan.platform.access import check_permission
from huiyuan.platform.audit import audit_record
from huiyuan.platform.errors import NotFound, ValidationFailed
from huiyuan.platform.roles import Role
from huiyuan.platform.spreadsheets import csv_bytes, xlsx_bytes

from .engine import REPORT_TYPES, ReportResult
from .models import Dashboard

WIDTHS = (4, 6, 12)
MAX_WIDGETS = 24

# The cockpit every manager opens first: key figures, tier mix, new members per month, top 10.
COCKPIT: list[dict[str, Any]] = [
    {"report": "kpis", "params": {}, "width": 12},
    {"report": "tier_mix", "params": {}, "width": 6},
    {"report": "growth", "params": {"granularity": "month"}, "width": 6},
    {"report": "top_spenders", "params": {"top": "10"}, "width": 12},
]


def dashboard_list(*, actor: Any) -> QuerySet[Dashboard]:
    """The actor's own dashboards and those shared with their role."""
    check_permission(actor, "reports.report.view")
    return Dashboard.objects.filter(Q(owner_id=actor.pk) | Q(shared_role=getattr(actor, "role", "-"))).select_related(
        "owner"
    )


def dashboard_get(*, actor: Any, dashboard_id: int) -> Dashboard:
    dashboard = dashboard_list(actor=actor).filter(pk=dashboard_id).first()
    if dashboard is None:
        raise NotFound()
    return dashboard


def clean_widgets(widgets: Any) -> list[dict[str, Any]]:
    if not isinstance(widgets, list) or len(widgets) > MAX_WIDGETS:
        raise ValidationFailed(fields={"widgets": [_("Send at most %(n)d widgets.") % {"n": MAX_WIDGETS}]})
    cleaned = []
    for index, widget in enumerate(widgets):
        if not isinstance(widget, dict) or widget.get("report") not in REPORT_TYPES:
            raise ValidationFailed(fields={f"widgets[{index}]": [_("Unknown report.")]})
        params = widget.get("params") or {}
        if not isinstance(params, dict) or not all(isinstance(v, str | int) for v in params.values()):
            raise ValidationFailed(fields={f"widgets[{index}].params": [_("Parameters are plain values.")]})
        try:
            width = int(widget.get("width") or 6)
        except (TypeError, ValueError):
            width = 6
        cleaned.append(
            {
                "report": widget["report"],
                "params": {str(k): str(v)[:64] for k, v in params.items()},
                "width": width if width in WIDTHS else 6,
            }
        )
    return cleaned


def dashboard_save(
    *, actor: Any, name: str, widgets: Any, shared_role: str = "", dashboard_id: int | None = None
) -> Dashboard:
    """Create or change a dashboard the actor owns (a shared one is changed by its owner only)."""
    check_permission(actor, "reports.report.view")
    errors: dict[str, list[str]] = {}
    if not name.strip() or len(name.strip()) > 100:
        errors["name"] = [_("Enter a name of at most 100 characters.")]
    if shared_role and shared_role not in Role.values:
        errors["shared_role"] = [_("Choose a role from the list.")]
    if errors:
        raise ValidationFailed(fields=errors)
    cleaned = clean_widgets(widgets)
    with transaction.atomic():
        if dashboard_id is None:
            dashboard = Dashboard.objects.create(
                owner_id=actor.pk, name=name.strip(), widgets=cleaned, shared_role=shared_role
            )
            audit_record(actor=actor, action="reports.dashboard.create", obj=dashboard)
        else:
            found = Dashboard.objects.select_for_update().filter(pk=dashboard_id, owner_id=actor.pk).first()
            if found is None:
                raise NotFound()
            dashboard = found
            dashboard.name, dashboard.widgets, dashboard.shared_role = name.strip(), cleaned, shared_role
            dashboard.save(update_fields=["name", "widgets", "shared_role", "updated_at"])
            audit_record(actor=actor, action="reports.dashboard.update", obj=dashboard)
    return dashboard


def dashboard_delete(*, actor: Any, dashboard_id: int) -> None:
    check_permission(actor, "reports.report.view")
    with transaction.atomic():
        dashboard = Dashboard.objects.filter(pk=dashboard_id, owner_id=actor.pk).first()
        if dashboard is None:
            raise NotFound()
        audit_record(actor=actor, action="reports.dashboard.delete", obj=dashboard)
        dashboard.delete()


def report_file(result: ReportResult, file_format: str) -> tuple[bytes, str]:
    """The report's table as a spreadsheet (cells that would start a formula are made text)."""
    headers = [str(label) for _key, label in result.columns]
    rows = [
        [row.get(key, "") if row.get(key) is not None else "" for key, _label in result.columns] for row in result.rows
    ]
    if file_format == "xlsx":
        content, _count = xlsx_bytes(result.title[:31], headers, rows)
        return content, "xlsx"
    content, _count = csv_bytes(headers, rows)
    return content, "csv"
