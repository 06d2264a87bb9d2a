"""The member list as staff use it: filters in words, columns kept per user, sorting, bulk
actions on ticked or all matching members, tags made in the console, the segment builder's live
count, and a saved language."""

from __future__ import annotations

from decimal import Decimal

from django.db import connection
from django_tenants.utils import tenant_context

from huiyuan.loyalty.models import Coupon, CouponTemplate, Tier
from huiyuan.members.models import Member, MemberTag, Segment, Tag
from huiyuan.platform.models import AuditEntry, User

from .conftest import World
from .test_console import console


def _members(world: World) -> None:
    with tenant_context(world.tenant):
        gold = Tier.objects.create(name="金卡", rank=2, threshold_spend=1000)
        Member.objects.filter(pk=world.member_a.pk).update(total_spend=Decimal("1500"), tier=gold, city="杭州")
        Member.objects.bulk_create(
            [
                Member(phone="+8613700000001", card_no="L-1", name="钱一", home_store=world.store_a, total_spend=300),
                Member(phone="+8613700000002", card_no="L-2", name="孙二", home_store=world.store_a, total_spend=800),
                Member(phone="+8613700000003", card_no="L-3", name="周三", home_store=world.store_b, total_spend=900),
            ]
        )
    connection.set_schema_to_public()


def _table(response: object) -> str:
    body = response.content.decode()  # type: ignore[attr-defined]
    return body[body.index('id="member-table"') :]


def test_filters_combine_and_a_manager_still_sees_only_their_store(alpha: World) -> None:
    _members(alpha)
    hq = console(alpha, "hq")
    rich = _table(hq.get("/members/", {"spend_min": "500"}))
    assert "孙二" in rich and "周三" in rich and "Alpha-张三" in rich and "钱一" not in rich
    gold = _table(hq.get("/members/", {"tier": "金卡"}))
    assert "Alpha-张三" in gold and "孙二" not in gold
    custom = _table(hq.get("/members/", {"c_field": "city", "c_op": "eq", "c_value": "杭州", "spend_min": "100"}))
    assert "Alpha-张三" in custom and "孙二" not in custom
    manager = _table(console(alpha, "manager_a").get("/members/", {"spend_min": "500"}))
    assert "孙二" in manager and "周三" not in manager
    bad = hq.get("/members/", {"spend_min": "lots", "bought_within": "soon"})
    assert bad.status_code == 200 and 'class="alert alert-danger"' in bad.content.decode()
    assert "孙二" not in _table(bad)


def test_sorting_by_a_column_and_columns_kept_for_the_user(alpha: World) -> None:
    _members(alpha)
    hq = console(alpha, "hq")
    table = _table(hq.get("/members/", {"sort": "-total_spend"}))
    assert table.index("Alpha-张三") < table.index("周三") < table.index("孙二") < table.index("钱一")
    table = _table(hq.get("/members/", {"sort": "total_spend", "spend_min": "1"}))
    assert table.index("钱一") < table.index("孙二")
    hq.post("/members/columns/", {"columns": ["order_count", "lifecycle", "bogus"], "back": ""})
    with tenant_context(alpha.tenant):
        assert User.objects.get(pk=alpha.hq.pk).preferences["member_columns"] == ["order_count", "lifecycle"]
    connection.set_schema_to_public()
    head = _table(hq.get("/members/")).split("</thead>")[0]
    assert "生命周期" in head and "积分" not in head


def test_bulk_tag_and_coupon_on_ticked_and_on_all_matching_members(alpha: World) -> None:
    _members(alpha)
    with tenant_context(alpha.tenant):
        tag = Tag.objects.create(name="高消费")
        template = CouponTemplate.objects.create(name="回馈券", kind="fixed", amount_off=5, valid_days=10)
    connection.set_schema_to_public()
    hq = console(alpha, "hq")
    hq.post("/members/bulk/", {"target": "selected", "card": ["L-1", "L-3"], "action": "tag", "tag": tag.pk})
    hq.post(
        "/members/bulk/",
        {"target": "all", "back": "spend_min=500", "action": "coupon", "template": template.pk},
    )
    with tenant_context(alpha.tenant):
        assert set(MemberTag.objects.filter(tag=tag).values_list("member__card_no", flat=True)) == {"L-1", "L-3"}
        holders = set(Coupon.objects.filter(template=template).values_list("member__name", flat=True))
        assert holders == {"孙二", "周三", "Alpha-张三"}
    connection.set_schema_to_public()
    # Nothing ticked: a clear message, nothing done.
    empty = hq.post("/members/bulk/", {"target": "selected", "action": "tag", "tag": tag.pk}, follow=True)
    assert "请至少勾选" in empty.content.decode()
    # A campaign starts from the same members, saved as a segment.
    started = hq.post("/members/bulk/", {"target": "all", "back": "tier=%E9%87%91%E5%8D%A1", "action": "campaign"})
    assert started.status_code == 302 and "/automation/campaigns/?segment=" in started["Location"]
    with tenant_context(alpha.tenant):
        assert Segment.objects.get(pk=int(started["Location"].rsplit("=", 1)[1])).rule == {
            "field": "tier",
            "op": "eq",
            "value": "金卡",
        }
    connection.set_schema_to_public()


def test_a_store_manager_cannot_act_in_bulk_beyond_export(alpha: World) -> None:
    _members(alpha)
    with tenant_context(alpha.tenant):
        tag = Tag.objects.create(name="店长标签")
    connection.set_schema_to_public()
    manager = console(alpha, "manager_a")
    manager.post("/members/bulk/", {"target": "all", "action": "tag", "tag": tag.pk})
    exported = manager.post("/members/bulk/", {"target": "all", "back": "", "action": "export"})
    assert exported.status_code == 200 and exported["Content-Disposition"].endswith('.xlsx"')
    with tenant_context(alpha.tenant):
        assert not MemberTag.objects.filter(tag=tag).exists()
    connection.set_schema_to_public()


def test_tags_are_made_renamed_and_deleted_in_the_console(alpha: World) -> None:
    hq = console(alpha, "hq")
    hq.post("/tags/", {"action": "create", "name": "爱喝拿铁"})
    with tenant_context(alpha.tenant):
        tag = Tag.objects.get(name="爱喝拿铁")
        MemberTag.objects.create(member=alpha.member_a, tag=tag)
    connection.set_schema_to_public()
    duplicate = hq.post("/tags/", {"action": "create", "name": "爱喝拿铁"})
    assert duplicate.status_code == 200 and "已有同名标签" in duplicate.content.decode()
    hq.post("/tags/", {"action": "rename", "tag_id": tag.pk, "name": "拿铁控"})
    page = hq.get("/tags/").content.decode()
    assert "拿铁控" in page
    hq.post("/tags/", {"action": "delete", "tag_id": tag.pk})
    with tenant_context(alpha.tenant):
        assert not Tag.objects.filter(pk=tag.pk).exists() and not MemberTag.objects.filter(tag_id=tag.pk).exists()
        assert AuditEntry.objects.filter(action="members.tag.delete").exists()
    connection.set_schema_to_public()
    assert console(alpha, "manager_a").get("/tags/").status_code == 403


def test_the_segment_builder_counts_as_you_pick(alpha: World) -> None:
    _members(alpha)
    hq = console(alpha, "hq")
    answer = hq.post("/segments/count/", {"c_field": "total_spend", "c_op": "gte", "c_value": "800"})
    assert answer.content.decode() == "当前有 3 位会员符合。"
    nonsense = hq.post("/segments/count/", {"c_field": "total_spend", "c_op": "gte", "c_value": "lots"})
    assert nonsense.status_code == 200 and "3 位" not in nonsense.content.decode()
    assert hq.post("/segments/count/", {}).content.decode() == "选择条件后显示符合的人数。"
    page = hq.get("/segments/").content.decode()
    assert '<optgroup label="积分与等级">' in page and '<optgroup label="消费">' in page


def test_the_chosen_language_follows_the_user(alpha: World) -> None:
    client = console(alpha, "hq", lang="zh-hans")
    client.post("/i18n/setlang/", {"language": "en", "next": "/members/"})
    with tenant_context(alpha.tenant):
        assert User.objects.get(pk=alpha.hq.pk).language == "en"
    connection.set_schema_to_public()
    # Another device, whose browser asks for Chinese, still gets English for this user.
    other = console(alpha, "hq", lang="zh-hans")
    assert ">Members<" in other.get("/members/").content.decode()
    with tenant_context(alpha.tenant):
        User.objects.filter(pk=alpha.hq.pk).update(language="")
    connection.set_schema_to_public()


def test_erasing_a_member_removes_the_person_but_keeps_the_books(alpha: World) -> None:
    from huiyuan.loyalty.checkout import checkout_commit
    from huiyuan.loyalty.ledger import points_earn
    from huiyuan.members.models import MemberHistory, Order
    from huiyuan.members.services import member_update

    with tenant_context(alpha.tenant):
        member_update(actor=alpha.hq, member_id=alpha.member_a.pk, data={"city": "杭州", "email": "z@example.cn"})
        points_earn(member_id=alpha.member_a.pk, amount=300, idempotency_key="erase:pts", cause="staff")
        checkout_commit(
            actor=alpha.hq,
            data={
                "order_no": "ERASE-1",
                "store": "A001",
                "member": {"id": alpha.member_a.pk},
                "lines": [{"amount": "40"}],
            },
        )
        tag = Tag.objects.create(name="将被抹除")
        MemberTag.objects.create(member=alpha.member_a, tag=tag)
        balance = Member.objects.get(pk=alpha.member_a.pk).points_balance
    connection.set_schema_to_public()
    hq = console(alpha, "hq")
    wrong = hq.post(f"/members/{alpha.member_a.pk}/erase/", {"reason": "本人来电要求", "confirm_card_no": "nope"})
    assert wrong.status_code == 200 and "卡号" in wrong.content.decode()
    done = hq.post(
        f"/members/{alpha.member_a.pk}/erase/", {"reason": "本人来电要求", "confirm_card_no": alpha.member_a.card_no}
    )
    assert done.status_code == 302
    with tenant_context(alpha.tenant):
        member = Member.objects.get(pk=alpha.member_a.pk)
        assert member.erased_at is not None and member.name == "" and member.email == "" and member.city == ""
        assert not member.phone.startswith("+") and member.points_balance == balance  # the books stay
        assert Order.objects.filter(order_no="ERASE-1", member=member).exists()
        assert not MemberTag.objects.filter(member=member).exists()
        old = MemberHistory.objects.filter(member_id=member.pk).exclude(action=MemberHistory.Action.ERASED)
        assert all(entry.changes == {} for entry in old)
        assert "Alpha-张三" not in str(list(AuditEntry.objects.values_list("object_repr", "changes")))
    connection.set_schema_to_public()
    # Nobody finds the person by their old phone or name any more.
    assert "Alpha-张三" not in _table(hq.get("/members/", {"q": "13800000001"}))
    again = hq.post(
        f"/members/{alpha.member_a.pk}/erase/", {"reason": "再次", "confirm_card_no": alpha.member_a.card_no}
    )
    assert again.status_code == 200 and "已经抹除" in again.content.decode()
    assert console(alpha, "manager_a").get(f"/members/{alpha.member_a.pk}/erase/").status_code == 403


def test_merging_a_duplicate_from_the_profile(alpha: World) -> None:
    from huiyuan.members.models import Order

    with tenant_context(alpha.tenant):
        duplicate = Member.objects.create(
            phone="+8613700009999", card_no="DUP-1", name="张三(旧卡)", home_store=alpha.store_a
        )
        Order.objects.create(
            order_no="DUP-ORDER",
            store=alpha.store_a,
            member=duplicate,
            paid_amount=10,
            paid_at="2026-01-01T10:00:00+08:00",
        )
    connection.set_schema_to_public()
    hq = console(alpha, "hq")
    found = hq.get(f"/members/{alpha.member_a.pk}/merge/", {"q": "13700009999"}).content.decode()
    assert "张三(旧卡)" in found
    side_by_side = hq.get(f"/members/{alpha.member_a.pk}/merge/", {"other": duplicate.pk}).content.decode()
    assert "DUP-1" in side_by_side and alpha.member_a.card_no in side_by_side
    assert hq.post(f"/members/{alpha.member_a.pk}/merge/", {"other": duplicate.pk}).status_code == 302
    with tenant_context(alpha.tenant):
        assert not Member.objects.filter(pk=duplicate.pk).exists()
        assert Order.objects.get(order_no="DUP-ORDER").member_id == alpha.member_a.pk
    connection.set_schema_to_public()
