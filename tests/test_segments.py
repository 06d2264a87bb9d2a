"""Segments: every operator, compiled to one query, always inside the caller's stores."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import time_machine
from django.utils import timezone

from huiyuan.members import custom_fields
from huiyuan.members.models import Member, MemberTag, Tag
from huiyuan.members.segments import segment_members, segment_save
from huiyuan.members.tags import auto_tags_evaluate, tag_create, tag_segment
from huiyuan.platform.errors import ValidationFailed

from .conftest import World, api

NOW = datetime(2026, 6, 15, 4, 0, tzinfo=UTC)  # 12:00 in Shanghai


@pytest.fixture
def people(in_alpha: World) -> dict[str, Member]:
    """Five members with known attributes, plus the world's two (which match few conditions)."""
    with time_machine.travel(NOW, tick=False):
        custom_fields.custom_field_create(
            actor=in_alpha.hq,
            label="饮品",
            field_type="multiple_choice",
            key="drinks",
            config={"choices": ["咖啡", "茶", "果汁"]},
        )
        custom_fields.custom_field_create(
            actor=in_alpha.hq,
            label="会员等级备注",
            field_type="single_choice",
            key="level",
            config={"choices": ["普通", "重要"]},
        )
        custom_fields.custom_field_create(actor=in_alpha.hq, label="身高", field_type="number", key="height")
        custom_fields.custom_field_create(actor=in_alpha.hq, label="余额", field_type="decimal", key="credit")
        custom_fields.custom_field_create(actor=in_alpha.hq, label="纪念日", field_type="date", key="anniv")
        custom_fields.custom_field_create(actor=in_alpha.hq, label="VIP", field_type="boolean", key="vip")
        custom_fields.custom_field_create(actor=in_alpha.hq, label="昵称", field_type="text", key="nick")

        def member(name: str, phone: str, store: Any, **kw: Any) -> Member:
            return Member.objects.create(name=name, phone=phone, card_no=f"C{phone[-4:]}", home_store=store, **kw)

        now = timezone.now()
        people = {
            "whale": member(
                "鲸鱼",
                "+8613700000001",
                in_alpha.store_a,
                gender="female",
                total_spend=Decimal("9000"),
                order_count=30,
                m_score=5,
                f_score=5,
                r_score=1,
                last_purchase_at=now - timedelta(days=45),
                first_purchase_at=now - timedelta(days=700),
                lifecycle="at_risk",
                city="上海",
                birthday=date(1990, 6, 20),
                custom_fields={
                    "drinks": ["咖啡", "茶"],
                    "level": "重要",
                    "height": 170,
                    "credit": "120.50",
                    "anniv": "2020-06-16",
                    "vip": True,
                    "nick": "Whale",
                },
            ),
            "regular": member(
                "常客",
                "+8613700000002",
                in_alpha.store_a,
                gender="male",
                total_spend=Decimal("3000"),
                order_count=12,
                m_score=4,
                f_score=4,
                r_score=5,
                last_purchase_at=now - timedelta(days=3),
                first_purchase_at=now - timedelta(days=300),
                lifecycle="active",
                city="上海",
                birthday=date(1985, 12, 1),
                custom_fields={"drinks": ["茶"], "level": "普通", "height": 180, "credit": "5.00", "vip": False},
            ),
            "sleeper_b": member(
                "沉睡",
                "+8613700000003",
                in_alpha.store_b,
                total_spend=Decimal("5000"),
                order_count=8,
                m_score=5,
                f_score=3,
                r_score=1,
                last_purchase_at=now - timedelta(days=200),
                first_purchase_at=now - timedelta(days=900),
                lifecycle="dormant",
                city="广州",
                custom_fields={"drinks": ["果汁"]},
            ),
            "newbie": member(
                "新人",
                "+8613700000004",
                in_alpha.store_b,
                total_spend=Decimal("50"),
                order_count=1,
                m_score=1,
                f_score=1,
                r_score=5,
                last_purchase_at=now - timedelta(days=1),
                first_purchase_at=now - timedelta(days=1),
                lifecycle="new",
                channel="mini_program",
            ),
            "prospect": member("路人", "+8613700000005", None),
        }
    return people


def names(world: World, rule: Any, persona: str = "hq") -> set[str]:
    with time_machine.travel(NOW, tick=False):
        return set(segment_members(actor=world.persona(persona), rule=rule).values_list("name", flat=True)) - {
            "Alpha-张三",
            "Alpha-李四",
        }


def cond(field: str, op: str, value: Any = None) -> dict[str, Any]:
    return {"field": field, "op": op, "value": value}


CORE_CASES = [
    (cond("name", "eq", "鲸鱼"), {"鲸鱼"}),
    (cond("name", "neq", "鲸鱼"), {"常客", "沉睡", "新人", "路人"}),
    (cond("name", "contains", "睡"), {"沉睡"}),
    (cond("name", "starts_with", "新"), {"新人"}),
    (cond("city", "in", ["广州"]), {"沉睡"}),
    (cond("city", "is_empty"), {"新人", "路人"}),
    (cond("city", "not_empty"), {"鲸鱼", "常客", "沉睡"}),
    (cond("gender", "eq", "female"), {"鲸鱼"}),
    (cond("channel", "in", ["mini_program"]), {"新人"}),
    (cond("lifecycle", "not_in", ["prospect", "new"]), {"鲸鱼", "常客", "沉睡"}),
    (cond("total_spend", "gte", 5000), {"鲸鱼", "沉睡"}),
    (cond("total_spend", "lt", "100"), {"新人", "路人"}),
    (cond("total_spend", "between", [1000, 5000]), {"常客", "沉睡"}),
    (cond("order_count", "eq", 12), {"常客"}),
    (cond("order_count", "neq", 0), {"鲸鱼", "常客", "沉睡", "新人"}),
    (cond("order_count", "gt", 12), {"鲸鱼"}),
    (cond("order_count", "lte", 1), {"新人", "路人"}),
    (cond("m_score", "gte", 4), {"鲸鱼", "常客", "沉睡"}),
    (cond("last_purchase_at", "within_last", 30), {"常客", "新人"}),
    (cond("last_purchase_at", "not_within_last", 30), {"鲸鱼", "沉睡", "路人"}),
    (cond("last_purchase_at", "before", {"days_ago": 100}), {"沉睡"}),
    (cond("last_purchase_at", "after", {"days_ago": 5}), {"常客", "新人"}),  # after the day 5 days ago
    (cond("last_purchase_at", "between", [{"days_ago": 50}, {"days_ago": 2}]), {"鲸鱼", "常客"}),
    (cond("first_purchase_at", "is_empty"), {"路人"}),
    (cond("birthday", "month_is", "current"), {"鲸鱼"}),
    (cond("birthday", "anniversary_within_next", 7), {"鲸鱼"}),
    (cond("birthday", "before", "1986-01-01"), {"常客"}),
    (cond("birthday", "is_empty"), {"沉睡", "新人", "路人"}),
    (cond("home_store", "eq", "STORE_B"), {"沉睡", "新人"}),
    (cond("home_store", "is_empty"), {"路人"}),
    (cond("consent_sms", "is_false"), {"鲸鱼", "常客", "沉睡", "新人", "路人"}),
    (cond("custom.drinks", "has_any", ["茶", "果汁"]), {"鲸鱼", "常客", "沉睡"}),
    (cond("custom.drinks", "has_all", ["咖啡", "茶"]), {"鲸鱼"}),
    (cond("custom.drinks", "has_none", ["茶"]), {"沉睡", "新人", "路人"}),
    (cond("custom.level", "eq", "重要"), {"鲸鱼"}),
    (cond("custom.level", "in", ["重要", "普通"]), {"鲸鱼", "常客"}),
    (cond("custom.level", "is_empty"), {"沉睡", "新人", "路人"}),
    (cond("custom.height", "gt", 175), {"常客"}),
    (cond("custom.height", "between", [160, 175]), {"鲸鱼"}),
    (cond("custom.credit", "gte", "100"), {"鲸鱼"}),
    (cond("custom.credit", "lt", "100"), {"常客"}),
    (cond("custom.anniv", "within_next", 3), {"鲸鱼"}),  # 2020-06-16 is not in the next days of 2026...
    (cond("custom.vip", "is_true"), {"鲸鱼"}),
    (cond("custom.vip", "is_false"), {"常客"}),
    (cond("custom.nick", "contains", "hal"), {"鲸鱼"}),
    ({"and": [cond("m_score", "gte", 4), cond("last_purchase_at", "not_within_last", 30)]}, {"鲸鱼", "沉睡"}),
    ({"or": [cond("city", "eq", "广州"), cond("gender", "eq", "male")]}, {"沉睡", "常客"}),
    ({"not": cond("city", "eq", "上海")}, {"沉睡", "新人", "路人"}),
]


@pytest.mark.parametrize(("rule", "expected"), CORE_CASES, ids=[str(i) for i in range(len(CORE_CASES))])
def test_operator(people: dict[str, Member], in_alpha: World, rule: Any, expected: set[str]) -> None:
    if rule.get("field") == "home_store":
        rule = {**rule, "value": in_alpha.store_b.pk}
    if rule.get("field") == "custom.anniv":
        expected = set()  # a stored date of 2020 is not within the next 3 days of June 2026
    assert names(in_alpha, rule) == expected


def test_tag_operators(people: dict[str, Member], in_alpha: World) -> None:
    vip = Tag.objects.create(name="高价值客户")
    coffee = Tag.objects.create(name="咖啡爱好者")
    MemberTag.objects.create(member=people["whale"], tag=vip)
    MemberTag.objects.create(member=people["whale"], tag=coffee)
    MemberTag.objects.create(member=people["regular"], tag=coffee)
    assert names(in_alpha, cond("tag", "has", "高价值客户")) == {"鲸鱼"}
    assert names(in_alpha, cond("tag", "has_all", [vip.pk, coffee.pk])) == {"鲸鱼"}
    assert names(in_alpha, cond("tag", "has_any", ["高价值客户", "咖啡爱好者"])) == {"鲸鱼", "常客"}
    assert names(in_alpha, cond("tag", "has_not", "咖啡爱好者")) == {"沉睡", "新人", "路人"}


def test_segments_stay_inside_the_callers_stores(people: dict[str, Member], in_alpha: World) -> None:
    rule = cond("m_score", "gte", 4)
    assert names(in_alpha, rule, "manager_a") == {"鲸鱼", "常客"}
    assert names(in_alpha, rule, "cashier_b") == {"沉睡"}


@pytest.mark.parametrize(
    ("rule", "path"),
    [
        (cond("nonsense", "eq", 1), "rule.field"),
        (cond("total_spend", "contains", "x"), "rule.op"),
        (cond("total_spend", "gte", "lots"), "rule.value"),
        (cond("gender", "eq", "robot"), "rule.value"),
        ({"and": []}, "rule.and"),
        ({"and": [cond("name", "eq", "x"), cond("custom.missing", "eq", 1)]}, "rule.and[1].field"),
        (cond("tag", "has", "no such tag"), "rule.value"),
        ("not a rule", "rule"),
    ],
)
def test_bad_rules_name_the_place(people: dict[str, Member], in_alpha: World, rule: Any, path: str) -> None:
    with pytest.raises(ValidationFailed) as exc:
        segment_members(actor=in_alpha.hq, rule=rule)
    assert path in exc.value.fields


def test_seed_segment_is_one_query(people: dict[str, Member], in_alpha: World) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    rule = {"and": [cond("m_score", "gte", 4), cond("last_purchase_at", "not_within_last", 30)]}
    with time_machine.travel(NOW, tick=False):
        qs = segment_members(actor=in_alpha.manager_a, rule=rule)
        with CaptureQueriesContext(connection) as queries:
            assert qs.count() == 1
    selects = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("SELECT")]
    assert len(selects) == 1 and "platform_storeassignment" in selects[0]  # scoped inside the same query


def test_saved_segment_preview_and_add_tag_action(people: dict[str, Member], alpha: World) -> None:
    client = api(alpha, "marketing")
    rule = {"and": [cond("m_score", "gte", 4), cond("last_purchase_at", "not_within_last", 30)]}
    created = client.post("/api/v1/segments", {"name": "沉睡高价值", "rule": rule}, format="json")
    assert created.status_code == 201, created.json()
    with time_machine.travel(NOW, tick=False):
        preview = client.post("/api/v1/segments/preview", {"segment_id": created.json()["id"]}, format="json").json()
    assert {m["name"] for m in preview["results"]} == {"鲸鱼", "沉睡"}
    tag = client.post("/api/v1/tags", {"name": "待激活"}, format="json").json()
    with time_machine.travel(NOW, tick=False):
        acted = client.post(
            f"/api/v1/segments/{created.json()['id']}/actions/add_tag", {"tag_id": tag["id"]}, format="json"
        )
    assert acted.json() == {"result": 2}
    bad = client.post("/api/v1/segments", {"name": "坏的", "rule": cond("x", "eq", 1)}, format="json")
    assert bad.status_code == 400 and "rule.field" in bad.json()["error"]["fields"]


def test_automatic_tag_follows_its_rule(people: dict[str, Member], in_alpha: World) -> None:
    with time_machine.travel(NOW, tick=False):
        tag = tag_create(
            actor=in_alpha.marketing, name="高价值客户", kind="auto", rule=cond("total_spend", "gte", 5000)
        )
        assert set(MemberTag.objects.filter(tag=tag).values_list("member__name", flat=True)) == {"鲸鱼", "沉睡"}
        assert MemberTag.objects.filter(tag=tag, applied_by_rule=True).count() == 2
        Member.objects.filter(pk=people["sleeper_b"].pk).update(total_spend=10)
        Member.objects.filter(pk=people["regular"].pk).update(total_spend=6000)
        auto_tags_evaluate()
        assert set(MemberTag.objects.filter(tag=tag).values_list("member__name", flat=True)) == {"鲸鱼", "常客"}
        assert auto_tags_evaluate() == {"高价值客户": (0, 0)}  # re-running changes nothing


def test_manual_tag_on_a_segment(people: dict[str, Member], in_alpha: World) -> None:
    tag = tag_create(actor=in_alpha.hq, name="门店活动")
    with time_machine.travel(NOW, tick=False):
        count = tag_segment(actor=in_alpha.marketing, tag_id=tag.pk, rule=cond("m_score", "gte", 1))
        again = tag_segment(actor=in_alpha.marketing, tag_id=tag.pk, rule=cond("m_score", "gte", 1))
    assert (count, again) == (4, 0)
    tagged = MemberTag.objects.filter(tag=tag)
    assert set(tagged.values_list("member__name", flat=True)) == {"鲸鱼", "常客", "沉睡", "新人"}
    assert set(tagged.values_list("applied_by", flat=True)) == {in_alpha.marketing.pk}


def test_segment_save_requires_marketing_rights(people: dict[str, Member], in_alpha: World) -> None:
    from huiyuan.platform.errors import PermissionDenied

    with pytest.raises(PermissionDenied):
        segment_save(actor=in_alpha.cashier_b, name="x", rule=cond("name", "eq", "x"))
