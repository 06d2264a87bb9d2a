"""Scheduled reports: a dashboard's figures sent to staff daily or weekly, by e-mail and through
WeCom / DingTalk (the work-app cards of the integrations), each recipient's summary computed as
that recipient, so a store manager reads their own stores' numbers. Sent once per period: the
period is claimed before sending, so two workers never send it twice."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from huiyuan.platform.access import check_permission, has_operation
from huiyuan.platform.audit import audit_record
from huiyuan.platform.errors import NotFound, ValidationFailed
from huiyuan.platform.models import User
from huiyuan.platform.tenancy import tenant_timezone, tenant_url

from .dashboards import COCKPIT, dashboard_get
from .engine import clean_params, report_run
from .models import ReportSchedule

logger = logging.getLogger(__name__)
SUMMARY_ROWS = 5


def schedule_save(
    *,
    actor: Any,
    dashboard_id: int | None,
    frequency: str,
    weekday: Any,
    hour: Any,
    recipient_ids: list[int],
    by_email: bool,
    by_work_app: bool,
) -> ReportSchedule:
    check_permission(actor, "reports.report.view")
    errors: dict[str, list[str]] = {}
    if frequency not in ReportSchedule.Frequency.values:
        errors["frequency"] = [_("Choose daily or weekly.")]
    try:
        weekday, hour = int(weekday or 0), int(hour)
        if not (0 <= weekday <= 6 and 0 <= hour <= 23):
            raise ValueError
    except (TypeError, ValueError):
        errors["hour"] = [_("Choose a day of the week and an hour between 0 and 23.")]
    recipients = list(User.objects.filter(pk__in=recipient_ids, is_active=True))
    recipients = [u for u in recipients if has_operation(u, "reports.report.view")]
    if not recipients:
        errors["recipients"] = [_("Choose at least one colleague who may read reports.")]
    if not (by_email or by_work_app):
        errors["channels"] = [_("Send by e-mail, by WeCom / DingTalk, or both.")]
    if errors:
        raise ValidationFailed(fields=errors)
    if dashboard_id is not None:
        dashboard_get(actor=actor, dashboard_id=dashboard_id)  # one the actor may see
    with transaction.atomic():
        schedule = ReportSchedule.objects.create(
            owner_id=actor.pk,
            dashboard_id=dashboard_id,
            frequency=frequency,
            weekday=weekday,
            hour=hour,
            by_email=by_email,
            by_work_app=by_work_app,
        )
        schedule.recipients.set(recipients)
        audit_record(actor=actor, action="reports.schedule.create", obj=schedule)
    return schedule


def schedule_delete(*, actor: Any, schedule_id: int) -> None:
    check_permission(actor, "reports.report.view")
    schedule = ReportSchedule.objects.filter(pk=schedule_id, owner_id=actor.pk).first()
    if schedule is None:
        raise NotFound()
    audit_record(actor=actor, action="reports.schedule.delete", obj=schedule)
    schedule.delete()


def _period_start(schedule: ReportSchedule, now: datetime) -> datetime | None:
    """The moment the current period's sending fell due (local time), or None if not yet today."""
    local = now.astimezone(tenant_timezone())
    due = local.replace(hour=schedule.hour, minute=0, second=0, microsecond=0)
    if schedule.frequency == ReportSchedule.Frequency.WEEKLY:
        due -= timedelta(days=(local.weekday() - schedule.weekday) % 7)
    if due > local:
        due -= timedelta(days=7 if schedule.frequency == ReportSchedule.Frequency.WEEKLY else 1)
    return due


def summary_for(user: User, widgets: list[dict[str, Any]]) -> list[str]:
    """The dashboard's figures as lines of text, computed as ``user`` (their stores only)."""
    lines: list[str] = []
    for widget in widgets:
        try:
            result = report_run(actor=user, key=widget["report"], params=clean_params(dict(widget["params"])))
        except Exception:  # noqa: BLE001 - one widget that fails must not stop the others' summary
            logger.exception("reports: widget %s failed in a scheduled summary", widget.get("report"))
            continue
        lines.append(f"【{result.title}】")
        if result.chart.get("type") == "kpi":
            lines += [f"{row['label']}: {row['value'] if row['value'] is not None else '—'}" for row in result.rows]
        else:
            keys = [key for key, _label in result.columns]
            for row in result.rows[:SUMMARY_ROWS]:
                lines.append(" · ".join(str(row.get(key, "")) for key in keys[:3]))
        if result.note:
            lines.append(result.note)
    return lines


def schedules_send_due(*, now: datetime | None = None) -> int:
    """Send every schedule whose period has come and was not sent yet; answers how many sent."""
    now = now or timezone.now()
    sent = 0
    for schedule in ReportSchedule.objects.select_related("dashboard").prefetch_related("recipients"):
        due = _period_start(schedule, now)
        if due is None or (schedule.last_sent_at and schedule.last_sent_at >= due):
            continue
        # Claim the period first: a second worker finds it taken (at most once, like messages).
        claimed = ReportSchedule.objects.filter(pk=schedule.pk, last_sent_at=schedule.last_sent_at).update(
            last_sent_at=now
        )
        if not claimed:
            continue
        _send(schedule)
        sent += 1
    return sent


def _send(schedule: ReportSchedule) -> None:
    widgets = schedule.dashboard.widgets if schedule.dashboard else COCKPIT
    name = schedule.dashboard.name if schedule.dashboard else _("Member cockpit")
    link = tenant_url(f"/dashboards/{schedule.dashboard_id}/" if schedule.dashboard_id else "/")
    subject = _("%(name)s · %(day)s") % {"name": name, "day": timezone.localdate(timezone=tenant_timezone())}
    for user in schedule.recipients.all():
        lines = summary_for(user, widgets)
        body = "\n".join([*lines, "", _("Open it: %(url)s") % {"url": link}])
        if schedule.by_email and user.email and settings.HUIYUAN_EMAIL_CONFIGURED:
            try:
                EmailMultiAlternatives(subject=subject, body=body, to=[user.email]).send()
            except OSError:
                logger.warning("reports: the summary e-mail to user %s could not be sent", user.pk)
        if schedule.by_work_app:
            _send_work_app(user, subject, "\n".join(lines[:12]), link)


def _send_work_app(user: User, title: str, description: str, url: str) -> None:
    """A card in WeCom / DingTalk for every enabled connection that knows this colleague."""
    from huiyuan.integrations.registry import VendorError
    from huiyuan.integrations.services import vendor_call
    from huiyuan.integrations.staff import staff_reachable

    for connection, provider, identities in staff_reachable([user.pk]):
        external_id = identities[0].split(":", 1)[0]

        def send(provider: Any = provider, external_id: str = external_id) -> str:
            return str(
                provider.send_card(to=[external_id], title=title, description=description, url=url, button=_("Open"))
            )

        try:
            vendor_call(connection, "report_summary", external_id, send, reference="report", retries=1)
        except VendorError:
            logger.warning("reports: %s refused a report summary; it is in the vendor log", connection)
