"""Flow actions: wait, then go on; branch on a condition about the member."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from huiyuan.members.models import Member
from huiyuan.members.segments import compile_rule
from huiyuan.platform.errors import ValidationFailed

from ..registry import Action, Param, StepContext, register_action


@register_action
class Wait(Action):
    type = "wait"
    label = gettext_lazy("Wait")
    params = (
        Param("days", gettext_lazy("Days"), "int", required=False, default=0, minimum=0, maximum=365),
        Param("hours", gettext_lazy("Hours"), "int", required=False, default=0, minimum=0, maximum=23),
    )

    def clean(self, config: dict[str, Any], path: str, actor: Any) -> dict[str, Any]:
        cleaned = super().clean(config, path, actor)
        if not cleaned.get("days") and not cleaned.get("hours"):
            raise ValidationFailed(fields={f"{path}.hours": [_("Wait at least one hour.")]})
        return cleaned

    def execute(self, ctx: StepContext) -> dict[str, Any]:
        until = ctx.now + timedelta(days=ctx.config.get("days", 0), hours=ctx.config.get("hours", 0))
        return {"resume_at": until.isoformat()}


@register_action
class Branch(Action):
    """Go on with ``then`` when the member matches the condition, with ``else`` otherwise."""

    type = "branch"
    label = gettext_lazy("If the member…")

    def clean(self, config: dict[str, Any], path: str, actor: Any) -> dict[str, Any]:
        from ..rules import actions_clean  # the branches are lists of actions themselves

        condition = config.get("condition")
        if not condition:
            raise ValidationFailed(fields={f"{path}.condition": [_("Add a condition.")]})
        try:
            compile_rule(condition, actor=actor)
        except ValidationFailed as exc:
            raise ValidationFailed(fields={f"{path}.condition.{k}": v for k, v in exc.fields.items()}) from exc
        return {
            "condition": condition,
            "then": actions_clean(config.get("then") or [], actor, path=f"{path}.then", allow_empty=True),
            "else": actions_clean(config.get("else") or [], actor, path=f"{path}.else", allow_empty=True),
        }

    def execute(self, ctx: StepContext) -> dict[str, Any]:
        matches = Member.objects.filter(pk=ctx.member.pk).filter(compile_rule(ctx.config["condition"], now=ctx.now))
        return {"branch": "then" if matches.exists() else "else"}
