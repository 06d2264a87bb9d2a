"""Console pages for automation: rules (list, template gallery, editor built from pickers, dry run,
runs log), campaigns from a segment (preview, cost, hold-out, confirm), staff tasks and the flow
designer. Forms post plain fields; the services validate and name what is wrong."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from huiyuan.automation import campaigns, gallery, rules, selectors, workflow
from huiyuan.automation.guards import automation_settings, automation_settings_update
from huiyuan.automation.messaging import VARIABLES
from huiyuan.automation.models import Rule, Step
from huiyuan.automation.registry import ACTIONS, CHANNELS, TRIGGERS
from huiyuan.integrations.services import sms_templates_available
from huiyuan.loyalty.models import CouponTemplate, Tier
from huiyuan.members.models import Segment, Tag
from huiyuan.members.segments import condition_catalogue, rows_from_rule, rule_from_rows, segment_list
from huiyuan.platform.access import can
from huiyuan.platform.errors import DomainError, ValidationFailed
from huiyuan.platform.models import User
from huiyuan.platform.roles import Role
from huiyuan.platform.tenancy import tenant_timezone

from .forms import error_context
from .views import _guarded, _page

ACTION_PARAM_NAMES = sorted({p.name for a in ACTIONS.values() for p in a.params})
ONCE_PER_LABELS = {
    "event": _("every time it happens"),
    "natural": _("once per occasion (birthday: once a year)"),
    "day": _("once a day"),
    "week": _("once a week"),
    "month": _("once a month"),
    "year": _("once a year"),
    "ever": _("only once, ever"),
}


def _pickers(request: HttpRequest) -> dict[str, Any]:
    """Everything the rule and campaign forms offer: triggers, fields, actions and their choices."""
    return {
        "triggers": [
            {"type": t.type, "label": str(t.label), "kind": t.kind, "params": t.params}
            for t in TRIGGERS.values()
            if t.type != "campaign"
        ],
        "fields": condition_catalogue(request.user),
        "actions": [
            {"type": a.type, "label": str(a.label), "params": [p.name for p in a.params]}
            for a in ACTIONS.values()
            if a.type != "branch"
        ],
        "param_names": ACTION_PARAM_NAMES,
        "channels": [(c.key, str(c.label)) for c in CHANNELS.values()],
        "coupons": CouponTemplate.objects.filter(active=True).order_by("name"),
        "tags": Tag.objects.filter(kind=Tag.Kind.MANUAL).order_by("name"),
        "tiers": Tier.objects.order_by("rank"),
        "segments": Segment.objects.order_by("name"),
        "sms_templates": sms_templates_available(),
        "task_types": workflow.task_types_ensure(),
        "store_roles": [(r, Role(r).label) for r in workflow.STORE_ROLES],
        "once_per": list(ONCE_PER_LABELS.items()),
        "variables": [(k, str(v)) for k, v in VARIABLES.items()],
    }


ONLY_IF = "only_if"


def _fold_branches(actions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """ "Continue only if" blocks into branches: the steps after one become its ``then``."""
    folded: list[dict[str, Any]] = []
    for action in reversed(actions):
        if action["type"] == ONLY_IF:
            folded = [{"type": "branch", "condition": action["condition"], "then": list(reversed(folded)), "else": []}]
            folded.reverse()
        else:
            folded.append(action)
    return list(reversed(folded))


def _unfold_branches(actions: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
    """The editor's blocks for a version's actions, or None if a branch has an "otherwise" part."""
    blocks: list[dict[str, Any]] = []
    for action in actions:
        if action.get("type") != "branch":
            blocks.append(action)
            continue
        if action.get("else"):
            return None
        condition = action.get("condition") or {}
        blocks.append(
            {
                "type": ONLY_IF,
                "if_field": condition.get("field", ""),
                "if_op": condition.get("op", ""),
                "if_value": condition.get("value", ""),
            }
        )
        rest = _unfold_branches(action.get("then") or [])
        if rest is None:
            return None
        blocks += rest
    return blocks


def _posted_actions(request: HttpRequest) -> list[dict[str, Any]]:
    """Action blocks post parallel lists: ``a_type`` and one ``a_<param>`` per known param."""
    types = request.POST.getlist("a_type")
    columns = {name: request.POST.getlist(f"a_{name}") for name in ACTION_PARAM_NAMES}
    conditions = list(
        zip(
            request.POST.getlist("a_if_field"),
            request.POST.getlist("a_if_op"),
            request.POST.getlist("a_if_value"),
            strict=False,
        )
    )
    actions = []
    for index, action_type in enumerate(types):
        if not action_type:
            continue
        if action_type == ONLY_IF:
            field, op, value = conditions[index] if index < len(conditions) else ("", "", "")
            actions.append({"type": ONLY_IF, "condition": rule_from_rows("and", [(field, op, value)])})
            continue
        wanted = {p.name for p in ACTIONS[action_type].params} if action_type in ACTIONS else set()
        action: dict[str, Any] = {"type": action_type}
        for name in wanted:
            values = columns.get(name, [])
            action[name] = values[index] if index < len(values) else ""
        actions.append(action)
    return _fold_branches(actions)


def _posted_member_rule(request: HttpRequest, prefix: str = "c") -> Any:
    rows = list(
        zip(
            request.POST.getlist(f"{prefix}_field"),
            request.POST.getlist(f"{prefix}_op"),
            request.POST.getlist(f"{prefix}_value"),
            strict=False,
        )
    )
    return rule_from_rows(request.POST.get(f"{prefix}_join", "and"), rows)


def _posted_spec(request: HttpRequest) -> dict[str, Any]:
    trigger_type = request.POST.get("trigger", "")
    trigger = {"type": trigger_type}
    if trigger_type in TRIGGERS:
        for param in TRIGGERS[trigger_type].params:
            trigger[param.name] = request.POST.get(f"t_{param.name}", "")
    event_conditions = []
    for field, op, value in zip(
        request.POST.getlist("e_field"), request.POST.getlist("e_op"), request.POST.getlist("e_value"), strict=False
    ):
        if field.strip():
            event_conditions.append({"field": field.strip(), "op": op, "value": value.strip()})
    return {
        "trigger": trigger,
        "conditions": {"member": _posted_member_rule(request), "event": event_conditions},
        "actions": _posted_actions(request),
        "guards": {
            "once_per": request.POST.get("once_per", ""),
            "quiet_hours": request.POST.get("quiet_hours") == "on",
        },
    }


def _form_state(spec: dict[str, Any]) -> dict[str, Any]:
    """What the editor shows for a spec (saved or just posted)."""
    try:
        join, rows = rows_from_rule(spec.get("conditions", {}).get("member"))
        nested = False
    except ValueError:
        join, rows, nested = "and", [], True
    return {
        "spec": spec,
        "c_join": join,
        "c_rows": rows or [{"field": "", "op": "", "value": ""}],
        "nested_conditions": nested,
        "e_rows": spec.get("conditions", {}).get("event") or [],
        "action_rows": _unfold_branches(spec.get("actions") or [])
        or spec.get("actions")
        or [{"type": "send_message", "channel": "inbox"}],
        "has_branch": _unfold_branches(spec.get("actions") or []) is None,
    }


@_guarded("automation.rule.manage")
def automation_home(request: HttpRequest) -> HttpResponse:
    rule_rows = [{"rule": r, "stats": selectors.rule_stats(r)} for r in rules.rule_list(actor=request.user)]
    context = {
        "rules": rule_rows,
        "gallery": gallery.GALLERY,
        "installed": set(Rule.objects.exclude(template_key="").values_list("template_key", flat=True)),
        "coupons": CouponTemplate.objects.filter(active=True).order_by("name"),
        "trigger_labels": {t.type: t.label for t in TRIGGERS.values()},
    }
    return render(request, "console/automation.html", context)


@require_POST
@_guarded("automation.rule.manage")
def template_install(request: HttpRequest) -> HttpResponse:
    coupon = request.POST.get("coupon_template_id", "")
    try:
        rule = gallery.template_install(
            actor=request.user,
            key=request.POST.get("key", ""),
            coupon_template_id=int(coupon) if coupon.isdecimal() else None,
        )
    except ValidationFailed as exc:
        messages.error(request, " ".join(m for ms in exc.fields.values() for m in ms) or str(exc.message))
        return redirect("console:automation")
    messages.success(request, _("Rule “%(name)s” is on.") % {"name": rule.name})
    return redirect("console:rule", rule_id=rule.pk)


@_guarded("automation.rule.manage")
def rule_edit(request: HttpRequest, rule_id: int | None = None) -> HttpResponse:
    rule = rules.rule_get(actor=request.user, rule_id=rule_id) if rule_id else None
    context: dict[str, Any] = {"rule": rule, **_pickers(request)}
    if request.method == "POST":
        spec = _posted_spec(request)
        context.update(_form_state(spec), name=request.POST.get("name", ""))
        action = request.POST.get("do", "save")
        try:
            if action == "dry_run":
                context["dry_run"] = rules.dry_run(actor=request.user, **spec)
            else:
                saved = rules.rule_save(actor=request.user, name=context["name"], rule_id=rule_id, **spec)
                messages.success(
                    request, _("Rule saved as version %(n)d.") % {"n": saved.version.number if saved.version else 1}
                )
                return redirect("console:rule", rule_id=saved.pk)
        except DomainError as exc:
            context.update(readable_errors(exc))
    elif rule is not None and rule.version is not None:
        version = rule.version
        spec = {
            "trigger": version.trigger,
            "conditions": version.conditions,
            "actions": version.actions,
            "guards": version.guards,
        }
        context.update(_form_state(spec), name=rule.name)
    else:
        context.update(
            _form_state({"trigger": {"type": "event:member.created"}, "guards": {"quiet_hours": True}}), name=""
        )
    if rule is not None:
        status = request.GET.get("status", "")
        context["stats"] = selectors.rule_stats(rule)
        context["steps"] = _page(request, selectors.rule_steps(actor=request.user, rule_id=rule.pk, status=status))
        context["step_status"] = status
        context["step_statuses"] = Step.Status.choices
    return render(request, "console/rule_edit.html", context)


@require_POST
@_guarded("automation.rule.manage")
def rule_status(request: HttpRequest, rule_id: int) -> HttpResponse:
    rule = rules.rule_set_status(actor=request.user, rule_id=rule_id, status=request.POST.get("status", ""))
    messages.success(request, _("Rule is on.") if rule.status == Rule.Status.ACTIVE else _("Rule is paused."))
    return redirect("console:rule", rule_id=rule_id)


@require_POST
@_guarded("automation.rule.manage")
def rule_retry(request: HttpRequest, rule_id: int) -> HttpResponse:
    step = request.POST.get("step", "")
    count = rules.step_retry(actor=request.user, rule_id=rule_id, step_id=int(step) if step.isdecimal() else None)
    messages.success(request, _("%(n)d failed actions queued again.") % {"n": count})
    return redirect("console:rule", rule_id=rule_id)


@require_POST
@_guarded("automation.rule.manage")
def member_count(request: HttpRequest) -> HttpResponse:
    """The live count under the condition builder (htmx)."""
    try:
        spec = _posted_spec(request)
        result = rules.dry_run(actor=request.user, **spec)
        text = _("%(n)d members match now.") % {"n": result["count"]}
    except DomainError as exc:
        text = " ".join(m for ms in exc.fields.values() for m in ms) or str(exc.message)
    return HttpResponse(text)


# ---- campaigns ----------------------------------------------------------------------------------
@_guarded("automation.rule.manage")
def campaign_page(request: HttpRequest) -> HttpResponse:
    context: dict[str, Any] = {
        **_pickers(request),
        "segments": segment_list(actor=request.user),
        "campaigns": [
            {"campaign": c, "effect": campaigns.campaign_effect(c)}
            for c in campaigns.campaign_list(actor=request.user)[:20]
        ],
        "action_rows": [{"type": "issue_coupon"}],
        "posted": {"segment_id": request.GET.get("segment", "")},  # "start a campaign" from a segment
    }
    if request.method == "POST":
        actions = _posted_actions(request)
        segment = request.POST.get("segment_id", "")
        when = request.POST.get("scheduled_at", "").strip()
        context.update(action_rows=actions or context["action_rows"], posted=request.POST)
        try:
            if not segment.isdecimal():
                raise ValidationFailed(fields={"segment_id": [_("Choose a segment.")]})
            scheduled = _local_datetime(when) if when else None
            if request.POST.get("do") == "confirm":
                campaign = campaigns.campaign_create(
                    actor=request.user,
                    name=request.POST.get("name", ""),
                    segment_id=int(segment),
                    actions=actions,
                    holdout_percent=request.POST.get("holdout_percent", "0"),  # type: ignore[arg-type]
                    scheduled_at=scheduled,
                )
                messages.success(
                    request,
                    _("Campaign started: %(n)d members reached, %(h)d kept out.")
                    % {"n": campaign.reached, "h": campaign.held_out}
                    if campaign.launched_at
                    else _("Campaign scheduled."),
                )
                return redirect("console:campaigns")
            context["preview"] = campaigns.campaign_preview(
                actor=request.user,
                segment_id=int(segment),
                actions=actions,
                holdout_percent=request.POST.get("holdout_percent", "0"),  # type: ignore[arg-type]
            )
        except DomainError as exc:
            context.update(readable_errors(exc))
    return render(request, "console/campaigns.html", context)


def _local_datetime(text: str) -> datetime:
    moment = parse_datetime(text)
    if moment is None:
        raise ValidationFailed(fields={"scheduled_at": [_("A date and time such as 2027-03-01 10:00.")]})
    return timezone.make_aware(moment, tenant_timezone()) if timezone.is_naive(moment) else moment


# ---- tasks and flows ----------------------------------------------------------------------------
@_guarded("automation.task.handle")
def task_inbox(request: HttpRequest) -> HttpResponse:
    scope = request.GET.get("scope", "mine")
    done = request.GET.get("closed") == "1"
    context = {
        "scope": scope,
        "closed": done,
        "tasks": _page(request, workflow.task_list(actor=request.user, scope=scope, include_closed=done)),
        "notifications": workflow.notifications_for(request.user)[:10],
        "task_types": workflow.task_types_ensure(),
        "now": timezone.now(),
    }
    return render(request, "console/tasks.html", context)


@_guarded("automation.task.handle")
def task_new(request: HttpRequest) -> HttpResponse:
    context: dict[str, Any] = {"task_types": workflow.task_types_ensure(), "member_id": request.GET.get("member", "")}
    if request.method == "POST":
        member = request.POST.get("member_id", "")
        type_id = request.POST.get("type_id", "")
        try:
            task = workflow.task_create(
                actor=request.user,
                type_id=int(type_id) if type_id.isdecimal() else 0,
                title=request.POST.get("title", ""),
                description=request.POST.get("description", ""),
                member_id=int(member) if member.isdecimal() else None,
            )
            return redirect("console:task", task_id=task.pk)
        except DomainError as exc:
            context.update(readable_errors(exc), posted=request.POST)
    return render(request, "console/task_new.html", context)


@_guarded("automation.task.handle")
def task_detail(request: HttpRequest, task_id: int) -> HttpResponse:
    task = workflow.task_access_by_id(actor=request.user, task_id=task_id)
    context: dict[str, Any] = {}
    if request.method == "POST":
        try:
            if request.POST.get("move", "").isdecimal():
                workflow.task_move(
                    actor=request.user,
                    task_id=task.pk,
                    move_index=int(request.POST.get("move", "-1")),
                    comment=request.POST.get("comment", ""),
                    outcome=request.POST.get("comment", ""),
                )
            elif request.POST.get("do") == "assign":
                assignee = request.POST.get("assignee_id", "")
                workflow.task_assign(
                    actor=request.user, task_id=task.pk, assignee_id=int(assignee) if assignee.isdecimal() else 0
                )
            else:
                workflow.task_comment(actor=request.user, task_id=task.pk, body=request.POST.get("comment", ""))
            return redirect("console:task", task_id=task.pk)
        except DomainError as exc:
            context.update(readable_errors(exc))
        task = workflow.task_access_by_id(actor=request.user, task_id=task_id)
    context.update(
        task=task,
        state=workflow.state_label(task.type, task.state),
        moves=workflow.moves_for(request.user, task),
        comments=task.comments.select_related("author"),
        labels={s["key"]: s["label"] for s in task.type.states},
        staff=User.objects.filter(is_active=True, role__in=[Role.STORE_MANAGER, Role.CUSTOMER_SERVICE, Role.HQ_ADMIN]),
        can_see_member=task.member_id is not None and can(request.user, "members.member.view", task.member),
    )
    return render(request, "console/task_detail.html", context)


@_guarded("automation.rule.manage")
def flow_list(request: HttpRequest) -> HttpResponse:
    return render(request, "console/flows.html", {"task_types": workflow.task_types_ensure()})


@_guarded("automation.rule.manage")
def flow_edit(request: HttpRequest, type_id: int | None = None) -> HttpResponse:
    task_type = workflow.task_types_ensure().filter(pk=type_id).first() if type_id else None
    if type_id and task_type is None:
        return render(request, "console/error.html", {"message": _("Not found.")}, status=404)
    states: list[dict[str, Any]] = (
        task_type.states
        if task_type
        else [
            {"key": "open", "label": _("To do"), "final": False},
            {"key": "done", "label": _("Done"), "final": True},
        ]
    )
    moves: list[dict[str, Any]] = task_type.transitions if task_type else []
    name = task_type.name if task_type else ""
    due: Any = task_type.default_due_hours if task_type else 48
    context: dict[str, Any] = {}
    if request.method == "POST":
        finals = set(request.POST.getlist("s_final"))
        states = [
            {"key": k.strip(), "label": label.strip(), "final": k.strip() in finals}
            for k, label in zip(request.POST.getlist("s_key"), request.POST.getlist("s_label"), strict=False)
            if k.strip() or label.strip()
        ]
        moves = []
        for index, (src, dst, label) in enumerate(
            zip(
                request.POST.getlist("m_from"),
                request.POST.getlist("m_to"),
                request.POST.getlist("m_label"),
                strict=False,
            )
        ):
            if not src and not dst:
                continue
            effects: list[dict[str, Any]] = [{"type": kind} for kind in request.POST.getlist(f"m{index}_notify")]
            points = request.POST.get(f"m{index}_points", "").strip()
            if points:
                effects.append({"type": "award_points", "points": points})
            role = request.POST.get(f"m{index}_assign_role", "")
            if role:
                effects.append({"type": "assign_role", "role": role})
            moves.append(
                {
                    "from": src,
                    "to": dst,
                    "label": label,
                    "roles": request.POST.getlist(f"m{index}_roles"),
                    "effects": effects,
                }
            )
        name = request.POST.get("name", "")
        due = request.POST.get("default_due_hours", "48")
        try:
            saved = workflow.task_type_save(
                actor=request.user,
                name=name,
                states=states,
                transitions=moves,
                default_due_hours=int(due) if str(due).isdecimal() else 48,
                type_id=type_id,
            )
            messages.success(request, _("Flow saved."))
            return redirect("console:flow", type_id=saved.pk)
        except DomainError as exc:
            context.update(readable_errors(exc))
    blank_move = {"from": "", "to": "", "label": "", "roles": [], "effects": []}
    context.update(
        task_type=task_type,
        name=name,
        due=due,
        states=[*states, {"key": "", "label": "", "final": False}],
        moves=[_move_view(m) for m in [*moves, blank_move]],
        roles=[(r.value, r.label) for r in Role],
        store_roles=[(r, Role(r).label) for r in workflow.STORE_ROLES],
        notify_kinds=[
            (k, workflow.EFFECT_LABELS[k]) for k in ("notify_assignee", "notify_creator", "notify_store_manager")
        ],
    )
    return render(request, "console/flow_edit.html", context)


def _move_view(move: dict[str, Any]) -> dict[str, Any]:
    effects = move.get("effects") or []
    return {
        **move,
        "notify": [e["type"] for e in effects if e["type"].startswith("notify")],
        "points": next((e.get("points") for e in effects if e["type"] == "award_points"), ""),
        "assign_role": next((e.get("role") for e in effects if e["type"] == "assign_role"), ""),
    }


@_guarded("automation.rule.manage")
def automation_settings_page(request: HttpRequest) -> HttpResponse:
    settings = automation_settings()
    context: dict[str, Any] = {"settings": settings}
    if request.method == "POST":
        try:
            automation_settings_update(actor=request.user, data=request.POST.dict())
            messages.success(request, _("Saved."))
            return redirect("console:automation-settings")
        except DomainError as exc:
            context.update(readable_errors(exc))
    return render(request, "console/automation_settings.html", context)


_PARTS = {
    "trigger": _("When"),
    "actions": _("Action"),
    "then": _("then"),
    "else": _("otherwise"),
    "conditions": _("Condition"),
    "rule": "",
    "event": _("Event condition"),
    "guards": _("How often"),
    "states": _("State"),
    "transitions": _("Move"),
    "effects": _("Effect"),
}


def readable_path(path: str) -> str:
    """``actions[1].template_id`` as staff read it: "Action 2 · Coupon" (no codes in the console)."""
    import re

    from huiyuan.automation.registry import ACTIONS, TRIGGERS

    labels = {p.name: str(p.label) for a in ACTIONS.values() for p in a.params}
    labels.update({p.name: str(p.label) for t in TRIGGERS.values() for p in t.params})
    labels.update(
        {
            "field": _("Field"),
            "op": _("Operator"),
            "value": _("Value"),
            "name": _("Label"),
            "days": _("Days"),
            "segment_id": _("Segment"),
            "holdout_percent": _("Hold-out (%)"),
            "once_per": _("How often"),
            "scheduled_at": _("Send at"),
            "type": _("Type"),
            "condition": _("Condition"),
        }
    )
    words = []
    for token in path.split("."):
        match = re.fullmatch(r"([a-z_]+)(?:\[(\d+)\])*", token)
        if not match:
            continue
        name = match.group(1)
        numbers = [int(n) + 1 for n in re.findall(r"\[(\d+)\]", token)]
        if name in ("and", "or", "not"):
            words += [f"{_PARTS['rule']} {n}" for n in numbers]
            continue
        word = str(_PARTS[name] if name in _PARTS else labels.get(name, name))
        if word:
            words.append(" ".join([word, *map(str, numbers)]))
    return " · ".join(dict.fromkeys(words)) or path


def readable_errors(exc: DomainError) -> dict[str, Any]:
    context = error_context(exc)
    context["errors"] = {readable_path(path): messages for path, messages in exc.fields.items()}
    return context


@_guarded("automation.rule.manage")
def message_page(request: HttpRequest) -> HttpResponse:
    """Messages to members: staff see what failed or was cut off mid-send and decide to resend."""
    from huiyuan.automation.models import Message
    from huiyuan.automation.sending import messages_resend
    from huiyuan.members.selectors import visible_phone

    if request.method == "POST":
        ids = [int(v) for v in request.POST.getlist("message") if v.isdecimal()]
        count = messages_resend(message_ids=ids, actor=request.user)
        messages.success(request, _("%(n)d messages queued again.") % {"n": count})
        return redirect(request.get_full_path())
    status = request.GET.get("status", "")
    page = _page(request, selectors.message_list(actor=request.user, status=status))
    rows = [
        {
            "message": m,
            "to": visible_phone(request.user, m.member, for_display=True) if m.channel == "sms" else m.address,
        }
        for m in page
    ]
    return render(
        request,
        "console/messages.html",
        {"page": page, "rows": rows, "status": status, "statuses": Message.Status.choices},
    )


def unsubscribe_page(request: HttpRequest, token: str) -> HttpResponse:
    """A member leaving e-mails (or SMS): no login; opening asks, confirming withdraws consent."""
    from huiyuan.automation.unsubscribe import unsubscribe_confirm, unsubscribe_read

    found = unsubscribe_read(token)
    if found is None:
        return render(request, "console/unsubscribe.html", {"invalid": True}, status=404)
    member, channel = found
    done = request.method == "POST" and unsubscribe_confirm(token)
    merchant = getattr(request, "tenant", None)
    return render(request, "console/unsubscribe.html", {"channel": channel, "done": done, "merchant": merchant})
