from django.apps import AppConfig


class MembersConfig(AppConfig):
    name = "huiyuan.members"
    label = "members"
    verbose_name = "Members"

    def ready(self) -> None:
        from . import tasks  # noqa: F401 - subscribes to domain events (auto tags)
        from .fields import types  # noqa: F401 - registers every custom field type
