"""Order history import: years of sales in, stats rebuilt, idempotent, unknown members handled."""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from typing import Any

from django_tenants.utils import tenant_context

from huiyuan.members.imports import import_orders, import_run, suggest_order_mapping
from huiyuan.members.models import Member, Order
from huiyuan.members.tables import read_table

from .conftest import World, api

HISTORY = [
    ["订单号", "手机号", "门店", "消费时间", "实付金额"],
    ["H-1", "13800000001", "A001", "2024-01-05 10:00", "100.00"],
    ["H-2", "138 0000 0001", "A001", "2025-03-01 18:30", "50"],
    ["H-3", "13955550000", "B001", "2025-06-01", "¥1,200.00"],  # unknown member
    ["H-4", "13800000002", "Z999", "2025-06-01", "10"],  # unknown store
    ["H-5", "13800000002", "B001", "2025年7月1日", "abc"],  # bad amount
    ["H-1", "13800000001", "A001", "2024-01-05 10:00", "100.00"],  # repeated row
]


def csv_bytes(rows: list[list[Any]]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    return buffer.getvalue().encode("utf-8-sig")


def run(world: World, rows: list[list[Any]], **options: Any) -> Any:
    table = read_table(csv_bytes(rows), "orders.csv")
    return import_orders(actor=world.hq, table=table, mapping=suggest_order_mapping(table.headers), **options)


def test_history_import_creates_orders_members_and_stats(in_alpha: World) -> None:
    outcome = run(in_alpha, HISTORY)
    assert (outcome.created, outcome.members_created) == (3, 1)
    assert [(e.row, e.column) for e in outcome.errors] == [(5, "门店"), (6, "实付金额"), (7, "订单号")]
    member = Member.objects.get(pk=in_alpha.member_a.pk)
    assert member.order_count == 2 and member.total_spend == Decimal("150.00")
    assert member.first_purchase_at.isoformat() == "2024-01-05T02:00:00+00:00"
    newcomer = Member.objects.get(phone="+8613955550000")
    assert newcomer.channel == "import" and newcomer.total_spend == Decimal("1200.00")
    assert Order.objects.filter(source="import").count() == 3


def test_history_import_is_idempotent_and_reports_changed_orders(in_alpha: World) -> None:
    run(in_alpha, HISTORY)
    again = run(in_alpha, HISTORY)
    assert (again.created, again.skipped, again.members_created) == (0, 3, 0)
    assert Member.objects.get(pk=in_alpha.member_a.pk).order_count == 2
    changed = run(in_alpha, [HISTORY[0], ["H-1", "13800000001", "A001", "2024-01-05 10:00", "999.00"]])
    assert changed.created == 0 and [(e.row, e.value) for e in changed.errors] == [(2, "H-1")]


def test_unknown_members_can_be_reported_instead_of_created(in_alpha: World) -> None:
    outcome = run(in_alpha, HISTORY[:4], unknown_members="report")
    assert outcome.members_created == 0 and outcome.created == 2
    assert [(e.row, e.column) for e in outcome.errors] == [(4, "member")]
    assert not Member.objects.filter(phone="+8613955550000").exists()


def test_line_level_rows_group_into_orders(in_alpha: World) -> None:
    rows = [
        ["单号", "会员卡号", "门店", "日期", "商品编码", "品类", "数量", "商品金额"],
        ["L-1", "Alpha-0001", "A001", "2025-05-05", "LATTE", "咖啡", "2", "60"],
        ["L-1", "Alpha-0001", "A001", "2025-05-05", "CAKE", "甜点", "1", "28.5"],
        ["L-2", "Alpha-0001", "A001", "2025-05-06", "TEA", "茶", "1", "20"],
    ]
    outcome = run(in_alpha, rows)
    assert outcome.created == 2 and not outcome.errors
    order = Order.objects.get(order_no="L-1")
    assert order.paid_amount == Decimal("88.50")
    assert sorted(order.lines.values_list("sku", "category")) == [("CAKE", "甜点"), ("LATTE", "咖啡")]
    assert Member.objects.get(pk=in_alpha.member_a.pk).total_spend == Decimal("108.50")


def test_order_import_through_the_api(alpha: World) -> None:
    client = api(alpha, "hq")
    upload = io.BytesIO(csv_bytes(HISTORY))
    upload.name = "orders.csv"
    job = client.post("/api/v1/imports", {"file": upload, "kind": "orders"}, format="multipart").json()
    preview = client.get(f"/api/v1/imports/{job['id']}/preview").json()
    assert preview["mapping"] == {
        "订单号": "order_no",
        "手机号": "phone",
        "门店": "store",
        "消费时间": "paid_at",
        "实付金额": "paid_amount",
    }
    started = client.post(
        f"/api/v1/imports/{job['id']}/start",
        {"mapping": preview["mapping"], "unknown_members": "report"},
        format="json",
    )
    assert started.status_code == 202, started.json()
    with tenant_context(alpha.tenant):
        import_run(job["id"])
    status = client.get(f"/api/v1/imports/{job['id']}").json()
    assert status["status"] == "done" and status["created_count"] == 2 and status["error_count"] == 4


def test_history_import_awards_no_points_and_moves_no_tier(in_alpha: World) -> None:
    from huiyuan.loyalty.models import PointsEntry, Tier
    from huiyuan.platform.events.models import OutboxEvent

    Tier.objects.create(name="金卡", rank=1, threshold_spend=100)
    run(in_alpha, HISTORY)
    member = Member.objects.get(pk=in_alpha.member_a.pk)
    assert member.total_spend == Decimal("150.00")  # the history counts for statistics...
    assert member.points_balance == 0 and not PointsEntry.objects.exists()  # ...but earns nothing
    assert member.tier_id is None  # tiers move at the next order or the periodic review
    assert not OutboxEvent.objects.filter(event_type__in=["order.paid", "points.earned"]).exists()
