from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from huiyuan.loyalty.models import Tier
from huiyuan.loyalty.tiers import tier_set
from huiyuan.platform.errors import ValidationFailed

from ..registry import Action, Param, StepContext, register_action


@register_action
class SetTier(Action):
    type = "set_tier"
    label = gettext_lazy("Set the tier")
    params = (Param("tier_id", gettext_lazy("Tier"), "tier"),)

    def clean(self, config: dict[str, Any], path: str, actor: Any) -> dict[str, Any]:
        cleaned = super().clean(config, path, actor)
        if not Tier.objects.filter(pk=cleaned["tier_id"]).exists():
            raise ValidationFailed(fields={f"{path}.tier_id": [_("Choose a tier.")]})
        return cleaned

    def execute(self, ctx: StepContext) -> dict[str, Any]:
        changed = tier_set(member_id=ctx.member.pk, tier_id=ctx.config["tier_id"], reason=f"rule:{ctx.run.rule_id}")
        return {"changed": changed}
