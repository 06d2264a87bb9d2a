"""Nightly statistics: lifecycle stages by the tenant's thresholds, R/F/M quintiles, automatic tags
that follow order events."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.utils import timezone

from huiyuan.loyalty.checkout import order_record
from huiyuan.members.models import Member, MemberSettings, MemberTag
from huiyuan.members.stats import stats_recompute_nightly
from huiyuan.members.tags import tag_create
from huiyuan.members.tasks import _reevaluate_auto_tags
from huiyuan.platform.events.models import OutboxEvent
from huiyuan.platform.events.registry import Event

from .conftest import World, api


def test_lifecycle_follows_the_tenants_thresholds_and_reruns_change_nothing(in_alpha: World) -> None:
    now = timezone.now()

    def member(phone: str, first_days: int, last_days: int) -> Member:
        return Member.objects.create(
            phone=phone,
            card_no=phone,
            order_count=1,
            total_spend=Decimal(10),
            first_purchase_at=now - timedelta(days=first_days),
            last_purchase_at=now - timedelta(days=last_days),
        )

    new = member("+8613700001001", 10, 10)
    active = member("+8613700001002", 400, 60)
    at_risk = member("+8613700001003", 400, 120)
    dormant = member("+8613700001004", 400, 300)
    lost = member("+8613700001005", 900, 500)
    stats_recompute_nightly()
    stages = dict(Member.objects.filter(order_count=1).values_list("phone", "lifecycle"))
    assert [stages[m.phone] for m in (new, active, at_risk, dormant, lost)] == [
        "new",
        "active",
        "at_risk",
        "dormant",
        "lost",
    ]
    assert Member.objects.get(pk=in_alpha.member_a.pk).lifecycle == "prospect"
    MemberSettings.objects.update(active_days=30)  # a merchant whose customers come back monthly
    stats_recompute_nightly()
    assert Member.objects.get(pk=active.pk).lifecycle == "at_risk"
    assert stats_recompute_nightly() == {"lifecycle_changed": 0, "rfm_changed": 0}


def test_rfm_quintiles_rank_buyers_and_leave_non_buyers_at_zero(in_alpha: World) -> None:
    now = timezone.now()
    for i in range(10):
        Member.objects.create(
            phone=f"+86137000020{i:02d}",
            card_no=f"R{i}",
            order_count=i + 1,
            total_spend=Decimal(100 * (i + 1)),
            first_purchase_at=now - timedelta(days=400),
            last_purchase_at=now - timedelta(days=100 - i * 10),
        )
    stats_recompute_nightly()
    scores = list(
        Member.objects.filter(card_no__startswith="R")
        .order_by("total_spend")
        .values_list("m_score", "f_score", "r_score")
    )
    assert [m for m, _f, _r in scores] == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    assert scores[-1] == (5, 5, 5)  # biggest, most frequent and most recent
    assert Member.objects.get(pk=in_alpha.member_a.pk).m_score == 0


def test_order_event_reevaluates_automatic_tags(in_alpha: World) -> None:
    with time_machine.travel(timezone.now(), tick=False):
        tag = tag_create(
            actor=in_alpha.marketing,
            name="大客户",
            kind="auto",
            rule={"field": "total_spend", "op": "gte", "value": 1000},
        )
        assert not MemberTag.objects.filter(tag=tag).exists()
        order_record(
            actor=in_alpha.hq,
            data={"order_no": "BIG-1", "store": "A001", "member": {"id": in_alpha.member_a.pk}, "paid_amount": "1500"},
        )
        row = OutboxEvent.objects.get(event_type="order.paid")
        _reevaluate_auto_tags(
            Event(
                id=row.pk,
                type=row.event_type,
                aggregate_type=row.aggregate_type,
                aggregate_id=row.aggregate_id,
                payload=row.payload,
            )
        )
    assert list(MemberTag.objects.filter(tag=tag).values_list("member_id", "applied_by_rule")) == [
        (in_alpha.member_a.pk, True)
    ]


def test_lifecycle_thresholds_are_validated_and_audited(alpha: World) -> None:
    client = api(alpha, "hq")
    bad = client.put("/api/v1/member-settings", {"active_days": 200, "at_risk_days": 100}, format="json")
    assert bad.status_code == 400 and "at_risk_days" in bad.json()["error"]["fields"]
    good = client.put("/api/v1/member-settings", {"active_days": 60}, format="json")
    assert good.status_code == 200 and good.json()["active_days"] == 60
    assert (
        __import__("tests.conftest", fromlist=["api"])
        .api(alpha, "cashier_b")
        .put("/api/v1/member-settings", {"active_days": 10}, format="json")
        .status_code
        == 403
    )


@pytest.mark.parametrize("population", [1, 2, 7, 23, 60])
def test_scoring_touched_members_agrees_with_the_full_ranking(in_alpha: World, population: int) -> None:
    import random

    from huiyuan.members.stats import rfm_score_members

    rng = random.Random(population)
    now = timezone.now()
    for i in range(population):
        Member.objects.create(
            phone=f"+8613600{i:06d}",
            card_no=f"S{i}",
            order_count=rng.randint(1, 5),  # plenty of ties
            total_spend=Decimal(rng.choice([50, 100, 100, 250, 999])),
            first_purchase_at=now - timedelta(days=400),
            last_purchase_at=now - timedelta(days=rng.randint(0, 30)),
        )
    stats_recompute_nightly()
    buyers = Member.objects.filter(card_no__startswith="S")
    full = {pk: (r, f, m) for pk, r, f, m in buyers.values_list("pk", "r_score", "f_score", "m_score")}
    buyers.update(r_score=0, f_score=0, m_score=0)
    rfm_score_members(list(full))
    assert {pk: (r, f, m) for pk, r, f, m in buyers.values_list("pk", "r_score", "f_score", "m_score")} == full


def test_a_first_purchase_is_scored_within_the_order_event_not_the_next_night(in_alpha: World) -> None:
    now = timezone.now()
    for i in range(5):
        Member.objects.create(
            phone=f"+86135000000{i:02d}",
            card_no=f"T{i}",
            order_count=1,
            total_spend=Decimal(10 * (i + 1)),
            first_purchase_at=now - timedelta(days=40),
            last_purchase_at=now - timedelta(days=40),
        )
    stats_recompute_nightly()
    order_record(
        actor=in_alpha.hq,
        data={"order_no": "FIRST-1", "store": "A001", "member": {"id": in_alpha.member_a.pk}, "paid_amount": "900"},
    )
    row = OutboxEvent.objects.get(event_type="order.paid", payload__order_no="FIRST-1")
    _reevaluate_auto_tags(Event(row.pk, row.event_type, row.aggregate_type, row.aggregate_id, row.payload))
    member = Member.objects.get(pk=in_alpha.member_a.pk)
    assert (member.r_score, member.m_score) == (5, 5) and member.lifecycle == "new"
