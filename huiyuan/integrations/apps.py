from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    name = "huiyuan.integrations"
    label = "integrations"
    verbose_name = "Integrations"

    def ready(self) -> None:
        # Providers register themselves on import, one module each; the SMS channel joins automation's.
        from . import actions, channels, finance, providers, staff, webhooks  # noqa: F401
