from django.apps import AppConfig


class MembersConfig(AppConfig):
    name = "huiyuan.members"
    label = "members"
    verbose_name = "Members"

    def ready(self) -> None:
        from huiyuan.platform.audit_words import VALUE_FORMATTERS

        from . import tasks  # noqa: F401 - subscribes to domain events (auto tags)
        from .fields import types  # noqa: F401 - registers every custom field type
        from .history_words import custom_values_words, field_type_words

        VALUE_FORMATTERS["custom_fields"] = custom_values_words  # the audit log names custom fields too
        VALUE_FORMATTERS["field_type"] = field_type_words
