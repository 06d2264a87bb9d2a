"""A private install for one merchant: create the merchant once, answering on a fixed host (the
chart's ``singleTenant.host``), with its owner's login. Safe to re-run: an existing merchant on the
host is left as it is."""

from __future__ import annotations

import os
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from huiyuan.platform.errors import ValidationFailed
from huiyuan.tenants.models import Domain
from huiyuan.tenants.services import tenant_signup


class Command(BaseCommand):
    help = "Create the one merchant of a single-merchant install, on its fixed host."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--name", required=True)
        parser.add_argument("--owner-email", default="")
        parser.add_argument("--owner-phone", default="")
        parser.add_argument("--password", default=os.environ.get("HUIYUAN_OWNER_PASSWORD", ""))
        parser.add_argument("--host", default=os.environ.get("HUIYUAN_SINGLE_TENANT_HOST", ""))

    def handle(self, *args: Any, **options: Any) -> None:
        host = options["host"].strip().lower()
        if not host:
            raise CommandError("give --host (or set HUIYUAN_SINGLE_TENANT_HOST)")
        existing = Domain.objects.filter(domain=host).select_related("tenant").first()
        if existing is not None:
            self.stdout.write(f"{host} already belongs to {existing.tenant.name}; nothing to do")
            return
        try:
            result = tenant_signup(
                name=options["name"],
                subdomain="shop",
                owner_phone=options["owner_phone"],
                owner_email=options["owner_email"],
                password=options["password"],
            )
        except ValidationFailed as exc:
            problems = "; ".join(f"{field}: {' '.join(map(str, msgs))}" for field, msgs in exc.fields.items())
            raise CommandError(problems or str(exc.message)) from exc
        with transaction.atomic():
            Domain.objects.filter(tenant=result.tenant).update(is_primary=False)
            Domain.objects.create(tenant=result.tenant, domain=host, is_primary=True)
        self.stdout.write(self.style.SUCCESS(f"{options['name']} answers on {host}; owner login {result.owner_login}"))
