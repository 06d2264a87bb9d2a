"""Report numbers against independent computations over the same generated data: each expected
value is worked out here in Python from the rows themselves (not through the report code or the
rollups), for HQ and for a store manager, whose figures must cover their store only."""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone

from huiyuan.loyalty.checkout import checkout_commit
from huiyuan.loyalty.ledger import points_earn, stored_value_topup
from huiyuan.loyalty.models import Tier
from huiyuan.loyalty.refunds import order_refund
from huiyuan.members.models import Member, Order, Refund
from huiyuan.platform.tenancy import tenant_timezone
from huiyuan.reports.engine import clean_params, report_run, today
from huiyuan.reports.rollups import rollup_all

from .conftest import World


@pytest.fixture
def shop(in_alpha: World) -> World:
    """Sixty members over two stores and three tiers, ~200 orders over the last 100 days (today
    included), some refunded, points and stored value."""
    rng = random.Random(14)
    tz = tenant_timezone()
    names = ["普卡", "银卡", "金卡"]
    tiers = [Tier.objects.create(name=n, rank=r, threshold_spend=r * 500) for r, n in enumerate(names)]
    members = []
    for i in range(60):
        store = in_alpha.store_a if i % 3 else in_alpha.store_b
        created = timezone.now() - timedelta(days=rng.randint(0, 120))
        members.append(
            Member.objects.create(
                phone=f"+86135{i:08d}",
                card_no=f"R{i}",
                name=f"会员{i}",
                home_store=store,
                tier=tiers[i % 3],
                created_at=created,
                gender=["male", "female", "unknown"][i % 3],
            )
        )
    n = 0
    for member in members[:45]:
        for _k in range(rng.randint(1, 7)):
            n += 1
            day = today() - timedelta(days=rng.randint(0, 100))
            paid_at = min(
                datetime.combine(day, time(12, rng.randint(0, 59)), tzinfo=tz), timezone.now() - timedelta(minutes=5)
            )
            store = "A001" if rng.random() < 0.7 else "B001"
            checkout_commit(
                actor=in_alpha.hq,
                data={
                    "order_no": f"RPT-{n}",
                    "store": store,
                    "member": {"id": member.pk},
                    "lines": [{"amount": str(rng.randint(10, 500))}],
                    "paid_at": paid_at.isoformat(),
                },
            )
            if rng.random() < 0.1:
                order_refund(actor=in_alpha.hq, order_no=f"RPT-{n}", refund_no=f"RPT-R{n}", amount="5.00")
    for member in members[:10]:
        points_earn(member_id=member.pk, amount=100, idempotency_key=f"rpt:p:{member.pk}", cause="staff")
        stored_value_topup(member_id=member.pk, principal="100", bonus="10", idempotency_key=f"rpt:s:{member.pk}")
    rollup_all()
    return in_alpha


def _run(world: World, persona: str, key: str, **raw: Any) -> Any:
    return report_run(actor=world.persona(persona), key=key, params=clean_params(raw))


def _local_day(moment: datetime) -> date:
    return moment.astimezone(tenant_timezone()).date()


def test_sales_per_month_match_the_orders_for_hq_and_for_one_store(shop: World) -> None:
    start = today() - timedelta(days=100)
    for persona, stores in (("hq", {shop.store_a.pk, shop.store_b.pk}), ("manager_a", {shop.store_a.pk})):
        result = _run(shop, persona, "sales", start=start.isoformat(), end=today().isoformat(), granularity="month")
        expected: dict[str, list[Any]] = defaultdict(lambda: [0, Decimal(0), Decimal(0)])
        for order in Order.objects.filter(store_id__in=stores):
            month = _local_day(order.paid_at).replace(day=1).isoformat()
            expected[month][0] += 1
            expected[month][1] += order.paid_amount
        for refund in Refund.objects.select_related("order").filter(order__store_id__in=stores):
            expected[_local_day(refund.refunded_at).replace(day=1).isoformat()][2] += refund.amount
        got = {row["period"]: [row["orders"], row["sales"], row["refunds"]] for row in result.rows if row["orders"]}
        assert got == {k: v for k, v in expected.items() if v[0]}, persona


def test_todays_orders_count_before_any_nightly_rollup(shop: World) -> None:
    before = _run(shop, "hq", "sales", start=today().isoformat(), end=today().isoformat(), granularity="day")
    checkout_commit(actor=shop.hq, data={"order_no": "RPT-TODAY", "store": "A001", "lines": [{"amount": "77.00"}]})
    after = _run(shop, "hq", "sales", start=today().isoformat(), end=today().isoformat(), granularity="day")
    assert after.rows[0]["orders"] == before.rows[0]["orders"] + 1
    assert after.rows[0]["sales"] == before.rows[0]["sales"] + Decimal("77.00")


def test_growth_counts_new_and_total_members(shop: World) -> None:
    start = today() - timedelta(days=60)
    result = _run(shop, "manager_a", "growth", start=start.isoformat(), end=today().isoformat(), granularity="week")
    mine = list(Member.objects.filter(home_store=shop.store_a))
    opening = sum(1 for m in mine if _local_day(m.created_at) < start)
    assert result.rows[-1]["total"] == opening + sum(row["new_members"] for row in result.rows)
    assert result.rows[-1]["total"] == sum(1 for m in mine if _local_day(m.created_at) <= today())
    weekly = Counter(
        (_local_day(m.created_at) - timedelta(days=_local_day(m.created_at).weekday())).isoformat()
        for m in mine
        if start <= _local_day(m.created_at) <= today()
    )
    assert {r["period"]: r["new_members"] for r in result.rows if r["new_members"]} == dict(weekly)


def test_tier_mix_top_spenders_and_pareto(shop: World) -> None:
    mine = list(Member.objects.filter(home_store=shop.store_a).select_related("tier"))
    mix = _run(shop, "manager_a", "tier_mix")
    expected = Counter(m.tier.name if m.tier else "无等级" for m in mine)
    assert {r["tier"]: r["members"] for r in mix.rows} == dict(expected)
    top = _run(shop, "hq", "top_spenders", top="5")
    everyone = sorted(Member.objects.all(), key=lambda m: (-m.total_spend, m.pk))
    assert [r["member_id"] for r in top.rows] == [m.pk for m in everyone[:5]]
    assert all("****" in r["phone"] or r["phone"].isdigit() for r in top.rows)
    pareto = _run(shop, "hq", "pareto")
    buyers = sorted((m.total_spend for m in Member.objects.filter(order_count__gt=0)), reverse=True)
    top_fifth = sum(buyers[: len(buyers) * 2 // 10])  # the top 20% of buyers, by spend
    share = round(top_fifth * 100 / sum(buyers), 1)
    assert next(r for r in pareto.rows if r["top"] == "20%")["cumulative_share"] == share


def test_repurchase_and_frequency_from_the_monthly_rollup_match_the_orders(shop: World) -> None:
    start = (today() - timedelta(days=100)).replace(day=1)
    result = _run(shop, "manager_a", "activity", start=start.isoformat(), end=today().isoformat())
    # The monthly rollup files a member under the store of their latest order in the month.
    per_member: Counter[int] = Counter()
    by_month: dict[tuple[int, date], list[Order]] = defaultdict(list)
    for order in Order.objects.exclude(member=None):
        by_month[(order.member_id, _local_day(order.paid_at).replace(day=1))].append(order)
    for (member_id, _month), orders in by_month.items():
        latest = max(orders, key=lambda o: o.paid_at)
        if latest.store_id == shop.store_a.pk:
            per_member[member_id] += len(orders)
    buyers = len(per_member)
    repeaters = sum(1 for n in per_member.values() if n >= 2)
    assert sum(r["members"] for r in result.rows) == buyers
    assert next(r for r in result.rows if r["orders"] == "1")["members"] == buyers - repeaters
    assert f"{round(Decimal(repeaters) * 100 / buyers, 1)}%" in result.note


def test_loyalty_report_and_liability(shop: World) -> None:
    start = today() - timedelta(days=5)
    result = _run(shop, "hq", "loyalty", start=start.isoformat(), end=today().isoformat(), granularity="day")
    issued = sum(r["points_issued"] for r in result.rows)
    from huiyuan.loyalty.models import PointsEntry

    expected = sum(e.amount for e in PointsEntry.objects.filter(kind="earn") if _local_day(e.created_at) >= start)
    assert issued == expected
    owed_points = sum(m.points_balance for m in Member.objects.all())
    assert f"{owed_points} " in result.note.replace("积分", " ")


def test_custom_dimension_by_measure_and_bad_parameters(shop: World) -> None:
    result = _run(shop, "hq", "custom", dimension="gender", measure="members")
    expected = Counter(str(Member.Gender(m.gender).label) for m in Member.objects.all())
    assert {r["dimension"]: r["value"] for r in result.rows} == dict(expected)
    from huiyuan.platform.errors import ValidationFailed

    with pytest.raises(ValidationFailed) as bad:
        clean_params({"start": "yesterday", "granularity": "hourly"})
    assert set(bad.value.fields) == {"start", "granularity"}
    with pytest.raises(ValidationFailed):
        _run(shop, "hq", "custom", dimension="phone", measure="members")


def test_a_store_manager_asking_for_another_store_gets_nothing_from_it(shop: World) -> None:
    result = _run(shop, "manager_a", "tier_mix", stores=str(shop.store_b.pk))
    assert sum(r["members"] for r in result.rows) == 0


def test_a_daily_summary_reaches_each_colleague_with_their_own_stores_once(shop: World, settings: Any) -> None:
    from django.core import mail

    from huiyuan.reports.schedules import schedule_save, schedules_send_due

    settings.HUIYUAN_EMAIL_CONFIGURED = True
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    for user, address in ((shop.hq, "hq@alpha.cn"), (shop.manager_a, "a@alpha.cn")):
        user.email = address
        user.save(update_fields=["email"])
    schedule_save(
        actor=shop.hq,
        dashboard_id=None,
        frequency="daily",
        weekday=0,
        hour=8,
        recipient_ids=[shop.hq.pk, shop.manager_a.pk, shop.cashier_b.pk],  # a cashier may not read reports
        by_email=True,
        by_work_app=False,
    )
    tz = tenant_timezone()
    seven = datetime.combine(today(), time(7, 30), tzinfo=tz)
    eight = datetime.combine(today(), time(8, 5), tzinfo=tz)
    assert schedules_send_due(now=seven - timedelta(days=1) + timedelta(hours=1)) == 1  # yesterday's, once
    mail.outbox.clear()
    assert schedules_send_due(now=seven) == 0  # today's is not due before 08:00
    assert schedules_send_due(now=eight) == 1
    assert schedules_send_due(now=eight + timedelta(minutes=30)) == 0  # not twice in a day
    by_address = {m.to[0]: m.body for m in mail.outbox}
    assert set(by_address) == {"hq@alpha.cn", "a@alpha.cn"}
    members_line = next(line for line in by_address["a@alpha.cn"].splitlines() if line.startswith("会员:"))
    assert members_line == f"会员: {Member.objects.filter(home_store=shop.store_a).count()}"
    assert f"会员: {Member.objects.count()}" in by_address["hq@alpha.cn"]
    assert "http" in by_address["a@alpha.cn"]


def test_a_schedule_needs_recipients_who_may_read_reports(shop: World) -> None:
    from huiyuan.platform.errors import ValidationFailed
    from huiyuan.reports.schedules import schedule_save

    with pytest.raises(ValidationFailed) as refused:
        schedule_save(
            actor=shop.hq,
            dashboard_id=None,
            frequency="hourly",
            weekday=0,
            hour=25,
            recipient_ids=[shop.cashier_b.pk],
            by_email=False,
            by_work_app=False,
        )
    assert set(refused.value.fields) == {"frequency", "hour", "recipients", "channels"}


def test_report_pages_answer_in_words_and_never_with_a_server_error(alpha: World) -> None:
    from .test_console import console

    manager = console(alpha, "manager_a")
    page = manager.get("/reports/", {"report": "sales", "granularity": "week"})
    assert page.status_code == 200 and "销售额（元）" in page.content.decode()
    bad = manager.get("/reports/", {"report": "sales", "start": "昨天", "granularity": "hourly"})
    assert bad.status_code == 200 and "请选择按日、周或月" in bad.content.decode()
    widget = manager.get("/reports/widget/", {"report": "nope", "widget": "<x>"})
    assert (
        widget.status_code == 200 and "没有这个报表" in widget.content.decode() and "<x>" not in widget.content.decode()
    )
    csv = manager.get("/reports/export/", {"report": "lifecycle", "format": "csv"})
    assert csv.status_code == 200 and "生命周期" in csv.content.decode("utf-8-sig")
    assert manager.get("/reports/export/", {"report": "growth", "end": "x"}).status_code == 400
    assert console(alpha, "cashier_b").get("/reports/").status_code == 403
    # A report the role may not run (campaign effect is marketing's) is refused in words.
    refused = console(alpha, "manager_a").get("/reports/", {"report": "campaign"})
    assert refused.status_code == 403 and "权限" in refused.content.decode()


def test_a_dashboard_saved_with_a_broken_layout_changes_nothing(alpha: World) -> None:
    from django.db import connection
    from django_tenants.utils import tenant_context

    from huiyuan.reports.models import Dashboard

    from .test_console import console

    hq = console(alpha, "hq")
    made = hq.post("/dashboards/save/", {"name": "日报", "add_report": "sales", "add_params": "granularity=day"})
    assert made.status_code == 302
    with tenant_context(alpha.tenant):
        dashboard = Dashboard.objects.get(name="日报")
        assert dashboard.widgets == [{"report": "sales", "params": {"granularity": "day"}, "width": 6}]
    connection.set_schema_to_public()
    for broken in ("not json", '[{"report": "drop table"}]', '[{"report": "sales", "params": [1]}]'):
        hq.post("/dashboards/save/", {"dashboard": dashboard.pk, "name": "日报", "widgets": broken})
    with tenant_context(alpha.tenant):
        dashboard.refresh_from_db()
        assert dashboard.widgets == [{"report": "sales", "params": {"granularity": "day"}, "width": 6}]
    connection.set_schema_to_public()
    # Someone else's private dashboard is not found.
    assert console(alpha, "marketing").get(f"/dashboards/{dashboard.pk}/").status_code == 404
