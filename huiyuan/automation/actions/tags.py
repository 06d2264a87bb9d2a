from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from huiyuan.members.models import Tag
from huiyuan.members.tags import tag_set_by_rule
from huiyuan.platform.errors import ValidationFailed

from ..registry import Action, Param, StepContext, register_action


class _TagAction(Action):
    present = True
    params = (Param("tag_id", gettext_lazy("Tag"), "tag"),)

    def clean(self, config: dict[str, Any], path: str, actor: Any) -> dict[str, Any]:
        cleaned = super().clean(config, path, actor)
        if not Tag.objects.filter(pk=cleaned["tag_id"], kind=Tag.Kind.MANUAL).exists():
            raise ValidationFailed(fields={f"{path}.tag_id": [_("Choose a manual tag.")]})
        return cleaned

    def execute(self, ctx: StepContext) -> dict[str, Any]:
        changed = tag_set_by_rule(
            member_id=ctx.member.pk, tag_id=ctx.config["tag_id"], present=self.present, source=f"rule:{ctx.run.rule_id}"
        )
        return {"changed": changed}


@register_action
class AddTag(_TagAction):
    type = "add_tag"
    label = gettext_lazy("Add a tag")


@register_action
class RemoveTag(_TagAction):
    type = "remove_tag"
    label = gettext_lazy("Remove a tag")
    present = False
