"""Segments: a JSON filter language compiled to one SQL query over members.

A rule is a condition ``{"field": "total_spend", "op": "gte", "value": 1000}`` or a group
``{"and": [...]}`` / ``{"or": [...]}`` / ``{"not": rule}``. Fields are core fields, statistics,
``tag`` and ``custom.<key>`` (the form engine's types build those filters). Dates take ISO text or
relative values ``{"days_ago": 30}`` / ``{"days_ahead": 7}`` in the tenant's local calendar;
``within_last`` / ``not_within_last`` take a number of days. The compiled filter is applied to the
caller's store-scoped member list, so a segment never reaches outside the caller's stores.

The seed example, high-value members with no purchase in the last 30 days::

    {"and": [{"field": "m_score", "op": "gte", "value": 4},
             {"field": "last_purchase_at", "op": "not_within_last", "value": 30}]}
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from huiyuan.platform.access import can, check_permission, filter_queryset
from huiyuan.platform.audit import audit_record
from huiyuan.platform.errors import NotFound, PermissionDenied, ValidationFailed
from huiyuan.platform.tenancy import tenant_timezone

from .custom_fields import active_fields_by_key
from .fields import registry
from .fields.base import FieldValueError
from .models import Lifecycle, Member, MemberTag, Segment, Tag
from .parsing import parse_decimal, resolve_date
from .selectors import member_list

MAX_CONDITIONS = 50
MAX_DEPTH = 6

OPS_BY_KIND: dict[str, tuple[str, ...]] = {
    "text": ("eq", "neq", "contains", "starts_with", "in", "is_empty", "not_empty"),
    "number": ("eq", "neq", "gt", "gte", "lt", "lte", "between"),
    "decimal": ("eq", "neq", "gt", "gte", "lt", "lte", "between"),
    "date": (
        "eq",
        "before",
        "after",
        "between",
        "within_last",
        "within_next",
        "is_empty",
        "not_empty",
        "month_is",
        "anniversary_within_next",
    ),
    "datetime": ("before", "after", "between", "within_last", "not_within_last", "is_empty", "not_empty"),
    "choice": ("eq", "neq", "in", "not_in"),
    "bool": ("is_true", "is_false"),
    "store": ("eq", "in", "not_in", "is_empty", "not_empty"),
    "tag": ("has", "has_not", "has_any", "has_all", "has_none"),
}

# Filtering on these reveals what masking hides; only roles that may see phones may use them.
SENSITIVE_FIELDS = frozenset({"phone"})
SENSITIVE_FIELD_TYPES = frozenset({"phone"})

CORE_FIELDS: dict[str, tuple[str, str]] = {
    "name": ("text", "name"),
    "phone": ("text", "phone"),
    "card_no": ("text", "card_no"),
    "province": ("text", "province"),
    "city": ("text", "city"),
    "email": ("text", "email"),
    "gender": ("choice", "gender"),
    "channel": ("choice", "channel"),
    "status": ("choice", "status"),
    "lifecycle": ("choice", "lifecycle"),
    "birthday": ("date", "birthday"),
    "created_at": ("datetime", "created_at"),
    "home_store": ("store", "home_store_id"),
    "consent_sms": ("bool", "consent_sms"),
    "consent_wechat": ("bool", "consent_wechat"),
    "consent_email": ("bool", "consent_email"),
    "order_count": ("number", "order_count"),
    "total_spend": ("decimal", "total_spend"),
    "r_score": ("number", "r_score"),
    "f_score": ("number", "f_score"),
    "m_score": ("number", "m_score"),
    "first_purchase_at": ("datetime", "first_purchase_at"),
    "last_purchase_at": ("datetime", "last_purchase_at"),
    "tag": ("tag", ""),
}


def register_segment_field(
    name: str, kind: str, column: str, *, choices: list[str] | Callable[[], list[str]] | None = None
) -> None:
    """Let another package (loyalty: tier, points, balances) make a member column filterable.
    ``kind`` is one of ``OPS_BY_KIND``; the column must be on the member row, so the segment stays
    one indexed query."""
    if kind not in OPS_BY_KIND:
        raise ValueError(f"unknown kind {kind!r}")
    CORE_FIELDS[name] = (kind, column)
    if choices is not None:
        CHOICES[name] = choices


CHOICES: dict[str, Any] = {
    "gender": Member.Gender.values,
    "channel": Member.Channel.values,
    "status": Member.Status.values,
    "lifecycle": Lifecycle.values,
}
NULLABLE = {"birthday", "home_store_id", "first_purchase_at", "last_purchase_at"}


class RuleError(ValueError):
    def __init__(self, path: str, message: str):
        self.path = path
        super().__init__(message)


@dataclass
class _Compiler:
    custom_fields: dict[str, Any]
    today: Any
    now: datetime
    conditions: int = 0
    sensitive_paths: list[str] = field(default_factory=list)  # conditions on phone numbers

    def compile(self, node: Any, path: str = "rule", depth: int = 0) -> Q:
        if depth > MAX_DEPTH:
            raise RuleError(path, _("Groups are nested too deeply."))
        if not isinstance(node, dict):
            raise RuleError(path, _("Expected a condition or a group."))
        for group in ("and", "or"):
            if group in node:
                children = node[group]
                if not isinstance(children, list) or not children:
                    raise RuleError(f"{path}.{group}", _("A group needs at least one condition."))
                parts = [self.compile(child, f"{path}.{group}[{i}]", depth + 1) for i, child in enumerate(children)]
                combined = parts[0]
                for part in parts[1:]:
                    combined = combined & part if group == "and" else combined | part
                return combined
        if "not" in node:
            return ~self.compile(node["not"], f"{path}.not", depth + 1)
        return self.condition(node, path)

    def condition(self, node: dict[str, Any], path: str) -> Q:
        self.conditions += 1
        if self.conditions > MAX_CONDITIONS:
            raise RuleError(path, _("At most %(n)d conditions.") % {"n": MAX_CONDITIONS})
        field, op, value = node.get("field"), node.get("op"), node.get("value")
        if not isinstance(field, str) or not isinstance(op, str):
            raise RuleError(path, _("A condition needs a field and an operator."))
        try:
            if field.startswith("custom."):
                return self.custom(field[7:], op, value, path)
            if field not in CORE_FIELDS:
                raise RuleError(f"{path}.field", _("Unknown field %(field)s.") % {"field": field})
            if field in SENSITIVE_FIELDS:
                self.sensitive_paths.append(f"{path}.field")
            kind, column = CORE_FIELDS[field]
            if op not in OPS_BY_KIND[kind]:
                raise RuleError(
                    f"{path}.op", _("Operator %(op)s does not apply to %(field)s.") % {"op": op, "field": field}
                )
            return BUILDERS[kind](self, field, column, op, value)
        except RuleError:
            raise
        except (ValueError, TypeError, KeyError, ArithmeticError, FieldValueError) as exc:
            raise RuleError(f"{path}.value", _("Invalid value for this operator.")) from exc

    def custom(self, key: str, op: str, value: Any, path: str) -> Q:
        field = self.custom_fields.get(key)
        if field is None:
            raise RuleError(f"{path}.field", _("Unknown or archived custom field %(key)s.") % {"key": key})
        if field.field_type in SENSITIVE_FIELD_TYPES:
            self.sensitive_paths.append(f"{path}.field")
        type_impl = registry.get(field.field_type)
        if op not in type_impl.operators:
            raise RuleError(
                f"{path}.op", _("Operator %(op)s does not apply to %(field)s.") % {"op": op, "field": field.label}
            )
        return type_impl.filter_q(field, op, value)

    # ---- builders per kind --------------------------------------------------------------------
    def text(self, field: str, column: str, op: str, value: Any) -> Q:
        if op == "is_empty":
            return Q(**{column: ""})
        if op == "not_empty":
            return ~Q(**{column: ""})
        if op == "in":
            return Q(**{f"{column}__in": [str(v) for v in value]})
        lookup = {"eq": "exact", "neq": "exact", "contains": "icontains", "starts_with": "startswith"}[op]
        q = Q(**{f"{column}__{lookup}": str(value)})
        return ~q if op == "neq" else q

    def number(self, field: str, column: str, op: str, value: Any, parse: Callable[[Any], Any] = int) -> Q:
        if op == "between":
            low, high = value
            return Q(**{f"{column}__gte": parse(low), f"{column}__lte": parse(high)})
        lookup = {"eq": "exact", "neq": "exact", "gt": "gt", "gte": "gte", "lt": "lt", "lte": "lte"}[op]
        q = Q(**{f"{column}__{lookup}": parse(value)})
        return ~q if op == "neq" else q

    def decimal(self, field: str, column: str, op: str, value: Any) -> Q:
        return self.number(field, column, op, value, parse=parse_decimal)

    def date(self, field: str, column: str, op: str, value: Any) -> Q:
        if op in ("is_empty", "not_empty"):
            return Q(**{f"{column}__isnull": op == "is_empty"})
        if op == "month_is":
            month = self.today.month if value == "current" else int(value)
            if not 1 <= month <= 12:
                raise ValueError(month)
            return Q(**{f"{column}__month": month})
        if op == "anniversary_within_next":
            return self.anniversary(column, int(value))
        if op == "within_last":
            return Q(**{f"{column}__gte": self.today - timedelta(days=int(value)), f"{column}__lte": self.today})
        if op == "within_next":
            return Q(**{f"{column}__gte": self.today, f"{column}__lte": self.today + timedelta(days=int(value))})
        if op == "between":
            low, high = (resolve_date(v, self.today) for v in value)
            return Q(**{f"{column}__gte": low, f"{column}__lte": high})
        day = resolve_date(value, self.today)
        lookup = {"eq": "exact", "before": "lt", "after": "gt"}[op]
        return Q(**{f"{column}__{lookup}": day})

    def anniversary(self, column: str, days: int) -> Q:
        """Birthday (any year) falling within the next ``days`` days: month/day pairs, so it also
        works across the new year."""
        if not 0 <= days <= 366:
            raise ValueError(days)
        pairs = {
            ((self.today + timedelta(days=d)).month, (self.today + timedelta(days=d)).day) for d in range(days + 1)
        }
        months: dict[int, list[int]] = {}
        for month, day in pairs:
            months.setdefault(month, []).append(day)
        q = Q(pk__in=[])
        for month, day_list in months.items():
            q |= Q(**{f"{column}__month": month, f"{column}__day__in": sorted(day_list)})
        return q

    def datetime(self, field: str, column: str, op: str, value: Any) -> Q:
        def start(day: Any) -> datetime:
            return datetime.combine(day, time.min, tzinfo=tenant_timezone())

        if op in ("is_empty", "not_empty"):
            return Q(**{f"{column}__isnull": op == "is_empty"})
        if op == "within_last":
            return Q(**{f"{column}__gte": self.now - timedelta(days=int(value))})
        if op == "not_within_last":
            q = Q(**{f"{column}__lt": self.now - timedelta(days=int(value))})
            return q | Q(**{f"{column}__isnull": True}) if column in NULLABLE else q
        if op == "between":
            low, high = (resolve_date(v, self.today) for v in value)
            return Q(**{f"{column}__gte": start(low), f"{column}__lt": start(high + timedelta(days=1))})
        day = resolve_date(value, self.today)
        if op == "before":
            return Q(**{f"{column}__lt": start(day)})
        return Q(**{f"{column}__gte": start(day + timedelta(days=1))})  # after

    def choice(self, field: str, column: str, op: str, value: Any) -> Q:
        allowed = CHOICES[field]
        if callable(allowed):  # choices that live in the database (tier names)
            allowed = allowed()
        values = value if op in ("in", "not_in") else [value]
        if not isinstance(values, list) or any(v not in allowed for v in values):
            raise ValueError(value)
        q = Q(**{f"{column}__in": values})
        return ~q if op in ("neq", "not_in") else q

    def boolean(self, field: str, column: str, op: str, value: Any) -> Q:
        return Q(**{column: op == "is_true"})

    def store(self, field: str, column: str, op: str, value: Any) -> Q:
        if op in ("is_empty", "not_empty"):
            return Q(**{f"{column}__isnull": op == "is_empty"})
        ids = [int(v) for v in (value if isinstance(value, list) else [value])]
        q = Q(**{f"{column}__in": ids})
        return ~q if op == "not_in" else q

    def tag(self, field: str, column: str, op: str, value: Any) -> Q:
        refs = value if isinstance(value, list) else [value]
        ids = _tag_ids(refs)
        if op in ("has", "has_all"):
            q = Q()
            for tag_id in ids:
                q &= Q(Exists(MemberTag.objects.filter(member=OuterRef("pk"), tag_id=tag_id)))
            return q
        has_any = Q(Exists(MemberTag.objects.filter(member=OuterRef("pk"), tag_id__in=ids)))
        return has_any if op == "has_any" else ~has_any


def _tag_ids(refs: list[Any]) -> list[int]:
    ids = []
    for ref in refs:
        tag = Tag.objects.filter(pk=ref).first() if isinstance(ref, int) or str(ref).isdecimal() else None
        tag = tag or Tag.objects.filter(name=str(ref)).first()
        if tag is None:
            raise ValueError(ref)
        ids.append(tag.pk)
    return ids


BUILDERS: dict[str, Callable[..., Q]] = {
    "text": _Compiler.text,
    "number": _Compiler.number,
    "decimal": _Compiler.decimal,
    "date": _Compiler.date,
    "datetime": _Compiler.datetime,
    "choice": _Compiler.choice,
    "bool": _Compiler.boolean,
    "store": _Compiler.store,
    "tag": _Compiler.tag,
}


def compile_rule(rule: Any, *, actor: Any = None, now: datetime | None = None) -> Q:
    """Compile a rule into a ``Q`` over members, or raise ``ValidationFailed`` naming the place.
    With an ``actor``, conditions on phone numbers need the permission to see them: otherwise
    ``phone starts_with 1381`` would reveal a masked number one digit at a time. ``now``: the
    moment relative dates count from (automation evaluates a day's schedule as of that day)."""
    now = now or timezone.now()
    compiler = _Compiler(custom_fields=active_fields_by_key(), today=now.astimezone(tenant_timezone()).date(), now=now)
    try:
        compiled = compiler.compile(rule)
    except RuleError as exc:
        raise ValidationFailed(fields={exc.path: [str(exc)]}) from exc
    if actor is not None and compiler.sensitive_paths and not can(actor, "members.pii.view"):
        message = _("Filtering on phone numbers needs the permission to see them.")
        raise PermissionDenied(message, fields={path: [message] for path in compiler.sensitive_paths})
    return compiled


def segment_members(*, actor: Any, rule: Any) -> QuerySet[Member]:
    return member_list(actor=actor).filter(compile_rule(rule, actor=actor))


# ---- saved segments ---------------------------------------------------------------------------
def segment_list(*, actor: Any) -> QuerySet[Segment]:
    check_permission(actor, "members.segment.view")
    return Segment.objects.all()


def segment_get(*, actor: Any, segment_id: int) -> Segment:
    segment = segment_list(actor=actor).filter(pk=segment_id).first()
    if segment is None:
        raise NotFound()
    return segment


def segment_save(*, actor: Any, name: str, rule: Any, description: str = "", segment_id: int | None = None) -> Segment:
    check_permission(actor, "members.segment.manage")
    compile_rule(rule, actor=actor)  # reject what would not run, or what this actor may not filter on
    errors = {}
    if not name.strip():
        errors["name"] = [_("Enter a name.")]
    elif Segment.objects.filter(name=name.strip()).exclude(pk=segment_id or 0).exists():
        errors["name"] = [_("Another segment has this name.")]
    if errors:
        raise ValidationFailed(fields=errors)
    with transaction.atomic():
        if segment_id:
            segment = Segment.objects.select_for_update().filter(pk=segment_id).first()
            if segment is None:
                raise NotFound()
            segment.name, segment.rule, segment.description = name.strip(), rule, description.strip()
            segment.save()
            action = "members.segment.update"
        else:
            segment = Segment.objects.create(
                name=name.strip(), rule=rule, description=description.strip(), created_by=actor
            )
            action = "members.segment.create"
        audit_record(actor=actor, action=action, obj=segment, changes={"rule": rule})
    return segment


# Hooks for "act on this segment": later issues (campaigns, coupons) register actions here, each
# with the ids it takes as parameters (the API checks the body against them: whole numbers only).
SegmentAction = Callable[..., Any]
SEGMENT_ACTIONS: dict[str, SegmentAction] = {}
SEGMENT_ACTION_PARAMS: dict[str, tuple[str, ...]] = {}


def register_segment_action(name: str, action: SegmentAction, *, params: tuple[str, ...] = ()) -> None:
    SEGMENT_ACTIONS[name] = action
    SEGMENT_ACTION_PARAMS[name] = params


# ---- what the condition builders show (segment and automation editors) --------------------------
FIELD_LABELS: dict[str, Any] = {
    "name": gettext_lazy("Name"),
    "phone": gettext_lazy("Phone"),
    "card_no": gettext_lazy("Card number"),
    "province": gettext_lazy("Province"),
    "city": gettext_lazy("City"),
    "email": gettext_lazy("E-mail"),
    "gender": gettext_lazy("Gender"),
    "channel": gettext_lazy("Joined through"),
    "status": gettext_lazy("Status"),
    "lifecycle": gettext_lazy("Lifecycle stage"),
    "birthday": gettext_lazy("Birthday"),
    "created_at": gettext_lazy("Joined at"),
    "home_store": gettext_lazy("Home store"),
    "consent_sms": gettext_lazy("Agreed to SMS"),
    "consent_wechat": gettext_lazy("Agreed to WeChat"),
    "consent_email": gettext_lazy("Agreed to e-mail"),
    "order_count": gettext_lazy("Number of orders"),
    "total_spend": gettext_lazy("Total spend"),
    "r_score": gettext_lazy("Recency score (1–5)"),
    "f_score": gettext_lazy("Frequency score (1–5)"),
    "m_score": gettext_lazy("Monetary score (1–5)"),
    "first_purchase_at": gettext_lazy("First purchase"),
    "last_purchase_at": gettext_lazy("Last purchase"),
    "tag": gettext_lazy("Tags"),
    "tier": gettext_lazy("Tier"),
    "points_balance": gettext_lazy("Points balance"),
    "stored_principal": gettext_lazy("Stored value (principal)"),
    "stored_bonus": gettext_lazy("Stored value (bonus)"),
}

OP_LABELS: dict[str, Any] = {
    "eq": gettext_lazy("is"),
    "neq": gettext_lazy("is not"),
    "contains": gettext_lazy("contains"),
    "starts_with": gettext_lazy("starts with"),
    "in": gettext_lazy("is one of"),
    "not_in": gettext_lazy("is none of"),
    "is_empty": gettext_lazy("is empty"),
    "not_empty": gettext_lazy("is not empty"),
    "gt": gettext_lazy("more than"),
    "gte": gettext_lazy("at least"),
    "lt": gettext_lazy("less than"),
    "lte": gettext_lazy("at most"),
    "between": gettext_lazy("between"),
    "before": gettext_lazy("before"),
    "after": gettext_lazy("after"),
    "within_last": gettext_lazy("within the last N days"),
    "not_within_last": gettext_lazy("not within the last N days"),
    "within_next": gettext_lazy("within the next N days"),
    "month_is": gettext_lazy("month is"),
    "anniversary_within_next": gettext_lazy("anniversary within N days"),
    "is_true": gettext_lazy("yes"),
    "is_false": gettext_lazy("no"),
    "has": gettext_lazy("has"),
    "has_not": gettext_lazy("has not"),
    "has_any": gettext_lazy("has any of"),
    "has_all": gettext_lazy("has all of"),
    "has_none": gettext_lazy("has none of"),
}
NO_VALUE_OPS = frozenset({"is_empty", "not_empty", "is_true", "is_false"})


# The builder's field groups, in the order it lists them; fields not named here are basic info.
FIELD_GROUPS: dict[str, Any] = {
    "basic": gettext_lazy("Basic information"),
    "spend": gettext_lazy("Spending"),
    "loyalty": gettext_lazy("Points and tier"),
    "tags": gettext_lazy("Tags"),
    "custom": gettext_lazy("Custom fields"),
}
FIELD_GROUP_OF = {
    **dict.fromkeys(("order_count", "total_spend", "r_score", "f_score", "m_score", "lifecycle"), "spend"),
    **dict.fromkeys(("first_purchase_at", "last_purchase_at"), "spend"),
    **dict.fromkeys(("tier", "points_balance", "stored_principal", "stored_bonus"), "loyalty"),
    "tag": "tags",
}
# Words for stored codes, so a picker shows 女 and sends "female".
CHOICE_LABELS: dict[str, Any] = {
    "gender": Member.Gender,
    "channel": Member.Channel,
    "status": Member.Status,
    "lifecycle": Lifecycle,
}


def _options(name: str, kind: str, choices: list[Any], actor: Any) -> list[dict[str, str]]:
    """What a value picker offers: the stored value and the words shown for it."""
    from .models import Store

    if kind == "store":
        stores = filter_queryset(actor, "platform.store.view", Store.objects.order_by("code"))
        return [{"value": str(pk), "label": label} for pk, label in stores.values_list("pk", "name")]
    if kind == "tag":
        return [{"value": tag, "label": tag} for tag in Tag.objects.order_by("name").values_list("name", flat=True)]
    labels = CHOICE_LABELS.get(name)
    if labels is not None:
        return [{"value": value, "label": str(label)} for value, label in labels.choices]
    return [{"value": str(c), "label": str(c)} for c in choices]


def condition_catalogue(actor: Any) -> list[dict[str, Any]]:
    """The fields a condition builder offers this actor, grouped, each with its operators, choices
    and what its value picker offers. Phone numbers only for roles that may see them."""
    fields = []
    for name, (kind, _column) in CORE_FIELDS.items():
        if name in SENSITIVE_FIELDS and not can(actor, "members.pii.view"):
            continue
        choices = list(CHOICES[name]() if callable(CHOICES.get(name)) else CHOICES.get(name, []))
        group = FIELD_GROUP_OF.get(name, "basic")
        fields.append(
            {
                "name": name,
                "label": str(FIELD_LABELS.get(name, name)),
                "kind": kind,
                "group": group,
                "group_label": str(FIELD_GROUPS[group]),
                "ops": [{"op": op, "label": str(OP_LABELS.get(op, op))} for op in OPS_BY_KIND[kind]],
                "choices": choices,
                "options": _options(name, kind, choices, actor),
            }
        )
    # The merchant's own fields, with the operators their type filters by.
    for key, custom in active_fields_by_key().items():
        if custom.field_type in SENSITIVE_FIELD_TYPES and not can(actor, "members.pii.view"):
            continue
        type_impl = registry.get(custom.field_type)
        choices = [str(c) for c in (custom.config or {}).get("choices", [])]
        fields.append(
            {
                "name": f"custom.{key}",
                "label": custom.label,
                "kind": {"date": "date", "datetime": "datetime", "boolean": "bool"}.get(custom.field_type, "custom"),
                "group": "custom",
                "group_label": str(FIELD_GROUPS["custom"]),
                "ops": [{"op": op, "label": str(OP_LABELS.get(op, op))} for op in type_impl.operators],
                "choices": choices,
                "options": [{"value": c, "label": c} for c in choices],
            }
        )
    order = list(FIELD_GROUPS)
    return sorted(fields, key=lambda f: order.index(f["group"]))  # stable: each group keeps its order


def rule_from_rows(join: str, rows: list[tuple[str, str, str]]) -> Any:
    """A rule from a builder's rows (field, operator, value text), joined by ``and`` or ``or``.
    Numbers stay text (the compiler parses them); lists are comma-separated; empty rows are dropped."""
    conditions = []
    for field_name, op, value in rows:
        if not field_name or not op:
            continue
        condition: dict[str, Any] = {"field": field_name, "op": op}
        if op not in NO_VALUE_OPS:
            text = value.strip()
            if op in {"in", "not_in", "has_any", "has_all", "has_none", "between"}:
                condition["value"] = [part.strip() for part in text.replace("，", ",").split(",") if part.strip()]
            elif op in {"within_last", "not_within_last", "within_next", "anniversary_within_next", "month_is"}:
                condition["value"] = int(text) if text.isdecimal() else text
            else:
                condition["value"] = text
        conditions.append(condition)
    if not conditions:
        return None
    return conditions[0] if len(conditions) == 1 else {"or" if join == "or" else "and": conditions}


def rows_from_rule(rule: Any) -> tuple[str, list[dict[str, Any]]]:
    """The builder's rows for a flat rule (one condition or one and/or group); None for deeper ones."""
    if not rule:
        return "and", []
    join = "and"
    items = [rule]
    for group in ("and", "or"):
        if isinstance(rule, dict) and group in rule:
            join, items = group, rule[group]
    rows = []
    for item in items:
        if not isinstance(item, dict) or "field" not in item:
            raise ValueError("nested")
        value = item.get("value", "")
        rows.append(
            {
                "field": item["field"],
                "op": item.get("op", ""),
                "value": ", ".join(map(str, value)) if isinstance(value, list) else value,
            }
        )
    return join, rows


# ---- members entering a segment -----------------------------------------------------------------
def segment_watch(segment_id: int) -> None:
    """Start keeping who is in a segment; members in it now are its baseline, not newcomers."""
    with transaction.atomic():
        segment = Segment.objects.select_for_update().filter(pk=segment_id).first()
        if segment is None or segment.watched_since is not None:
            return
        segment.watched_since = timezone.now()
        segment.save(update_fields=["watched_since"])
        segment_entries_refresh(segment, announce=False)


ENTRIES_INSERT_SQL = """
INSERT INTO members_segmentmember (segment_id, member_id, entered_at)
SELECT %s, chosen.id, %s FROM ({members}) AS chosen(id)
ON CONFLICT (segment_id, member_id) DO NOTHING
RETURNING member_id
"""


def segment_entries_refresh(segment: Segment, member_ids: list[int] | None = None, *, announce: bool = True) -> int:
    """Bring a watched segment's members up to date (all, or just ``member_ids``): those who left
    are removed, those who entered are recorded and announced as ``segment.entered``. Returns how
    many entered."""
    from django.db import connection

    from huiyuan.platform.events.services import events_record

    from .models import SegmentMember

    try:
        matching = Member.objects.filter(compile_rule(segment.rule)).filter(status=Member.Status.ACTIVE)
    except (ValidationFailed, PermissionDenied):
        return 0  # a rule that no longer compiles (a field removed) keeps its last members
    if member_ids is not None:
        matching = matching.filter(pk__in=member_ids)
    select_sql, params = matching.values("pk").query.sql_with_params()
    with transaction.atomic():
        left = SegmentMember.objects.filter(segment=segment).exclude(member_id__in=matching.values("pk"))
        if member_ids is not None:
            left = left.filter(member_id__in=member_ids)
        left.delete()
        with connection.cursor() as cursor:
            cursor.execute(ENTRIES_INSERT_SQL.format(members=select_sql), [segment.pk, timezone.now(), *params])
            entered = [row[0] for row in cursor.fetchall()]
        if announce and entered:
            payload = {"segment_id": segment.pk, "segment": segment.name}
            events_record("segment.entered", [("member", pk, {"member_id": pk, **payload}) for pk in entered])
    return len(entered)


def segments_refresh_entries(member_ids: list[int] | None = None) -> dict[str, int]:
    """Every watched segment (after a member's change: just theirs; nightly: everyone)."""
    return {
        segment.name: segment_entries_refresh(segment, member_ids)
        for segment in Segment.objects.filter(watched_since__isnull=False)
    }


# ---- the member list's quick filters ----------------------------------------------------------
QUICK_FILTERS = ("store", "tier", "tag", "lifecycle", "spend_min", "spend_max", "bought_within", "not_bought_within")


def rule_from_quick_filters(values: dict[str, str], *, extra: Any = None) -> Any:
    """A rule from the member list's filter bar (empty values ignored), AND-ed with the rows of
    its condition builder (``extra``), so the list, its export and its bulk actions select the
    same members as a segment with that rule would."""
    conditions: list[dict[str, Any]] = []

    def add(field_name: str, op: str, value: Any) -> None:
        conditions.append({"field": field_name, "op": op, "value": value})

    if values.get("store"):
        add("home_store", "eq", values["store"])
    if values.get("tier") and "tier" in CORE_FIELDS:
        add("tier", "eq", values["tier"])
    if values.get("tag"):
        add("tag", "has", values["tag"])
    if values.get("lifecycle"):
        add("lifecycle", "eq", values["lifecycle"])
    if values.get("spend_min"):
        add("total_spend", "gte", values["spend_min"])
    if values.get("spend_max"):
        add("total_spend", "lte", values["spend_max"])
    for name, op in (("bought_within", "within_last"), ("not_bought_within", "not_within_last")):
        text = values.get(name, "")
        if text:
            add("last_purchase_at", op, int(text) if text.isdecimal() else text)
    if extra:
        conditions.append(extra)
    if not conditions:
        return None
    return conditions[0] if len(conditions) == 1 else {"and": conditions}


def selected_members_rule(card_numbers: list[str]) -> Any:
    """The rule for members ticked by hand on the list (by card number, which every role sees)."""
    return {"field": "card_no", "op": "in", "value": [c for c in card_numbers if c][:1000]}
