from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    name = "huiyuan.console"
    label = "console"
    verbose_name = "Console"
