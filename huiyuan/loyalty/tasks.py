"""Nightly loyalty jobs per merchant, each its own task so one failure skips nothing else: expire
points and coupons, announce what is about to expire, review tiers, reconcile ledgers.
Thin: each calls one service; all are safe to run twice."""

from __future__ import annotations

import logging
from typing import Any

from huiyuan.platform.celery import app, fan_out_to_tenants, tenant_task

logger = logging.getLogger(__name__)


@tenant_task(name="huiyuan.loyalty.expire_points")
def expire_points_task() -> int:
    from .ledger import points_expire_due

    return points_expire_due()


@tenant_task(name="huiyuan.loyalty.expire_coupons")
def expire_coupons_task() -> int:
    from .coupons import coupon_expire_due

    return coupon_expire_due()


@tenant_task(name="huiyuan.loyalty.expiry_reminders")
def expiry_reminders_task() -> dict[str, Any]:
    from .reminders import expiry_reminders_send

    return expiry_reminders_send()


@tenant_task(name="huiyuan.loyalty.review_tiers")
def review_tiers_task() -> Any:
    from .tiers import tier_review

    return tier_review()


@tenant_task(name="huiyuan.loyalty.reconcile")
def reconcile_task() -> int:
    from .ledger import reconcile

    drift = reconcile()
    if drift:
        # A ledger that does not add up is an incident, not a statistic: make it loud.
        logger.error("loyalty reconciliation found %d drifting balances: %s", len(drift), drift[:20])
    return len(drift)


NIGHTLY_TASKS = (expire_points_task, expire_coupons_task, expiry_reminders_task, review_tiers_task, reconcile_task)


@app.task(name="huiyuan.loyalty.nightly_all_tenants")
def loyalty_nightly_all_tenants_task() -> int:
    return fan_out_to_tenants(*NIGHTLY_TASKS)
