"""Condition types. Conditions on the member (their fields, statistics, tags, tier, store, custom
fields, with and/or groups) use the segments' filter language and run as SQL; conditions on the
event that started the run (an order's amount, the tier reached) are checked on its payload."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from huiyuan.members.segments import compile_rule
from huiyuan.platform.errors import ValidationFailed

from .registry import CONDITIONS, Condition

EVENT_OPS = ("eq", "neq", "gt", "gte", "lt", "lte", "in", "contains")


class MemberCondition(Condition):
    type = "member"
    label = gettext_lazy("The member")

    def clean(self, rule: Any, actor: Any) -> Any:
        if rule in (None, {}, []):
            return None
        # With the editor as actor: a role that may not filter on phone numbers may not build a rule on them.
        compile_rule(rule, actor=actor)
        return rule


class EventFieldCondition(Condition):
    type = "event"
    label = gettext_lazy("The event")
    ops: ClassVar[tuple[str, ...]] = EVENT_OPS

    def clean(self, conditions: Any, actor: Any) -> list[dict[str, Any]]:
        if conditions in (None, []):
            return []
        if not isinstance(conditions, list) or len(conditions) > 20:
            raise ValidationFailed(fields={"conditions.event": [_("Expected a list of at most 20 conditions.")]})
        cleaned = []
        for index, item in enumerate(conditions):
            path = f"conditions.event[{index}]"
            if not isinstance(item, dict) or not isinstance(item.get("field"), str) or not item["field"].strip():
                raise ValidationFailed(fields={f"{path}.field": [_("Name the event field.")]})
            if item.get("op") not in EVENT_OPS:
                raise ValidationFailed(fields={f"{path}.op": [_("Unknown operator.")]})
            cleaned.append({"field": item["field"].strip(), "op": item["op"], "value": item.get("value")})
        return cleaned

    def holds(self, conditions: list[dict[str, Any]], payload: dict[str, Any]) -> bool:
        return all(_holds(c["op"], payload.get(c["field"]), c["value"]) for c in conditions)


def _number(value: Any) -> Decimal | None:
    try:
        return Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        return None


def _holds(op: str, actual: Any, expected: Any) -> bool:
    if op == "in":
        options = expected if isinstance(expected, list) else str(expected or "").split(",")
        return str(actual) in [str(o).strip() for o in options]
    if op == "contains":
        return str(expected) in str(actual or "")
    left, right = _number(actual), _number(expected)
    if left is not None and right is not None:
        comparable: tuple[Any, Any] = (left, right)
    else:
        comparable = (str(actual), str(expected))
    a, b = comparable
    return {
        "eq": a == b,
        "neq": a != b,
        "gt": left is not None and right is not None and a > b,
        "gte": left is not None and right is not None and a >= b,
        "lt": left is not None and right is not None and a < b,
        "lte": left is not None and right is not None and a <= b,
    }[op]


MEMBER_CONDITION = MemberCondition()
EVENT_CONDITION = EventFieldCondition()
CONDITIONS.update({MEMBER_CONDITION.type: MEMBER_CONDITION, EVENT_CONDITION.type: EVENT_CONDITION})


def conditions_clean(conditions: Any, actor: Any) -> dict[str, Any]:
    if conditions in (None, ""):
        conditions = {}
    if not isinstance(conditions, dict):
        raise ValidationFailed(fields={"conditions": [_("Expected member and event conditions.")]})
    return {
        "member": MEMBER_CONDITION.clean(conditions.get("member"), actor),
        "event": EVENT_CONDITION.clean(conditions.get("event"), actor),
    }
