"""The console pages a role can open, read from the console's own navigation, so every page added
to the menu is checked by the page sweeps (no sideways scrolling, no raw codes) without a list to
keep in step."""

from __future__ import annotations

from typing import Any

from django.db import connection
from django.urls import reverse
from django_tenants.utils import tenant_context

from huiyuan.console.context import NAVIGATION
from huiyuan.platform.access import has_operation


def menu_pages(world: Any, persona: str) -> list[str]:
    user = world.persona(persona)
    with tenant_context(world.tenant):
        user.__dict__.pop("_huiyuan_access_cache", None)
        pages = [
            reverse(url_name)
            for _group, items in NAVIGATION
            for url_name, _label, op in items
            if op is None or has_operation(user, op)
        ]
    connection.set_schema_to_public()
    return pages
