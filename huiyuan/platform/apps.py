from django.apps import AppConfig


class PlatformConfig(AppConfig):
    name = "huiyuan.platform"
    label = "platform"
    verbose_name = "Platform"

    def ready(self) -> None:
        from . import logins  # noqa: F401 - connects the failed-login audit
