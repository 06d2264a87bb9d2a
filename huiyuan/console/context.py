"""Template context shared by every console page: the navigation, filtered by what the user may do."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from huiyuan.platform.access import has_operation

# (url name, label, operation needed). Later issues add their pages here.
NAVIGATION = [
    ("console:home", _("Overview"), None),
    ("console:cashier", _("Till"), "loyalty.order.create"),
    ("console:members", _("Members"), "members.member.view"),
    ("console:orders", _("Orders"), "members.member.view"),
    ("console:segments", _("Segments"), "members.segment.view"),
    ("console:tags", _("Tags"), "members.segment.manage"),
    ("console:imports", _("Import"), "members.member.import"),
    ("console:fields", _("Member form"), "members.field.manage"),
    ("console:loyalty", _("Loyalty"), "loyalty.config.manage"),
    ("console:automation", _("Automation"), "automation.rule.manage"),
    ("console:tasks", _("Tasks"), "automation.task.handle"),
    ("console:stores", _("Stores"), "platform.store.view"),
    ("console:staff", _("Staff"), "platform.staff.view"),
    ("console:roles", _("Roles"), "platform.staff.view"),
    ("console:apikeys", _("API keys"), "platform.apikey.manage"),
    ("console:integrations", _("Integrations"), "platform.integrations.manage"),
    ("console:audit", _("Audit log"), "platform.audit.view"),
]


def console(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav_items": []}
    items = [
        {"url_name": url_name, "label": label}
        for url_name, label, op in NAVIGATION
        if op is None or has_operation(user, op)
    ]
    return {"nav_items": items, "tenant": getattr(request, "tenant", None)}
