"""The engine: turns events and daily schedules into runs (one per rule, member and period) and
runs each run's actions one step at a time.

Everything rides on the core's deliveries, so each piece is handled exactly once:
- ``automation.rules`` receives every trigger event; matching rules start their runs in the same
  transaction that marks the event handled (a duplicate event finds the delivery handled, and the
  run's unique key stops a second run for the same member and period anyway).
- ``automation.schedule`` is a daily timer per rule, due at the rule's local time; handling it picks
  that day's members, starts their runs and sets the next day's timer, all in one transaction.
- ``automation.step`` runs one action of one run; the step's outcome and the next step are written
  with the action's effects, so a killed worker's step is simply run again (its effects carry the
  step's idempotency key) and a finished one never twice.
"""

from __future__ import annotations

import json
import logging
from datetime import date, datetime, time, timedelta
from typing import Any

from django.conf import settings as django_settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import InterfaceError, OperationalError, connection, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext_lazy

from huiyuan.members.models import Member
from huiyuan.members.segments import compile_rule
from huiyuan.platform.errors import DomainError
from huiyuan.platform.events.registry import Event, subscribe
from huiyuan.platform.events.services import (
    deliveries_dispatch_after_commit,
    deliveries_due_now_sql,
    deliveries_schedule,
)
from huiyuan.platform.tenancy import tenant_timezone

from .conditions import EVENT_CONDITION
from .guards import quiet_until
from .models import Rule, RuleVersion, Run, Step
from .registry import ACTIONS, TRIGGERS, ActionFailed, ActionSkipped, EventTrigger, ScheduleTrigger, StepContext
from .triggers import TRIGGER_EVENTS

logger = logging.getLogger(__name__)

RULES = "automation.rules"
SCHEDULE = "automation.schedule"
STEP = "automation.step"


# ---- where a step sits in a version's actions ---------------------------------------------------
def action_at(actions: list[dict[str, Any]], path: str) -> dict[str, Any]:
    node: Any = actions
    for token in path.split("."):
        node = node[int(token)] if token.isdecimal() else node[token]
    return node  # type: ignore[no-any-return]


def next_path(actions: list[dict[str, Any]], path: str, branch: str | None = None) -> str | None:
    """The step after ``path``: into the chosen branch, else the next sibling, else the step after
    the enclosing branch."""
    if branch and action_at(actions, path).get(branch):
        return f"{path}.{branch}.0"
    tokens = path.split(".")
    while tokens:
        index = int(tokens[-1])
        container = action_at(actions, ".".join(tokens[:-1])) if len(tokens) > 1 else actions
        if index + 1 < len(container):
            return ".".join([*tokens[:-1], str(index + 1)])
        tokens = tokens[:-2]  # leave the branch: drop its name and the branch step's index
    return None


# ---- period keys --------------------------------------------------------------------------------
def period_key(version: RuleVersion, now: datetime, event_id: int | None) -> str | None:
    """The period a member is reached once in, or None for the trigger's own (schedules)."""
    once = version.guards.get("once_per") or ("event" if event_id else "natural")
    local = now.astimezone(tenant_timezone())
    return {
        "event": f"event:{event_id}",
        "day": local.strftime("day:%Y-%m-%d"),
        "week": local.strftime("week:%G-%V"),
        "month": local.strftime("month:%Y-%m"),
        "year": local.strftime("year:%Y"),
        "ever": "ever",
    }.get(once)


# ---- starting runs ------------------------------------------------------------------------------
def runs_start(
    version: RuleVersion,
    members: Q | None,
    *,
    now: datetime,
    member_ids: list[int] | None = None,
    period: tuple[str, list[Any]] = ("%s", ["once"]),
    event: dict[str, Any] | None = None,
    event_id: int | None = None,
) -> int:
    """Start a run for each member matching ``members`` (and the rule's member conditions) that has
    none yet in its period. One statement writes the runs, their first steps and the steps'
    deliveries, so a schedule reaching 100,000 members costs one round trip. Returns runs started."""
    if member_ids is not None and not member_ids:
        return 0  # nobody (a campaign whose audience is all held out)
    qs = Member.objects.filter(status=Member.Status.ACTIVE)
    if member_ids is not None:
        qs = qs.filter(pk__in=member_ids)
    if members is not None:
        qs = qs.filter(members)
    if version.conditions.get("member"):
        qs = qs.filter(compile_rule(version.conditions["member"], now=now))
    with timezone.override(tenant_timezone()):  # date parts of datetimes in the merchant's time zone
        select_sql, select_params = qs.values("pk").query.sql_with_params()
    period_sql, period_params = period
    first = version.actions[0]
    context = {"event": event or {}}
    # Each first step gets its delivery in the same statement (one per step: each is handled, retried
    # and dead-lettered on its own).
    deliveries_sql, deliveries_params = deliveries_due_now_sql(
        source="steps", event_type=STEP, subscriber=STEP, payload_sql="jsonb_build_object('step_id', steps.id)"
    )
    # Only compiled, parameterised parts are joined here: the member query Django built and the
    # trigger's fixed period expression; every value travels as a parameter.
    sql = f"""
        WITH chosen AS ({select_sql}),
        runs AS (
            INSERT INTO automation_run (rule_id, version_id, member_id, period_key, trigger_event_id, context, status,
                                        created_at)
            SELECT %s, %s, m.id, {period_sql}, %s, %s::jsonb, 'running', %s
              FROM members_member m WHERE m.id IN (SELECT * FROM chosen)
            ON CONFLICT (rule_id, member_id, period_key) DO NOTHING
            RETURNING id
        ),
        steps AS (
            INSERT INTO automation_step (run_id, path, action_type, status, attempts, due_at, last_error, result,
                                         created_at)
            SELECT id, '0', %s, 'pending', 0, %s, '', '{{}}'::jsonb, %s FROM runs
            RETURNING id
        )
        {deliveries_sql}
    """  # noqa: S608
    params = [
        *select_params,
        version.rule_id,
        version.pk,
        *period_params,
        event_id,
        json.dumps(context, cls=DjangoJSONEncoder),
        now,
        first["type"],
        now,
        now,
        *deliveries_params,
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        delivery_ids = [row[0] for row in cursor.fetchall()]
    deliveries_dispatch_after_commit(delivery_ids)
    return len(delivery_ids)


def steps_schedule(items: list[tuple[int, datetime | None]]) -> None:
    deliveries_schedule(STEP, STEP, [({"step_id": step_id}, due) for step_id, due in items])


def _rules_for(trigger_type: str) -> list[Rule]:
    return list(
        Rule.objects.filter(status=Rule.Status.ACTIVE, version__trigger__type=trigger_type).select_related("version")
    )


def on_event(event: Event) -> None:
    """A domain event: every active rule it triggers starts a run for the event's member."""
    rules = _rules_for(f"event:{event.type}")
    if not rules:
        return
    trigger = TRIGGERS[f"event:{event.type}"]
    assert isinstance(trigger, EventTrigger)
    member_id = trigger.member_id(event.payload, event.aggregate_type, event.aggregate_id)
    if member_id is None:
        return
    now = timezone.now()
    for rule in rules:
        version = rule.version
        assert version is not None
        if not trigger.matches(version.trigger, event.payload):
            continue
        if not EVENT_CONDITION.holds(version.conditions.get("event") or [], event.payload):
            continue
        key = period_key(version, now, event.id) or f"event:{event.id}"
        runs_start(
            version,
            None,
            now=now,
            member_ids=[member_id],
            period=("%s", [key]),
            event=event.payload,
            event_id=event.id,
        )


for _event_type in (*TRIGGER_EVENTS, "segment.entered"):
    subscribe(_event_type, RULES, on_event, label=gettext_lazy("Automation rules"))


# ---- daily schedules ----------------------------------------------------------------------------
def next_local_run(at: str, after: datetime, *, day: date | None = None) -> tuple[date, datetime]:
    """The first local ``at`` (HH:MM) strictly after ``after``, or on ``day`` if given."""
    zone = tenant_timezone()
    hour, minute = (int(part) for part in at.split(":"))
    if day is not None:
        return day, datetime.combine(day, time(hour, minute), tzinfo=zone)
    local = after.astimezone(zone)
    candidate = datetime.combine(local.date(), time(hour, minute), tzinfo=zone)
    if candidate <= local:
        candidate = datetime.combine(local.date() + timedelta(days=1), time(hour, minute), tzinfo=zone)
    return candidate.date(), candidate


def schedule_arm(rule: Rule, *, now: datetime | None = None, day: date | None = None) -> datetime | None:
    """Set the rule's next daily timer (a schedule rule that is on); older timers become stale."""
    version = rule.version
    rule.schedule_token += 1
    rule.next_run_at = None
    trigger = TRIGGERS.get(version.trigger["type"]) if version else None
    if version and rule.status == Rule.Status.ACTIVE and isinstance(trigger, ScheduleTrigger) and not rule.is_campaign:
        run_day, due = next_local_run(version.trigger.get("at", "09:00"), now or timezone.now(), day=day)
        rule.next_run_at = due
        payload = {"rule_id": rule.pk, "token": rule.schedule_token, "day": run_day.isoformat()}
        deliveries_schedule(SCHEDULE, SCHEDULE, [(payload, due)])
    rule.save(update_fields=["schedule_token", "next_run_at", "updated_at"])
    return rule.next_run_at


def rule_evaluate_day(rule: Rule, day: date, *, now: datetime) -> int:
    """Start the runs of a schedule rule for one local day. Safe to repeat: a member reached in
    the period is not reached again."""
    version = rule.version
    assert version is not None
    trigger = TRIGGERS[version.trigger["type"]]
    assert isinstance(trigger, ScheduleTrigger)
    with timezone.override(tenant_timezone()):
        members = trigger.members(version.trigger, day, now)
    own = period_key(version, now, None)
    period = ("%s", [own]) if own else trigger.period_sql(version.trigger, day)
    return runs_start(version, members, now=now, period=period)


def on_schedule(event: Event) -> None:
    payload = event.payload
    rule = Rule.objects.select_for_update(of=("self",)).select_related("version").filter(pk=payload["rule_id"]).first()
    if rule is None or rule.status != Rule.Status.ACTIVE or rule.schedule_token != payload["token"]:
        return  # switched off or edited since this timer was set: its successor is already armed
    day = date.fromisoformat(payload["day"])
    today = timezone.now().astimezone(tenant_timezone()).date()
    if day < today:
        # Handled days late (workers were down): missed days are not caught up, a birthday greeting
        # a week late is worse than none. The timer is set again from today.
        schedule_arm(rule)
        return
    # The day's "now" is the timer's own time, so the day's members are the same whenever in the
    # day the timer is handled.
    assert rule.version is not None
    _day, due = next_local_run(rule.version.trigger.get("at", "09:00"), timezone.now(), day=day)
    reached = rule_evaluate_day(rule, day, now=due)
    logger.info("automation: rule %s reached %s members on %s", rule.pk, reached, day)
    schedule_arm(rule, day=day + timedelta(days=1))


subscribe(SCHEDULE, SCHEDULE, on_schedule, label=gettext_lazy("Daily automation rules"))


# ---- running steps ------------------------------------------------------------------------------
def step_execute(step_id: int) -> str:
    """Run one step, once: lock it and the member, obey quiet hours, do the action in a savepoint,
    record the outcome and queue the next step, all in the caller's transaction."""
    step = (
        Step.objects.select_for_update(of=("self",))
        .select_related("run__version", "run__rule")
        .filter(pk=step_id)
        .first()
    )
    if step is None or step.status not in (Step.Status.PENDING, Step.Status.FAILED):
        return "skipped"
    run = step.run
    now = timezone.now()
    member = Member.objects.select_for_update(of=("self",)).select_related("tier", "home_store").get(pk=run.member_id)
    config = action_at(run.version.actions, step.path)
    action = ACTIONS.get(config["type"])
    if action is None:
        return _step_failed(step, ActionFailed(f"unknown action {config['type']}", retry=False), now)
    if action.sends_message and run.version.guards.get("quiet_hours", True):
        until = quiet_until(now)
        if until is not None:  # not at night: the same step, at the end of quiet hours
            step.due_at = until
            step.save(update_fields=["due_at"])
            steps_schedule([(step.pk, until)])
            return "deferred"
    ctx = StepContext(step=step, run=run, member=member, config=config, now=now, event=run.context.get("event", {}))
    try:
        with transaction.atomic():
            result = action.execute(ctx)
    except ActionSkipped as exc:
        step.status, step.last_error = Step.Status.SKIPPED, str(exc)
        step.finished_at = now
        step.save(update_fields=["status", "last_error", "finished_at"])
        return _advance(step, {}, now)
    except (OperationalError, InterfaceError):
        raise  # the database itself: the delivery stays pending and is sent again
    except ActionFailed as exc:
        return _step_failed(step, exc, now)
    except DomainError as exc:  # the domain refused (out of stock, not enough points): no retry mends it
        return _step_failed(step, ActionFailed(f"{exc.code}: {exc}", retry=False), now)
    except Exception as exc:  # noqa: BLE001 - unexpected: recorded on the step, retried, then dead-lettered
        logger.exception("automation: step %s failed", step.pk)
        return _step_failed(step, ActionFailed(f"{type(exc).__name__}: {exc}"), now)
    step.status, step.result, step.finished_at, step.last_error = Step.Status.DONE, result, now, ""
    step.attempts += 1
    step.save(update_fields=["status", "result", "finished_at", "last_error", "attempts"])
    return _advance(step, result, now)


def _advance(step: Step, result: dict[str, Any], now: datetime) -> str:
    run = step.run
    actions = run.version.actions
    following = next_path(actions, step.path, result.get("branch"))
    if following is None:
        run.status, run.finished_at = Run.Status.DONE, now
        run.save(update_fields=["status", "finished_at"])
        return step.status
    resume = parse_datetime(result["resume_at"]) if result.get("resume_at") else None
    nxt = Step.objects.create(
        run=run, path=following, action_type=action_at(actions, following)["type"], due_at=resume or now
    )
    run.status = Run.Status.WAITING if resume else Run.Status.RUNNING
    run.save(update_fields=["status"])
    steps_schedule([(nxt.pk, resume)])
    return step.status


def _step_failed(step: Step, exc: ActionFailed, now: datetime) -> str:
    step.attempts += 1
    step.last_error = str(exc)[:2000]
    if exc.retry and step.attempts < django_settings.HUIYUAN_AUTOMATION_MAX_ATTEMPTS:
        step.status = Step.Status.FAILED
        backoff = django_settings.HUIYUAN_AUTOMATION_RETRY_BASE * 2 ** (step.attempts - 1)
        step.due_at = now + timedelta(seconds=min(backoff, 6 * 3600))
        steps_schedule([(step.pk, step.due_at)])
    else:
        step.status = Step.Status.DEAD
        step.finished_at = now
        Run.objects.filter(pk=step.run_id).update(status=Run.Status.FAILED, finished_at=now)
    step.save(update_fields=["attempts", "last_error", "status", "due_at", "finished_at"])
    return step.status


def _on_step(event: Event) -> None:
    step_execute(int(event.payload["step_id"]))


subscribe(STEP, STEP, _on_step, label=gettext_lazy("Automation actions"))
