from django.apps import AppConfig


class AutomationConfig(AppConfig):
    name = "huiyuan.automation"
    label = "automation"
    verbose_name = "Automation"

    def ready(self) -> None:
        # Registries fill themselves on import: one module per trigger, condition and action type.
        from . import actions, campaigns, channels, conditions, engine, sending, triggers, workflow  # noqa: F401
