from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from huiyuan.tenants.demo import create_demo, demo_exists


class Command(BaseCommand):
    help = "Create the demo merchant (stores, staff of every role, members, orders) unless it exists."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--members", type=int, default=3000)

    def handle(self, *args: Any, **options: Any) -> None:
        if demo_exists():
            self.stdout.write("demo merchant already exists; reusing it")
            return
        tenant = create_demo(members=options["members"])
        self.stdout.write(self.style.SUCCESS(f"demo merchant created in schema {tenant.schema_name}"))
