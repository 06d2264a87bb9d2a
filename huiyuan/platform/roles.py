"""Roles and the named operations each may perform. The one place that maps roles to permissions.

Operations are ``<package>.<entity>.<verb>`` strings; views and services ask for an operation, never
for a role, so a new role or a changed grant is an edit to this table only.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import models
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _


class Role(models.TextChoices):
    OWNER = "owner", _("Owner")
    HQ_ADMIN = "hq_admin", _("HQ admin")
    STORE_MANAGER = "store_manager", _("Store manager")
    MARKETING = "marketing", _("Marketing")
    CUSTOMER_SERVICE = "customer_service", _("Customer service")
    CASHIER = "cashier", _("Cashier")


@dataclass(frozen=True)
class Operation:
    code: str
    label: Promise
    # May an API key be granted this operation? (Staff and settings management never are.)
    api_key_allowed: bool = False


OPERATIONS: dict[str, Operation] = {
    op.code: op
    for op in [
        Operation("platform.store.view", _("View stores"), api_key_allowed=True),
        Operation("platform.store.manage", _("Create and edit stores")),
        Operation("platform.staff.view", _("View staff")),
        Operation("platform.staff.manage", _("Invite staff and change roles")),
        Operation("platform.apikey.manage", _("Manage API keys")),
        Operation("platform.audit.view", _("View the audit log")),
        Operation("platform.events.manage", _("See and retry event deliveries that failed")),
        Operation("platform.integrations.manage", _("Connect vendors (SMS, WeCom, Kingdee) and read their log")),
        Operation("members.member.view", _("View members"), api_key_allowed=True),
        Operation("members.member.create", _("Enrol members"), api_key_allowed=True),
        Operation("members.member.update", _("Edit members"), api_key_allowed=True),
        Operation("members.member.delete", _("Delete and merge members")),
        Operation("members.member.export", _("Export members")),
        Operation("members.member.import", _("Import members")),
        Operation("members.pii.view", _("See unmasked phone numbers"), api_key_allowed=True),
        Operation("members.field.manage", _("Design custom member fields")),
        Operation("members.segment.view", _("Preview segments of members")),
        Operation("members.segment.manage", _("Build segments and tags")),
        Operation("loyalty.order.create", _("Post orders and refunds"), api_key_allowed=True),
        Operation("loyalty.balance.adjust", _("Adjust points and stored value by hand")),
        Operation("loyalty.adjustment.approve", _("Approve large manual adjustments")),
        Operation("loyalty.config.manage", _("Configure points, tiers, plans and coupons")),
        Operation("automation.rule.manage", _("Configure automation rules")),
        Operation("automation.task.handle", _("Handle care and complaint tasks")),
        Operation("reports.report.view", _("View reports")),
    ]
}

_ALL = frozenset(OPERATIONS)

ROLE_OPERATIONS: dict[str, frozenset[str]] = {
    Role.OWNER: _ALL,
    Role.HQ_ADMIN: _ALL,
    Role.STORE_MANAGER: frozenset(
        {
            "platform.store.view",
            "platform.staff.view",
            "members.member.view",
            "members.member.create",
            "members.member.update",
            "members.member.export",
            "members.member.import",
            "members.pii.view",
            "members.segment.view",
            "loyalty.order.create",
            "loyalty.balance.adjust",
            "automation.task.handle",
            "reports.report.view",
        }
    ),
    Role.MARKETING: frozenset(
        {
            "platform.store.view",
            "members.member.view",
            "members.member.export",
            "members.segment.view",
            "members.segment.manage",
            "automation.rule.manage",
            "reports.report.view",
        }
    ),
    Role.CUSTOMER_SERVICE: frozenset(
        {
            "platform.store.view",
            "members.member.view",
            "members.member.update",
            "members.pii.view",
            "members.segment.view",
            "automation.task.handle",
        }
    ),
    Role.CASHIER: frozenset(
        {
            "platform.store.view",
            "members.member.view",
            "members.member.create",
            "loyalty.order.create",
        }
    ),
}

# Why each role has what it has (shown with the table in the console and in docs/roles.md).
ROLE_PURPOSES: dict[str, Promise] = {
    Role.OWNER: _("Runs the merchant and answers for its data: everything, and the only one who creates HQ admins."),
    Role.HQ_ADMIN: _("Runs the programme for all stores: everything but creating other HQ admins."),
    Role.STORE_MANAGER: _("Runs one or more stores: their members, orders, balances, imports and exports only."),
    Role.MARKETING: _("Targets groups of members: segments, tags and exports, never a person's full phone number."),
    Role.CUSTOMER_SERVICE: _("Answers members: views and edits them, sees phone numbers to call back."),
    Role.CASHIER: _("Works the till: looks members up, enrols them, posts orders; no member lists or previews."),
}

# Roles that see every store; the others see only the stores they are assigned to.
ALL_STORE_ROLES = frozenset({Role.OWNER, Role.HQ_ADMIN, Role.MARKETING, Role.CUSTOMER_SERVICE})

# Who may hand out which role: nobody but the owner creates HQ admins; nobody creates a second owner.
ASSIGNABLE_ROLES: dict[str, frozenset[str]] = {
    Role.OWNER: frozenset(Role.values) - {Role.OWNER},
    Role.HQ_ADMIN: frozenset(Role.values) - {Role.OWNER, Role.HQ_ADMIN},
}


def operations_for_role(role: str) -> frozenset[str]:
    return ROLE_OPERATIONS.get(role, frozenset())
