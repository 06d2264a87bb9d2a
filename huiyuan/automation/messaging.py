"""Message templates: ``{{name}}``-style variables filled from the member, the event and what the
run did before (a coupon issued one step earlier). Plain substitution, never evaluation: a
merchant's text cannot run code or reach attributes."""

from __future__ import annotations

import re
from typing import Any

from django.db import connection
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from huiyuan.platform.errors import ValidationFailed
from huiyuan.platform.tenancy import tenant_timezone

VARIABLE = re.compile(r"\{\{\s*([a-z_]+)\s*\}\}")

VARIABLES: dict[str, Any] = {
    "name": gettext_lazy("Member's name"),
    "card_no": gettext_lazy("Card number"),
    "points": gettext_lazy("Points balance"),
    "balance": gettext_lazy("Stored value balance"),
    "tier": gettext_lazy("Tier"),
    "store": gettext_lazy("Home store"),
    "merchant": gettext_lazy("Merchant name"),
    "coupon": gettext_lazy("Coupon issued in this run"),
    "coupon_code": gettext_lazy("Code of that coupon"),
    "coupon_valid_until": gettext_lazy("Last day of that coupon"),
    "expiring_points": gettext_lazy("Points about to expire"),
    "expires_at": gettext_lazy("When they expire"),
}


def template_check(text: str, path: str) -> str:
    unknown = sorted({m.group(1) for m in VARIABLE.finditer(text)} - set(VARIABLES))
    if unknown:
        raise ValidationFailed(
            fields={path: [_("Unknown variable: %(names)s.") % {"names": ", ".join(f"{{{{{n}}}}}" for n in unknown)}]}
        )
    return text


def message_values(member: Any, run_context: dict[str, Any], event: dict[str, Any]) -> dict[str, str]:
    tenant = getattr(connection, "tenant", None)
    coupon = run_context.get("coupon") or {}
    expires = event.get("expires_at") or ""
    return {
        "name": member.name or _("member"),
        "card_no": member.card_no,
        "points": str(member.points_balance),
        "balance": str(member.stored_principal + member.stored_bonus),
        "tier": member.tier.name if member.tier_id else "",
        "store": member.home_store.name if member.home_store_id else "",
        "merchant": getattr(tenant, "name", ""),
        "coupon": coupon.get("name", ""),
        "coupon_code": coupon.get("code", ""),
        "coupon_valid_until": coupon.get("valid_until", ""),
        "expiring_points": str(event.get("points", "")),
        "expires_at": _local_date(expires),
    }


def _local_date(value: Any) -> str:
    from django.utils.dateparse import parse_datetime

    moment = parse_datetime(str(value)) if value else None
    return moment.astimezone(tenant_timezone()).date().isoformat() if moment else ""


def render(text: str, values: dict[str, str]) -> str:
    return VARIABLE.sub(lambda m: values.get(m.group(1), ""), text)
