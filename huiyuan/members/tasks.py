"""Thin Celery tasks: enter the tenant (done by the task envelope), call one service."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _

from huiyuan.platform.celery import app, fan_out_to_tenants, tenant_task
from huiyuan.platform.events.registry import Event, subscribe


@tenant_task(name="huiyuan.members.run_import")
def run_import_task(job_id: int) -> None:
    from .imports import import_run

    import_run(job_id)
    # Statements prepared per connection keep the plans made when the tables were small (a new
    # merchant's orders table is empty); fresh statistics make PostgreSQL plan them again now
    # rather than when autovacuum gets round to it.
    analyze_tables_task.delay(["members_member", "members_order", "members_orderline"])


@tenant_task(name="huiyuan.members.analyze_tables")
def analyze_tables_task(tables: list[str]) -> None:
    from huiyuan.platform.sql import analyze

    analyze(tables)


@tenant_task(name="huiyuan.members.nightly_stats")
def nightly_stats_task() -> dict[str, Any]:
    from .pinyin import pinyin_refresh
    from .stats import stats_recompute_nightly

    pinyin_refresh()  # names written by any path that did not refresh them
    return stats_recompute_nightly()


@tenant_task(name="huiyuan.members.pinyin_refresh")
def pinyin_refresh_task() -> int:
    from .pinyin import pinyin_refresh

    return pinyin_refresh()


@tenant_task(name="huiyuan.members.nightly_auto_tags")
def nightly_auto_tags_task() -> dict[str, tuple[int, int]]:
    from .segments import segments_refresh_entries
    from .tags import auto_tags_evaluate

    result = auto_tags_evaluate()
    segments_refresh_entries()  # time moves members in and out ("no purchase for 30 days")
    return result


@app.task(name="huiyuan.members.nightly_all_tenants")
def nightly_all_tenants_task() -> int:
    """Beat runs this in public; it sends each nightly job once per active merchant."""
    return fan_out_to_tenants(nightly_stats_task, nightly_auto_tags_task)


def _reevaluate_auto_tags(event: Event) -> None:
    """After an order or refund, first move the member's R/F/M scores (within seconds, not at the
    next nightly run), then the automatic tags that may depend on them."""
    from .stats import rfm_score_members
    from .tags import auto_tags_evaluate

    member_id = event.payload.get("member_id") or (
        event.payload.get("id") if event.aggregate_type == "member" else None
    )
    if member_id:
        if event.type.startswith("order."):
            rfm_score_members([int(member_id)])
        auto_tags_evaluate([int(member_id)])
        from .segments import segments_refresh_entries

        segments_refresh_entries([int(member_id)])


for _event_type in ("order.paid", "order.refunded", "member.created", "member.updated", "member.merged"):
    subscribe(
        _event_type,
        "members.auto_tags",
        _reevaluate_auto_tags,
        label=_("Automatic tags, R/F/M scores and watched segments"),
    )
