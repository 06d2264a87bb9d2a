"""Staff tasks and the flows they follow. A task type's flow is data the merchant designs: its
states (the first is where tasks start; some are final), the moves between them, which roles may
make each move and what happens on it (notify someone, hand the task to a role, award points as
compensation, set the member's tier). Complaint handling and VIP upgrade approval are flows, not code.

Who sees a task: the person it is assigned to; for a task given to a store role, that role's staff
of the store; store managers see their stores' queues; all-store roles (HQ, customer service) all.
A task not closed by its due time escalates once: the store's managers (or HQ, for a task with no
store) are told, and ``task.overdue`` is announced for rules to act on."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from huiyuan.loyalty.ledger import points_earn
from huiyuan.loyalty.models import Cause, Tier
from huiyuan.loyalty.tiers import tier_set
from huiyuan.members.models import Member
from huiyuan.members.selectors import member_access_by_id
from huiyuan.platform.access import actor_store_ids, check_permission, sees_all_stores
from huiyuan.platform.audit import audit_record
from huiyuan.platform.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from huiyuan.platform.events.registry import Event, subscribe
from huiyuan.platform.events.services import deliveries_schedule, event_record
from huiyuan.platform.models import Store, StoreAssignment, User
from huiyuan.platform.roles import Role
from huiyuan.platform.tenancy import tenant_timezone

from .models import Run, StaffNotification, Task, TaskComment, TaskType

TASK_DUE = "automation.task_due"
EFFECT_TYPES = ("notify_assignee", "notify_creator", "notify_store_manager", "assign_role", "award_points", "set_tier")
EFFECT_LABELS = {
    "notify_assignee": gettext_lazy("Tell the assignee"),
    "notify_creator": gettext_lazy("Tell who opened it"),
    "notify_store_manager": gettext_lazy("Tell the store manager"),
    "assign_role": gettext_lazy("Hand it to a role"),
    "award_points": gettext_lazy("Award points to the member"),
    "set_tier": gettext_lazy("Set the member's tier"),
}
STORE_ROLES = (Role.STORE_MANAGER, Role.CUSTOMER_SERVICE, Role.CASHIER)

# Flows a new merchant starts with; they edit them in the flow designer.
BUILTIN_TYPES: list[dict[str, Any]] = [
    {
        "key": "care",
        "name": gettext_lazy("Care call"),
        "default_due_hours": 48,
        "states": [
            {"key": "open", "label": gettext_lazy("To do"), "final": False},
            {"key": "contacted", "label": gettext_lazy("Contacted"), "final": False},
            {"key": "done", "label": gettext_lazy("Done"), "final": True},
            {"key": "dropped", "label": gettext_lazy("Not needed"), "final": True},
        ],
        "transitions": [
            {"from": "open", "to": "contacted", "label": gettext_lazy("Contacted"), "roles": [], "effects": []},
            {"from": "open", "to": "dropped", "label": gettext_lazy("Not needed"), "roles": [], "effects": []},
            {"from": "contacted", "to": "done", "label": gettext_lazy("Done"), "roles": [], "effects": []},
        ],
    },
    {
        "key": "complaint",
        "name": gettext_lazy("Complaint"),
        "default_due_hours": 24,
        "states": [
            {"key": "new", "label": gettext_lazy("New"), "final": False},
            {"key": "handling", "label": gettext_lazy("Being handled"), "final": False},
            {"key": "resolved", "label": gettext_lazy("Resolved"), "final": True},
        ],
        "transitions": [
            {"from": "new", "to": "handling", "label": gettext_lazy("Take it"), "roles": [], "effects": []},
            {
                "from": "handling",
                "to": "resolved",
                "label": gettext_lazy("Resolve with 100 points"),
                "roles": [Role.STORE_MANAGER, Role.CUSTOMER_SERVICE, Role.HQ_ADMIN, Role.OWNER],
                "effects": [{"type": "award_points", "points": 100}, {"type": "notify_creator"}],
            },
            {
                "from": "handling",
                "to": "resolved",
                "label": gettext_lazy("Resolve"),
                "roles": [],
                "effects": [{"type": "notify_creator"}],
            },
        ],
    },
    {
        "key": "vip_upgrade",
        "name": gettext_lazy("VIP upgrade approval"),
        "default_due_hours": 72,
        "states": [
            {"key": "requested", "label": gettext_lazy("Requested"), "final": False},
            {"key": "approved", "label": gettext_lazy("Approved"), "final": True},
            {"key": "rejected", "label": gettext_lazy("Rejected"), "final": True},
        ],
        "transitions": [
            {
                "from": "requested",
                "to": "approved",
                "label": gettext_lazy("Approve"),
                "roles": [Role.HQ_ADMIN, Role.OWNER],
                "effects": [{"type": "notify_creator"}],
            },
            {
                "from": "requested",
                "to": "rejected",
                "label": gettext_lazy("Reject"),
                "roles": [Role.HQ_ADMIN, Role.OWNER],
                "effects": [{"type": "notify_creator"}],
            },
        ],
    },
]


def _plain(value: Any) -> Any:
    """Lazy labels into text, so a flow stores the words of the language it was created in."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value if isinstance(value, str | int | float | bool) or value is None else str(value)


def task_types_ensure() -> QuerySet[TaskType]:
    """The merchant's task types, creating the built-in ones the first time."""
    if not TaskType.objects.exists():
        for spec in BUILTIN_TYPES:
            TaskType.objects.get_or_create(
                key=spec["key"], defaults=_plain({k: v for k, v in spec.items() if k != "key"})
            )
    return TaskType.objects.all()


# ---- flow design ------------------------------------------------------------------------------
def flow_clean(states: Any, transitions: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    errors: dict[str, list[str]] = {}
    if not isinstance(states, list) or not states:
        raise ValidationFailed(fields={"states": [_("Add at least one state.")]})
    clean_states = []
    for index, state in enumerate(states):
        key = str((state or {}).get("key", "")).strip()
        label = str((state or {}).get("label", "")).strip()
        if not key or not label:
            errors[f"states[{index}]"] = [_("Each state needs a key and a name.")]
            continue
        clean_states.append({"key": key[:40], "label": label[:50], "final": bool(state.get("final"))})
    keys = [s["key"] for s in clean_states]
    if len(set(keys)) != len(keys):
        errors["states"] = [_("Two states have the same key.")]
    if clean_states and not any(s["final"] for s in clean_states):
        errors["states"] = [_("Mark at least one state as final (the task is closed there).")]
    if clean_states and clean_states[0]["final"]:
        errors["states[0]"] = [_("Tasks start in the first state; it cannot be final.")]
    clean_transitions = []
    for index, move in enumerate(transitions or []):
        path = f"transitions[{index}]"
        move = move or {}
        if move.get("from") not in keys or move.get("to") not in keys:
            errors[path] = [_("A move goes from one state to another of this flow.")]
            continue
        roles = [r for r in move.get("roles") or [] if r]
        if any(r not in Role.values for r in roles):
            errors[f"{path}.roles"] = [_("Unknown role.")]
            continue
        effects = []
        for e_index, effect in enumerate(move.get("effects") or []):
            kind = (effect or {}).get("type")
            if kind not in EFFECT_TYPES:
                errors[f"{path}.effects[{e_index}]"] = [_("Unknown effect.")]
                continue
            clean = {"type": kind}
            if kind == "award_points":
                try:
                    clean["points"] = int(effect.get("points"))
                    if not 0 < clean["points"] <= 100_000:
                        raise ValueError
                except (TypeError, ValueError):
                    errors[f"{path}.effects[{e_index}].points"] = [_("Between 1 and 100000 points.")]
            elif kind == "assign_role":
                if effect.get("role") not in STORE_ROLES:
                    errors[f"{path}.effects[{e_index}].role"] = [_("Choose a store role.")]
                clean["role"] = effect.get("role")
            elif kind == "set_tier":
                if not Tier.objects.filter(pk=effect.get("tier_id") or 0).exists():
                    errors[f"{path}.effects[{e_index}].tier_id"] = [_("Choose a tier.")]
                clean["tier_id"] = effect.get("tier_id")
            effects.append(clean)
        label = str(move.get("label") or "").strip()[:50] or next(
            str(s["label"]) for s in clean_states if s["key"] == move["to"]
        )
        clean_transitions.append(
            {"from": move["from"], "to": move["to"], "label": label, "roles": roles, "effects": effects}
        )
    if errors:
        raise ValidationFailed(fields=errors)
    return clean_states, clean_transitions


def task_type_save(
    *, actor: Any, name: str, states: Any, transitions: Any, default_due_hours: int = 48, type_id: int | None = None
) -> TaskType:
    check_permission(actor, "automation.rule.manage")
    if not str(name or "").strip():
        raise ValidationFailed(fields={"name": [_("Enter a name.")]})
    clean_states, clean_transitions = flow_clean(states, transitions)
    with transaction.atomic():
        if type_id:
            task_type = TaskType.objects.select_for_update().filter(pk=type_id).first()
            if task_type is None:
                raise NotFound()
            removed = {s["key"] for s in task_type.states} - {s["key"] for s in clean_states}
            if removed and task_type.tasks.filter(state__in=removed, closed=False).exists():
                raise Conflict(_("Open tasks are in a state you removed; move them first."), code="STATE_IN_USE")
        else:
            task_type = TaskType(key=f"t{TaskType.objects.count() + 1}-{timezone.now():%H%M%S}")
        task_type.name = name.strip()[:100]
        task_type.states, task_type.transitions = clean_states, clean_transitions
        task_type.default_due_hours = max(1, int(default_due_hours or 48))
        task_type.save()
        audit_record(actor=actor, action="automation.task_type.save", obj=task_type, changes={"name": task_type.name})
    return task_type


# ---- reading tasks ----------------------------------------------------------------------------
def task_list(*, actor: Any, scope: str = "mine", include_closed: bool = False) -> QuerySet[Task]:
    """``mine``: assigned to me, or to my role at my stores; ``store``: my stores' queues (every
    store for all-store roles); ``all``: everything I may see."""
    check_permission(actor, "automation.task.handle")
    qs = Task.objects.select_related("type", "member", "store", "assignee")
    if not include_closed:
        qs = qs.filter(closed=False)
    stores = actor_store_ids(actor)
    mine = Q(assignee=actor) | Q(assignee__isnull=True, assignee_role=actor.role, store_id__in=stores)
    if actor.role in ALL_SEEING:
        mine |= Q(assignee__isnull=True, assignee_role=actor.role)
    if scope == "mine":
        return qs.filter(mine)
    if sees_all_stores(actor):
        return qs
    return qs.filter(mine | Q(store_id__in=stores))


ALL_SEEING = frozenset({Role.OWNER, Role.HQ_ADMIN, Role.CUSTOMER_SERVICE})


def task_access_by_id(*, actor: Any, task_id: int) -> Task:
    task = task_list(actor=actor, scope="all", include_closed=True).filter(pk=task_id).first()
    if task is None:
        raise NotFound()
    return task


def state_label(task_type: TaskType, key: str) -> str:
    return next((s["label"] for s in task_type.states if s["key"] == key), key)


def moves_for(actor: Any, task: Task) -> list[tuple[int, dict[str, Any]]]:
    """The moves this actor may make from the task's state, with their index in the flow."""
    return [
        (index, move)
        for index, move in enumerate(task.type.transitions)
        if move["from"] == task.state and (not move["roles"] or actor.role in move["roles"])
    ]


# ---- writing tasks ----------------------------------------------------------------------------
def _notify(users: Any, title: str, body: str, task: Task) -> None:
    StaffNotification.objects.bulk_create(
        StaffNotification(user=user, title=title[:200], body=body, link=f"/tasks/{task.pk}/") for user in users
    )


def _store_staff(store_id: int | None, role: str) -> QuerySet[User]:
    users = User.objects.filter(role=role, is_active=True)
    if store_id is None:
        return users.none() if role in STORE_ROLES else users
    return users.filter(pk__in=StoreAssignment.objects.filter(store_id=store_id).values("user_id"))


def _announce_assignment(task: Task) -> None:
    """The console's inbox now, and ``task.assigned`` for integrations (a WeCom card to the same people)."""
    recipients = [task.assignee] if task.assignee else list(_store_staff(task.store_id, task.assignee_role))
    _notify(recipients, _("New task: %(t)s") % {"t": task.title}, task.description, task)
    local_due = timezone.localtime(task.due_at, tenant_timezone()) if task.due_at else None
    event_record(
        "task.assigned",
        {
            "task_id": task.pk,
            "title": task.title,
            "member_id": task.member_id,
            "recipient_ids": [user.pk for user in recipients],
            "due": _("Due %(t)s") % {"t": local_due.strftime("%Y-%m-%d %H:%M")} if local_due else "",
            "due_ms": int(task.due_at.timestamp() * 1000) if task.due_at else None,
        },
        aggregate_type="task",
        aggregate_id=task.pk,
    )


def _create(
    *,
    task_type: TaskType,
    title: str,
    member: Member | None,
    store: Store | None,
    assignee: User | None,
    role: str,
    due_hours: int | None,
    description: str = "",
    created_by: Any = None,
    run: Run | None = None,
) -> Task:
    due_at = timezone.now() + timedelta(hours=due_hours or task_type.default_due_hours)
    task = Task.objects.create(
        type=task_type,
        title=title[:200],
        description=description,
        member=member,
        store=store,
        assignee=assignee,
        assignee_role="" if assignee else role,
        state=task_type.states[0]["key"],
        due_at=due_at,
        created_by=created_by,
        run=run,
    )
    _announce_assignment(task)
    deliveries_schedule(TASK_DUE, TASK_DUE, [({"task_id": task.pk}, due_at)])
    return task


def task_create(
    *,
    actor: Any,
    type_id: int,
    title: str,
    member_id: int | None = None,
    assignee_id: int | None = None,
    role: str = "",
    store_id: int | None = None,
    due_hours: int | None = None,
    description: str = "",
) -> Task:
    """Open a task by hand (a complaint taken at the counter, a care call)."""
    check_permission(actor, "automation.task.handle")
    errors: dict[str, list[str]] = {}
    task_type = TaskType.objects.filter(pk=type_id).first()
    if task_type is None:
        errors["type_id"] = [_("Choose a task type.")]
    if not str(title or "").strip():
        errors["title"] = [_("Enter a title.")]
    member = member_access_by_id(actor=actor, member_id=member_id) if member_id else None
    store = Store.objects.filter(pk=store_id).first() if store_id else (member.home_store if member else None)
    if store is not None and not sees_all_stores(actor) and store.pk not in actor_store_ids(actor):
        errors["store_id"] = [_("Choose one of your stores.")]
    assignee = User.objects.filter(pk=assignee_id, is_active=True).first() if assignee_id else None
    if assignee_id and assignee is None:
        errors["assignee_id"] = [_("Choose an active staff member.")]
    if not assignee and role not in Role.values:
        role = Role.STORE_MANAGER if store else Role.CUSTOMER_SERVICE
    if errors:
        raise ValidationFailed(fields=errors)
    assert task_type is not None
    with transaction.atomic():
        task = _create(
            task_type=task_type,
            title=str(title).strip(),
            member=member,
            store=store,
            assignee=assignee,
            role=role,
            due_hours=due_hours,
            description=str(description or "").strip(),
            created_by=actor,
        )
        audit_record(actor=actor, action="automation.task.create", obj=task, changes={"title": task.title})
    return task


def task_create_for_rule(
    *, type_id: int, member: Member, title: str, role: str, due_hours: int | None, run: Run
) -> Task:
    """A rule's care task, for the role at the member's home store (HQ's customer service when the
    member has no store)."""
    task_type = TaskType.objects.filter(pk=type_id).first()
    if task_type is None:
        raise NotFound()
    store = member.home_store if member.home_store_id else None
    return _create(
        task_type=task_type,
        title=title,
        member=member,
        store=store,
        assignee=None,
        role=role if store else Role.CUSTOMER_SERVICE,
        due_hours=due_hours,
        run=run,
    )


def task_comment(*, actor: Any, task_id: int, body: str) -> TaskComment:
    task = task_access_by_id(actor=actor, task_id=task_id)
    if not str(body or "").strip():
        raise ValidationFailed(fields={"body": [_("Write something.")]})
    return TaskComment.objects.create(task=task, author=actor, body=str(body).strip()[:4000])


def task_assign(*, actor: Any, task_id: int, assignee_id: int) -> Task:
    with transaction.atomic():
        task = task_access_by_id(actor=actor, task_id=task_id)
        assignee = User.objects.filter(pk=assignee_id, is_active=True).first()
        if assignee is None or not _may_handle(assignee, task):
            raise ValidationFailed(fields={"assignee_id": [_("Choose staff who can handle this task.")]})
        task.assignee, task.assignee_role = assignee, ""
        task.save(update_fields=["assignee", "assignee_role", "updated_at"])
        TaskComment.objects.create(task=task, author=actor, body=_("Assigned to %(n)s") % {"n": assignee.display_name})
        _announce_assignment(task)
    return task


def _may_handle(user: User, task: Task) -> bool:
    from huiyuan.platform.access import can

    return can(user, "automation.task.handle") and (
        task.store_id is None or sees_all_stores(user) or task.store_id in actor_store_ids(user)
    )


def task_move(*, actor: Any, task_id: int, move_index: int, comment: str = "", outcome: str = "") -> Task:
    """Make one move of the task's flow; its effects happen in the same transaction."""
    with transaction.atomic():
        task = task_access_by_id(actor=actor, task_id=task_id)
        task = Task.objects.select_for_update(of=("self",)).select_related("type", "member").get(pk=task.pk)
        allowed = dict(moves_for(actor, task))
        if move_index not in allowed:
            if 0 <= move_index < len(task.type.transitions) and task.type.transitions[move_index]["from"] == task.state:
                raise PermissionDenied(_("Your role may not make this move."))
            raise Conflict(_("The task has moved on; reload it."), code="TASK_STATE_CHANGED")
        move = allowed[move_index]
        from_state = task.state
        task.state = move["to"]
        final = any(s["key"] == move["to"] and s["final"] for s in task.type.states)
        if final:
            task.closed, task.closed_at = True, timezone.now()
            task.outcome = str(outcome or comment or "").strip()[:4000]
        task.save()
        TaskComment.objects.create(
            task=task, author=actor, body=str(comment or "").strip()[:4000], from_state=from_state, to_state=task.state
        )
        for effect in move["effects"]:
            _apply_effect(effect, task, actor, move_index)
        audit_record(
            actor=actor, action="automation.task.move", obj=task, changes={"from": from_state, "to": task.state}
        )
    return task


def _apply_effect(effect: dict[str, Any], task: Task, actor: Any, move_index: int) -> None:
    title = _("%(t)s: %(s)s") % {"t": task.title, "s": state_label(task.type, task.state)}
    kind = effect["type"]
    if kind == "notify_assignee" and task.assignee:
        _notify([task.assignee], title, "", task)
    elif kind == "notify_creator" and task.created_by_id:
        _notify(User.objects.filter(pk=task.created_by_id), title, task.outcome, task)
    elif kind == "notify_store_manager":
        _notify(_store_staff(task.store_id, Role.STORE_MANAGER), title, "", task)
    elif kind == "assign_role":
        task.assignee, task.assignee_role = None, effect["role"]
        task.save(update_fields=["assignee", "assignee_role"])
        _announce_assignment(task)
    elif kind == "award_points" and task.member_id:
        points_earn(
            member_id=task.member_id,
            amount=effect["points"],
            idempotency_key=f"task:{task.pk}:move:{move_index}:{task.comments.count()}",
            cause=Cause.STAFF,
            cause_id=f"task:{task.pk}",
            reason=_("Compensation: %(t)s") % {"t": task.title},
            actor=actor,
        )
    elif kind == "set_tier" and task.member_id:
        tier_set(member_id=task.member_id, tier_id=effect["tier_id"], reason=f"task:{task.pk}")


# ---- overdue escalation -------------------------------------------------------------------------
def task_escalate_if_overdue(task_id: int) -> bool:
    """At the due time: a task still open is escalated once."""
    task = Task.objects.select_for_update().filter(pk=task_id).first()
    if task is None or task.closed or task.escalated_at or (task.due_at and task.due_at > timezone.now()):
        return False
    task.escalated_at = timezone.now()
    task.save(update_fields=["escalated_at"])
    managers = (
        _store_staff(task.store_id, Role.STORE_MANAGER) if task.store_id else User.objects.filter(role=Role.HQ_ADMIN)
    )
    _notify(managers, _("Overdue: %(t)s") % {"t": task.title}, "", task)
    event_record(
        "task.overdue",
        {"task_id": task.pk, "member_id": task.member_id, "store_id": task.store_id, "type": task.type.key},
        aggregate_type="task",
        aggregate_id=task.pk,
    )
    return True


def _on_task_due(event: Event) -> None:
    task_escalate_if_overdue(int(event.payload["task_id"]))


subscribe(TASK_DUE, TASK_DUE, _on_task_due, label=gettext_lazy("Overdue tasks"))


def notifications_for(actor: Any) -> QuerySet[StaffNotification]:
    return StaffNotification.objects.filter(user_id=actor.pk)
