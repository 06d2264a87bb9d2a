"""Nightly loyalty jobs per merchant: expire points and coupons, announce the ones about to
expire, review tiers, reconcile ledgers.
Thin: each calls one service; all are safe to run twice."""

from __future__ import annotations

import logging
from typing import Any

from django_tenants.utils import tenant_context

from huiyuan.platform.celery import app, tenant_task

logger = logging.getLogger(__name__)


@tenant_task(name="huiyuan.loyalty.nightly")
def loyalty_nightly_task() -> dict[str, Any]:
    from .coupons import coupon_expire_due
    from .ledger import points_expire_due, reconcile
    from .reminders import expiry_reminders_send
    from .tiers import tier_review

    result: dict[str, Any] = {
        "points_expired": points_expire_due(),
        "coupons_expired": coupon_expire_due(),
        **expiry_reminders_send(),
        "tiers": tier_review(),
    }
    drift = reconcile()
    result["drift"] = len(drift)
    if drift:
        # A ledger that does not add up is an incident, not a statistic: make it loud.
        logger.error("loyalty reconciliation found %d drifting balances: %s", len(drift), drift[:20])
    return result


@app.task(name="huiyuan.loyalty.nightly_all_tenants")
def loyalty_nightly_all_tenants_task() -> int:
    from huiyuan.tenants.provisioning import routable_tenants

    tenants = routable_tenants()
    for tenant in tenants:
        with tenant_context(tenant):
            loyalty_nightly_task.delay()
    return len(tenants)
