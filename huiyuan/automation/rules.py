"""Rules: save (each edit a new version), switch on and off, dry run, and retry what failed."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from huiyuan.members.models import Member
from huiyuan.members.segments import compile_rule
from huiyuan.members.selectors import member_list
from huiyuan.platform.access import check_permission
from huiyuan.platform.audit import audit_record
from huiyuan.platform.errors import Conflict, NotFound, ValidationFailed
from huiyuan.platform.tenancy import tenant_timezone

from .conditions import conditions_clean
from .engine import schedule_arm, steps_schedule
from .models import Rule, RuleVersion, Run, Step
from .registry import EventTrigger, ScheduleTrigger, action_get, trigger_get

MAX_STEPS = 20
ONCE_PER = ("event", "day", "week", "month", "year", "ever", "natural")


def actions_clean(
    actions: Any, actor: Any, *, path: str = "actions", allow_empty: bool = False
) -> list[dict[str, Any]]:
    if not isinstance(actions, list) or (not actions and not allow_empty):
        raise ValidationFailed(fields={path: [_("Add at least one action.")]})
    if len(actions) > MAX_STEPS:
        raise ValidationFailed(fields={path: [_("At most %(n)d actions.") % {"n": MAX_STEPS}]})
    cleaned = []
    for index, item in enumerate(actions):
        where = f"{path}[{index}]"
        if not isinstance(item, dict):
            raise ValidationFailed(fields={where: [_("Expected an action.")]})
        action = action_get(str(item.get("type")), where)
        cleaned.append({"type": action.type, **action.clean(item, where, actor)})
    return cleaned


def guards_clean(guards: Any, trigger_kind: str) -> dict[str, Any]:
    guards = guards if isinstance(guards, dict) else {}
    once = guards.get("once_per") or ("event" if trigger_kind == "event" else "natural")
    if once not in ONCE_PER or (once == "natural" and trigger_kind == "event"):
        raise ValidationFailed(fields={"guards.once_per": [_("Choose how often a member may be reached.")]})
    return {"once_per": once, "quiet_hours": bool(guards.get("quiet_hours", True))}


def rule_spec_clean(*, actor: Any, trigger: Any, conditions: Any, actions: Any, guards: Any) -> dict[str, Any]:
    if not isinstance(trigger, dict):
        raise ValidationFailed(fields={"trigger": [_("Choose what starts the rule.")]})
    trigger_type = trigger_get(str(trigger.get("type")))
    if trigger_type.type == "campaign":
        raise ValidationFailed(fields={"trigger.type": [_("Campaigns are started from a segment.")]})
    return {
        "trigger": {"type": trigger_type.type, **trigger_type.clean(trigger)},
        "conditions": conditions_clean(conditions, actor),
        "actions": actions_clean(actions, actor),
        "guards": guards_clean(guards, trigger_type.kind),
    }


def rule_list(*, actor: Any) -> QuerySet[Rule]:
    check_permission(actor, "automation.rule.manage")
    return Rule.objects.filter(is_campaign=False).select_related("version")


def rule_get(*, actor: Any, rule_id: int, campaigns: bool = False) -> Rule:
    check_permission(actor, "automation.rule.manage")
    rule = Rule.objects.select_related("version").filter(pk=rule_id, is_campaign=campaigns).first()
    if rule is None:
        raise NotFound()
    return rule


def version_write(rule: Rule, spec: dict[str, Any], actor: Any) -> RuleVersion:
    number = (rule.versions.order_by("-number").values_list("number", flat=True).first() or 0) + 1
    user = actor if getattr(actor, "pk", None) and hasattr(actor, "role") else None
    return RuleVersion.objects.create(rule=rule, number=number, created_by=user, **spec)


def rule_save(
    *,
    actor: Any,
    name: str,
    trigger: Any,
    conditions: Any = None,
    actions: Any,
    guards: Any = None,
    description: str = "",
    rule_id: int | None = None,
    template_key: str = "",
) -> Rule:
    """Create a rule (a draft) or edit one. An edit is a new version: runs under way finish with
    the version they started with; new runs use the new one."""
    check_permission(actor, "automation.rule.manage")
    if not str(name or "").strip():
        raise ValidationFailed(fields={"name": [_("Enter a name.")]})
    spec = rule_spec_clean(actor=actor, trigger=trigger, conditions=conditions, actions=actions, guards=guards)
    with transaction.atomic():
        if rule_id:
            rule = Rule.objects.select_for_update().filter(pk=rule_id, is_campaign=False).first()
            if rule is None:
                raise NotFound()
        else:
            rule = Rule.objects.create(name=name.strip()[:100], created_by=actor, template_key=template_key)
        rule.name, rule.description = name.strip()[:100], str(description or "").strip()[:255]
        rule.version = version_write(rule, spec, actor)
        rule.save()
        trigger = trigger_get(spec["trigger"]["type"])
        if isinstance(trigger, EventTrigger):
            trigger.on_save(spec["trigger"])
        schedule_arm(rule)  # a schedule rule that is on: its timer follows the new version's time
        audit_record(
            actor=actor,
            action="automation.rule.update" if rule_id else "automation.rule.create",
            obj=rule,
            changes={"version": rule.version.number},
        )
    return rule


def rule_set_status(*, actor: Any, rule_id: int, status: str) -> Rule:
    if status not in (Rule.Status.ACTIVE, Rule.Status.PAUSED):
        raise ValidationFailed(fields={"status": [_("Switch the rule on or pause it.")]})
    with transaction.atomic():
        rule = rule_get(actor=actor, rule_id=rule_id)
        rule = Rule.objects.select_for_update(of=("self",)).select_related("version").get(pk=rule.pk)
        if rule.status != status:
            rule.status = status
            rule.save(update_fields=["status", "updated_at"])
            schedule_arm(rule)
            audit_record(actor=actor, action=f"automation.rule.{status}", obj=rule, changes={})
    return rule


def rule_delete(*, actor: Any, rule_id: int) -> None:
    rule = rule_get(actor=actor, rule_id=rule_id)
    if rule.runs.exists():
        raise Conflict(_("This rule has reached members; pause it instead, so its log stays."), code="RULE_HAS_RUNS")
    with transaction.atomic():
        audit_record(actor=actor, action="automation.rule.delete", obj=rule, changes={"name": rule.name})
        rule.delete()


def dry_run(*, actor: Any, trigger: Any, conditions: Any, actions: Any, guards: Any = None) -> dict[str, Any]:
    """Who a rule would reach now, among the members this actor may see: for a daily rule, the
    members its trigger picks today; for an event rule, the members its member conditions admit
    (the event decides who, and when). Nothing is written."""
    from .registry import TRIGGERS

    spec = rule_spec_clean(actor=actor, trigger=trigger, conditions=conditions, actions=actions, guards=guards)
    now = timezone.now()
    qs = member_list(actor=actor).filter(status=Member.Status.ACTIVE)
    trigger_type = TRIGGERS[spec["trigger"]["type"]]
    if isinstance(trigger_type, ScheduleTrigger):
        with timezone.override(tenant_timezone()):
            qs = qs.filter(trigger_type.members(spec["trigger"], now.astimezone(tenant_timezone()).date(), now))
    if spec["conditions"]["member"]:
        qs = qs.filter(compile_rule(spec["conditions"]["member"], actor=actor, now=now))
    with timezone.override(tenant_timezone()):
        count = qs.count()
        sample = list(qs.order_by("-pk").values("pk", "card_no", "name")[:20])
    return {"count": count, "sample": sample, "kind": trigger_type.kind}


def step_retry(*, actor: Any, step_id: int | None = None, rule_id: int | None = None) -> int:
    """Queue dead steps again (one, or all of a rule's). Returns how many."""
    check_permission(actor, "automation.rule.manage")
    qs = Step.objects.filter(status=Step.Status.DEAD)
    if step_id is not None:
        qs = qs.filter(pk=step_id)
    if rule_id is not None:
        qs = qs.filter(run__rule_id=rule_id)
    now = timezone.now()
    with transaction.atomic():
        ids = list(qs.select_for_update().values_list("pk", flat=True))
        Step.objects.filter(pk__in=ids).update(
            status=Step.Status.PENDING, attempts=0, due_at=now, finished_at=None, last_error=""
        )
        Run.objects.filter(steps__pk__in=ids).update(status=Run.Status.RUNNING, finished_at=None)
        steps_schedule([(pk, None) for pk in ids])
        if ids:
            audit_record(actor=actor, action="automation.step.retry", obj=None, changes={"steps": len(ids)})
    return len(ids)
