from django.apps import AppConfig


class ReportsConfig(AppConfig):
    name = "huiyuan.reports"
    label = "reports"
    verbose_name = "Reports"

    def ready(self) -> None:
        from . import tasks, types  # noqa: F401 - report types register themselves; the nightly rollup
