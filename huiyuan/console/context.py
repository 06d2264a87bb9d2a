"""Template context shared by every console page: the navigation, grouped and filtered by what the
user may do."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from huiyuan.platform.access import has_operation

# (group label, [(url name, label, operation needed)]). A group with one page the user may open
# shows as a plain link, more as a drop-down menu, so the bar fits a laptop screen in Chinese.
NAVIGATION: list[tuple[Any, list[tuple[str, Any, str | None]]]] = [
    (
        _("Overview"),
        [("console:home", _("Overview"), None), ("console:reports", _("Reports"), "reports.report.view")],
    ),
    (
        _("Sales"),
        [
            ("console:cashier", _("Till"), "loyalty.order.create"),
            ("console:orders", _("Order list"), "members.member.view"),
        ],
    ),
    (
        _("Members"),
        [
            ("console:members", _("Members"), "members.member.view"),
            ("console:segments", _("Segments"), "members.segment.view"),
            ("console:tags", _("Tags"), "members.segment.manage"),
            ("console:imports", _("Import"), "members.member.import"),
            ("console:fields", _("Member form"), "members.field.manage"),
        ],
    ),
    (
        _("Marketing"),
        [
            ("console:loyalty", _("Loyalty"), "loyalty.config.manage"),
            ("console:coupons", _("Coupons"), "members.member.view"),
            ("console:automation", _("Automation"), "automation.rule.manage"),
            ("console:campaigns", _("Campaigns"), "automation.rule.manage"),
            ("console:tasks", _("Tasks"), "automation.task.handle"),
        ],
    ),
    (
        _("Settings"),
        [
            ("console:stores", _("Stores"), "platform.store.view"),
            ("console:staff", _("Staff"), "platform.staff.view"),
            ("console:roles", _("Roles"), "platform.staff.view"),
            ("console:apikeys", _("API keys"), "platform.apikey.manage"),
            ("console:integrations", _("Integrations"), "platform.integrations.manage"),
            ("console:audit", _("Audit log"), "platform.audit.view"),
        ],
    ),
]


def console(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav_groups": []}
    current = request.resolver_match.view_name if request.resolver_match else ""
    groups = []
    for label, pages in NAVIGATION:
        items = [
            {"url_name": url_name, "label": item_label, "active": url_name == current}
            for url_name, item_label, op in pages
            if op is None or has_operation(user, op)
        ]
        if items:
            groups.append({"label": label, "items": items, "active": any(i["active"] for i in items)})
    return {"nav_groups": groups, "tenant": getattr(request, "tenant", None)}
