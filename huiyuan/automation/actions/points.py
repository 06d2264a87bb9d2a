from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy

from huiyuan.loyalty.ledger import points_earn, points_spend
from huiyuan.loyalty.models import Cause, PointsEntry

from ..registry import Action, Param, StepContext, register_action

_PARAMS = (
    Param("points", gettext_lazy("Points"), "int", minimum=1, maximum=1_000_000),
    Param("reason", gettext_lazy("Reason"), "text"),
)


@register_action
class AwardPoints(Action):
    type = "award_points"
    label = gettext_lazy("Award points")
    params = _PARAMS

    def execute(self, ctx: StepContext) -> dict[str, Any]:
        result = points_earn(
            member_id=ctx.member.pk,
            amount=ctx.config["points"],
            idempotency_key=ctx.key,
            cause=Cause.AUTOMATION,
            cause_id=str(ctx.run.rule_id),
            reason=ctx.config["reason"],
        )
        return {"entry_id": result.entry.pk}


@register_action
class DeductPoints(Action):
    """Takes points off; a member without enough fails the step with the ledger's reason (no retry)."""

    type = "deduct_points"
    label = gettext_lazy("Deduct points")
    params = _PARAMS

    def execute(self, ctx: StepContext) -> dict[str, Any]:
        result = points_spend(
            member_id=ctx.member.pk,
            amount=ctx.config["points"],
            idempotency_key=ctx.key,
            cause=Cause.AUTOMATION,
            cause_id=str(ctx.run.rule_id),
            reason=ctx.config["reason"],
            kind=PointsEntry.Kind.ADJUST,
        )
        return {"entry_id": result.entry.pk}
