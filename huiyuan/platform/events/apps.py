from django.apps import AppConfig


class EventsConfig(AppConfig):
    name = "huiyuan.platform.events"
    label = "events"
    verbose_name = "Domain events (outbox)"
