"""Reports and dashboards in the console. A report page runs one report type with the parameters
in its form; a dashboard is a grid of widgets, each loaded on its own (htmx) so one slow widget
never holds the others, drawn with ECharts served locally, and each chart opens as its table."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from huiyuan.loyalty.selectors import tier_list
from huiyuan.members.stores import store_list
from huiyuan.platform import staff
from huiyuan.platform.access import can
from huiyuan.platform.downloads import file_download
from huiyuan.platform.errors import DomainError, ValidationFailed
from huiyuan.platform.roles import Role
from huiyuan.reports import dashboards
from huiyuan.reports.engine import GRANULARITIES, REPORT_TYPES, clean_params, report_run
from huiyuan.reports.models import ReportSchedule
from huiyuan.reports.types import DIMENSIONS, MEASURES

from .views import _guarded


def _granularities() -> list[tuple[str, str]]:
    labels = {"day": _("Day"), "week": _("Week"), "month": _("Month")}
    return [(g, labels[g]) for g in GRANULARITIES]


def _raw_params(query: QueryDict) -> dict[str, Any]:
    raw: dict[str, Any] = {k: v for k, v in query.items() if k not in ("report", "format", "stores", "tiers")}
    raw["stores"] = query.getlist("stores")
    raw["tiers"] = query.getlist("tiers")
    return raw


def _run(request: HttpRequest, query: QueryDict) -> tuple[Any, dict[str, list[str]], str]:
    key = query.get("report", "kpis")
    try:
        return report_run(actor=request.user, key=key, params=clean_params(_raw_params(query))), {}, ""
    except ValidationFailed as exc:
        return None, exc.fields, str(exc.message)


def _chart(result: Any) -> dict[str, Any]:
    """What reports.js needs to draw the chart: the hint, column labels and the rows."""
    return {
        "chart": result.chart,
        "labels": {key: str(label) for key, label in result.columns},
        "rows": result.plain_rows(),
    }


def _types_for(user: Any) -> list[Any]:
    return [t for t in REPORT_TYPES.values() if can(user, t.operation)]


@_guarded("reports.report.view")
def report_page(request: HttpRequest) -> HttpResponse:
    from huiyuan.members.custom_fields import custom_field_list

    key = request.GET.get("report", "sales")
    if key not in REPORT_TYPES:
        key = "sales"
    result, errors, error_message = _run(request, request.GET) if "report" in request.GET else (None, {}, "")
    campaigns: list[Any] = []
    if can(request.user, "automation.rule.manage"):
        from huiyuan.automation.campaigns import campaign_list

        campaigns = list(campaign_list(actor=request.user)[:50])
    query = request.GET.copy()
    query.pop("format", None)
    return render(
        request,
        "console/reports.html",
        {
            "types": _types_for(request.user),
            "current": REPORT_TYPES[key],
            "values": request.GET,
            "chosen_stores": request.GET.getlist("stores"),
            "chosen_tiers": request.GET.getlist("tiers"),
            "stores": store_list(actor=request.user),
            "tiers": tier_list(),
            "granularities": _granularities(),
            "dimensions": [(k, str(label)) for k, (label, _sql) in DIMENSIONS.items()]
            + [(f"custom.{f.key}", f.label) for f in custom_field_list() if f.field_type == "single_choice"],
            "measures": [(k, str(label)) for k, label in MEASURES.items()],
            "campaigns": campaigns,
            "result": result,
            "chart": _chart(result) if result is not None else None,
            "errors": errors,
            "error_message": error_message,
            "query": query.urlencode(),
            "dashboards": dashboards.dashboard_list(actor=request.user).filter(owner_id=request.user.pk),
        },
    )


@_guarded("reports.report.view")
def report_export(request: HttpRequest) -> HttpResponse:
    result, errors, error_message = _run(request, request.GET)
    if result is None:
        details = [m for ms in errors.values() for m in ms]
        return render(request, "console/error.html", {"message": error_message, "details": details}, status=400)
    content, extension = dashboards.report_file(result, "xlsx" if request.GET.get("format") == "xlsx" else "csv")
    return file_download(content, f"{request.GET.get('report', 'report')}.{extension}")


@_guarded("reports.report.view")
def report_widget(request: HttpRequest) -> HttpResponse:
    """One widget of a dashboard: its chart (or figures) and its table, loaded on its own."""
    result, errors, error_message = _run(request, request.GET)
    query = request.GET.copy()
    widget_id = "".join(c for c in request.GET.get("widget", "w") if c.isalnum())[:10] or "w"
    return render(
        request,
        "console/_report_widget.html",
        {
            "result": result,
            "chart": _chart(result) if result is not None else None,
            "errors": [m for ms in errors.values() for m in ms],
            "error_message": error_message,
            "query": query.urlencode(),
            "widget_id": widget_id,
            "data_id": f"{widget_id}-data",
        },
    )


def _widget_urls(widgets: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for index, widget in enumerate(widgets):
        query = QueryDict(mutable=True)
        query["report"] = widget["report"]
        query["widget"] = f"w{index}"
        for key, value in widget["params"].items():
            query[key] = value
        report = REPORT_TYPES.get(widget["report"])
        rows.append(
            {
                **widget,
                "query": query.urlencode(),
                "params_json": json.dumps(widget["params"], ensure_ascii=False),
                "label": str(report.label) if report else widget["report"],
            }
        )
    return rows


@_guarded("reports.report.view")
def dashboard_page(request: HttpRequest, dashboard_id: int | None = None) -> HttpResponse:
    """The cockpit (no id) or a composed dashboard; its owner can rearrange it in place."""
    dashboard = dashboards.dashboard_get(actor=request.user, dashboard_id=dashboard_id) if dashboard_id else None
    widgets = dashboard.widgets if dashboard else dashboards.COCKPIT
    return render(
        request,
        "console/dashboard.html",
        {
            "dashboard": dashboard,
            "widgets": _widget_urls(widgets),
            "widgets_json": json.dumps(widgets, ensure_ascii=False),
            "can_edit": dashboard is not None and dashboard.owner_id == request.user.pk,
            "all": dashboards.dashboard_list(actor=request.user),
            "types": _types_for(request.user),
            "roles": Role.choices,
            "schedules": _schedules(request, dashboard),
            "colleagues": [u for u in staff.staff_list(actor=request.user) if can(u, "reports.report.view")]
            if can(request.user, "platform.staff.view")
            else [request.user],
            "frequencies": ReportSchedule.Frequency.choices,
            "weekdays": [(i, label) for i, label in enumerate(_weekdays())],
            "hours": range(24),
        },
    )


def _weekdays() -> list[str]:
    return [_("Monday"), _("Tuesday"), _("Wednesday"), _("Thursday"), _("Friday"), _("Saturday"), _("Sunday")]


def _schedules(request: HttpRequest, dashboard: Any) -> list[Any]:
    qs = ReportSchedule.objects.filter(owner_id=request.user.pk, dashboard=dashboard).prefetch_related("recipients")
    return list(qs)


@require_POST
@_guarded("reports.report.view")
def dashboard_save(request: HttpRequest) -> HttpResponse:
    """Create (from the cockpit or a report: "add to dashboard"), rearrange, rename, share."""
    post = request.POST
    dashboard_id = int(post["dashboard"]) if post.get("dashboard", "").isdecimal() else None
    try:
        if post.get("action") == "delete" and dashboard_id:
            dashboards.dashboard_delete(actor=request.user, dashboard_id=dashboard_id)
            messages.success(request, _("Dashboard deleted."))
            return redirect("console:home")
        existing = dashboards.dashboard_get(actor=request.user, dashboard_id=dashboard_id) if dashboard_id else None
        if post.get("widgets"):
            widgets = json.loads(post["widgets"])
        elif existing is not None:
            widgets = existing.widgets
        else:  # a new dashboard: from a report, just that report; from the cockpit, a copy of it
            widgets = [] if post.get("add_report") else list(dashboards.COCKPIT)
        if post.get("add_report"):  # "add to dashboard" from a report page
            params = {k: v for k, v in QueryDict(post.get("add_params", "")).items() if k not in ("report", "format")}
            widgets.append({"report": post["add_report"], "params": params, "width": 6})
        name = post.get("name") or (existing.name if existing is not None else "")
        saved = dashboards.dashboard_save(
            actor=request.user,
            dashboard_id=dashboard_id,
            name=name,
            widgets=widgets,
            shared_role=post.get("shared_role", ""),
        )
    except ValueError:
        messages.error(request, _("The layout could not be read; nothing was changed."))
        return redirect(request.META.get("HTTP_REFERER") or "console:home")
    except DomainError as exc:
        messages.error(request, " ".join([str(exc.message), *(m for ms in exc.fields.values() for m in ms)]))
        return redirect(f"/dashboards/{dashboard_id}/" if dashboard_id else "/")
    messages.success(request, _("Dashboard saved."))
    return redirect("console:dashboard", dashboard_id=saved.pk)


@require_POST
@_guarded("reports.report.view")
def schedule_save(request: HttpRequest) -> HttpResponse:
    """Send this dashboard (or the cockpit) to colleagues daily or weekly; or stop a schedule."""
    from huiyuan.reports import schedules

    post = request.POST
    dashboard_id = int(post["dashboard"]) if post.get("dashboard", "").isdecimal() else None
    back = f"/dashboards/{dashboard_id}/" if dashboard_id else "/"
    try:
        if post.get("action") == "delete" and post.get("schedule", "").isdecimal():
            schedules.schedule_delete(actor=request.user, schedule_id=int(post["schedule"]))
            messages.success(request, _("The scheduled report was stopped."))
        else:
            schedules.schedule_save(
                actor=request.user,
                dashboard_id=dashboard_id,
                frequency=post.get("frequency", ""),
                weekday=post.get("weekday", "0"),
                hour=post.get("hour", ""),
                recipient_ids=[int(v) for v in post.getlist("recipients") if v.isdecimal()],
                by_email=bool(post.get("by_email")),
                by_work_app=bool(post.get("by_work_app")),
            )
            messages.success(request, _("Scheduled: the summary goes out at the chosen hour."))
    except DomainError as exc:
        messages.error(request, " ".join([str(exc.message), *(m for ms in exc.fields.values() for m in ms)]))
    return redirect(back)
