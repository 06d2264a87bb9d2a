from django.apps import AppConfig


class PlatformConfig(AppConfig):
    name = "huiyuan.platform"
    label = "platform"
    verbose_name = "Platform"
