from django.apps import AppConfig


class AutomationConfig(AppConfig):
    name = "huiyuan.automation"
    label = "automation"
    verbose_name = "Automation"

    def ready(self) -> None:
        # Registries fill themselves on import: one module per trigger, condition and action type.
        from huiyuan.members.erasure import register_member_eraser

        from . import actions, campaigns, channels, conditions, engine, sending, triggers, workflow  # noqa: F401

        register_member_eraser(_erase_messages)


def _erase_messages(member_id: int) -> None:
    """Messages keep that they were sent (campaign counts), not what they said or where to."""
    from .models import Message

    Message.objects.filter(member_id=member_id).update(address="", subject="", body="", options={})
