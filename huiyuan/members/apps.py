from django.apps import AppConfig


class MembersConfig(AppConfig):
    name = "huiyuan.members"
    label = "members"
    verbose_name = "Members"
