from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from huiyuan.platform.errors import ValidationFailed
from huiyuan.platform.roles import Role

from ..messaging import message_values, render, template_check
from ..models import TaskType
from ..registry import Action, Param, StepContext, register_action
from ..workflow import task_create_for_rule


@register_action
class CreateTask(Action):
    """A care or complaint task for the member's store: to a role there (the store manager by
    default), due in some hours."""

    type = "create_task"
    label = gettext_lazy("Create a staff task")
    params = (
        Param("task_type_id", gettext_lazy("Task type"), "task_type"),
        Param("title", gettext_lazy("Title"), "text"),
        Param("role", gettext_lazy("For"), "role", default=Role.STORE_MANAGER),
        Param("due_hours", gettext_lazy("Due in hours"), "int", required=False, minimum=1, maximum=24 * 90),
    )

    def clean(self, config: dict[str, Any], path: str, actor: Any) -> dict[str, Any]:
        cleaned = super().clean(config, path, actor)
        if not TaskType.objects.filter(pk=cleaned["task_type_id"]).exists():
            raise ValidationFailed(fields={f"{path}.task_type_id": [_("Choose a task type.")]})
        if cleaned["role"] not in {Role.STORE_MANAGER, Role.CUSTOMER_SERVICE, Role.CASHIER}:
            raise ValidationFailed(fields={f"{path}.role": [_("Choose a store role.")]})
        template_check(cleaned["title"], f"{path}.title")
        return cleaned

    def execute(self, ctx: StepContext) -> dict[str, Any]:
        title = render(ctx.config["title"], message_values(ctx.member, ctx.run.context, ctx.event))
        task = task_create_for_rule(
            type_id=ctx.config["task_type_id"],
            member=ctx.member,
            title=title,
            role=ctx.config["role"],
            due_hours=ctx.config.get("due_hours"),
            run=ctx.run,
        )
        return {"task_id": task.pk}
