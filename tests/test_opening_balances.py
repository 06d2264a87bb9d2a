"""Opening balances from the old system: a dry run with totals, then a load through the ledgers
that a second run does not repeat."""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from typing import Any

from huiyuan.loyalty.coupons import coupon_template_create
from huiyuan.loyalty.ledger import reconcile
from huiyuan.loyalty.models import Coupon, PointsLot, Tier
from huiyuan.loyalty.opening_balances import opening_balances_import, suggest_mapping
from huiyuan.members.models import Member
from huiyuan.members.tables import read_table

from .conftest import World, api

ROWS = [
    ["手机号", "积分", "积分到期", "储值余额", "赠送余额", "会员等级", "优惠券", "张数"],
    ["13800000001", "1200", "2030-06-30", "500.00", "50", "金卡", "生日券", "2"],
    ["13800000002", "80", "", "", "", "", "", ""],
    ["13999999999", "10", "", "", "", "", "", ""],  # not a member
    ["13800000002", "5", "", "", "", "", "", ""],  # the same member twice
    ["13800000001", "x", "2020-01-01", "-3", "", "钻石", "", ""],  # every kind of mistake
]


def load(world: World, rows: list[list[Any]], dry_run: bool) -> Any:
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    table = read_table(buffer.getvalue().encode(), "opening.csv")
    return opening_balances_import(actor=world.hq, table=table, mapping=suggest_mapping(table.headers), dry_run=dry_run)


def setup(world: World) -> None:
    Tier.objects.create(name="金卡", rank=1, threshold_spend=1000)
    coupon_template_create(actor=world.hq, name="生日券", kind="fixed", amount_off=Decimal(20), valid_days=60)


def test_dry_run_reports_totals_and_every_bad_row_and_writes_nothing(in_alpha: World) -> None:
    setup(in_alpha)
    outcome = load(in_alpha, ROWS, dry_run=True)
    assert (outcome.members, outcome.points, outcome.principal, outcome.coupons) == (2, 1280, Decimal("500.00"), 2)
    assert outcome.tiers == {"金卡": 1}
    assert [(e.row, e.column) for e in outcome.errors] == [
        (4, "手机号"),
        (5, "手机号"),
        (6, "积分"),
        (6, "储值余额"),
        (6, "积分到期"),
        (6, "会员等级"),
        (6, "手机号"),
    ]
    assert Member.objects.get(pk=in_alpha.member_a.pk).points_balance == 0


def test_load_writes_through_the_ledgers_once(in_alpha: World) -> None:
    setup(in_alpha)
    good = ROWS[:3]
    outcome = load(in_alpha, good, dry_run=False)
    assert not outcome.errors
    member = Member.objects.get(pk=in_alpha.member_a.pk)
    assert (member.points_balance, member.stored_principal, member.stored_bonus) == (
        1200,
        Decimal("500.00"),
        Decimal("50.00"),
    )
    assert member.tier.name == "金卡" and Coupon.objects.filter(member=member).count() == 2
    lot = PointsLot.objects.get(member=member)
    assert lot.expires_at.year == 2030
    again = load(in_alpha, good, dry_run=False)
    assert not again.errors
    member.refresh_from_db()
    assert member.points_balance == 1200 and Coupon.objects.filter(member=member).count() == 2
    changed = load(in_alpha, [good[0], ["13800000001", "1300", "", "", "", "", "", ""]], dry_run=False)
    assert [e.row for e in changed.errors] == [2]
    assert reconcile() == []


def test_a_file_with_errors_loads_nothing(in_alpha: World) -> None:
    setup(in_alpha)
    outcome = load(in_alpha, ROWS, dry_run=False)
    assert outcome.errors and outcome.errors[0].row == 0
    assert Member.objects.get(pk=in_alpha.member_a.pk).points_balance == 0


def test_opening_balances_api_defaults_to_a_dry_run(alpha: World) -> None:
    buffer = io.BytesIO("手机号,积分\n13800000001,300\n".encode())
    buffer.name = "o.csv"
    response = api(alpha, "hq").post("/api/v1/loyalty/opening-balances", {"file": buffer}, format="multipart")
    assert response.status_code == 200 and response.json()["dry_run"] is True and response.json()["points"] == 300
    denied = api(alpha, "cashier_b").post("/api/v1/loyalty/opening-balances", {"file": buffer}, format="multipart")
    assert denied.status_code == 403
