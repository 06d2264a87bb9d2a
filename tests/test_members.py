"""Member lifecycle: enrol, update with history and events, field-level permissions, merge, delete."""

from __future__ import annotations

import pytest

from huiyuan.loyalty.checkout import order_record
from huiyuan.members.models import Member, MemberHistory, Order
from huiyuan.members.services import member_delete, member_enroll, member_merge, member_update
from huiyuan.platform.errors import PermissionDenied, ValidationFailed
from huiyuan.platform.events.models import OutboxEvent

from .conftest import World, api


def test_enrol_normalises_and_records_history_and_event(in_alpha: World) -> None:
    member = member_enroll(
        actor=in_alpha.manager_a,
        data={
            "phone": "１３９ ０００１ ２３４５",
            "name": " 王  小明 ",
            "gender": "男",
            "birthday": "1992/3/4",
            "home_store_id": in_alpha.store_a.pk,
        },
    )
    assert member.phone == "+8613900012345" and member.name == "王 小明" and member.gender == "male"
    assert member.card_no.startswith("8") and len(member.card_no) == 12
    history = MemberHistory.objects.get(member_id=member.pk)
    assert history.action == "created" and history.actor_id == in_alpha.manager_a.pk
    event = OutboxEvent.objects.get(event_type="member.created", aggregate_id=str(member.pk))
    assert event.payload["phone"] == "+8613900012345"


def test_enrol_reports_every_bad_field_at_once(in_alpha: World) -> None:
    with pytest.raises(ValidationFailed) as exc:
        member_enroll(
            actor=in_alpha.hq,
            data={
                "phone": "12345",
                "gender": "maybe",
                "birthday": "2099-01-01",
                "email": "nope",
                "home_store_id": 999999,
            },
        )
    assert set(exc.value.fields) == {"phone", "gender", "birthday", "email", "home_store"}


def test_store_staff_enrol_only_into_their_stores(in_alpha: World) -> None:
    with pytest.raises(ValidationFailed) as exc:
        member_enroll(actor=in_alpha.manager_a, data={"phone": "13900000011", "home_store_id": in_alpha.store_b.pk})
    assert "home_store" in exc.value.fields
    with pytest.raises(ValidationFailed):
        member_enroll(actor=in_alpha.cashier_b, data={"phone": "13900000012"})  # no store at all


def test_update_records_old_and_new_values(in_alpha: World) -> None:
    member_update(actor=in_alpha.service, member_id=in_alpha.member_a.pk, data={"name": "张三丰", "city": "杭州"})
    entry = MemberHistory.objects.filter(member_id=in_alpha.member_a.pk, action="updated").get()
    assert entry.changes == {"name": ["Alpha-张三", "张三丰"], "city": ["", "杭州"]}
    assert entry.actor_label == "Alpha-service"
    assert OutboxEvent.objects.filter(event_type="member.updated", aggregate_id=str(in_alpha.member_a.pk)).exists()


def test_changing_a_phone_needs_the_pii_permission(in_alpha: World) -> None:
    from huiyuan.platform.access import ApiKeyPrincipal
    from huiyuan.platform.models import ApiKey

    member_update(actor=in_alpha.service, member_id=in_alpha.member_a.pk, data={"phone": "13900000077"})
    assert Member.objects.get(pk=in_alpha.member_a.pk).phone == "+8613900000077"
    key = ApiKey.objects.create(name="crm", prefix="abcd1234", secret_hash="x")
    crm = ApiKeyPrincipal(api_key=key, scopes=frozenset({"members.member.view", "members.member.update"}))
    with pytest.raises(ValidationFailed) as exc:
        member_update(actor=crm, member_id=in_alpha.member_a.pk, data={"phone": "13900000078"})
    assert "phone" in exc.value.fields
    member_update(actor=crm, member_id=in_alpha.member_a.pk, data={"name": "改名"})  # other fields are fine
    with pytest.raises(PermissionDenied):
        member_update(actor=in_alpha.marketing, member_id=in_alpha.member_a.pk, data={"name": "x"})


def test_update_via_api_is_scoped(alpha: World) -> None:
    response = api(alpha, "manager_a").patch(f"/api/v1/members/{alpha.member_b.pk}", {"name": "x"}, format="json")
    assert response.status_code == 404
    ok = api(alpha, "manager_a").patch(f"/api/v1/members/{alpha.member_a.pk}", {"city": "苏州"}, format="json")
    assert ok.status_code == 200 and ok.json()["city"] == "苏州"


def test_merge_moves_orders_fills_gaps_and_deletes_the_duplicate(in_alpha: World) -> None:
    keep = in_alpha.member_a
    duplicate = member_enroll(
        actor=in_alpha.hq,
        data={"phone": "13900000099", "birthday": "1988-08-08", "city": "上海", "home_store_id": in_alpha.store_a.pk},
    )
    history_order(in_alpha, "M-1", duplicate, "120.00")
    merged = member_merge(actor=in_alpha.hq, keep_id=keep.pk, merge_id=duplicate.pk)
    assert merged.birthday.isoformat() == "1988-08-08" and merged.city == "上海"
    assert merged.order_count == 1 and str(merged.total_spend) == "120.00"
    assert Order.objects.get(order_no="M-1").member_id == keep.pk
    assert not Member.objects.filter(pk=duplicate.pk).exists()
    assert MemberHistory.objects.filter(member_id=keep.pk, action="merged").exists()


def history_order(world: World, order_no: str, member: Member, amount: str) -> None:
    """An order from before the loyalty programme (as the history import writes them): no points."""
    from django.utils import timezone

    from huiyuan.members.services import recompute_stats

    Order.objects.create(
        order_no=order_no,
        store=world.store_a,
        member=member,
        total_amount=amount,
        paid_amount=amount,
        paid_at=timezone.now(),
        source=Order.Source.IMPORT,
    )
    recompute_stats(member.pk)


def test_members_with_points_are_neither_deleted_nor_merged_away(in_alpha: World) -> None:
    from huiyuan.platform.errors import Conflict

    order_record(
        actor=in_alpha.hq,
        data={"order_no": "D-0", "store": "A001", "member": {"id": in_alpha.member_a.pk}, "paid_amount": "10"},
    )
    with pytest.raises(Conflict) as refused:
        member_delete(actor=in_alpha.owner, member_id=in_alpha.member_a.pk)
    assert refused.value.code == "MEMBER_HAS_LEDGER"
    with pytest.raises(Conflict):
        member_merge(actor=in_alpha.hq, keep_id=in_alpha.member_b.pk, merge_id=in_alpha.member_a.pk)
    assert Member.objects.filter(pk=in_alpha.member_a.pk).exists()
    assert Order.objects.get(order_no="D-0").member_id == in_alpha.member_a.pk


def test_delete_keeps_orders_and_history(in_alpha: World) -> None:
    history_order(in_alpha, "D-1", in_alpha.member_a, "10.00")
    member_delete(actor=in_alpha.owner, member_id=in_alpha.member_a.pk)
    assert Order.objects.get(order_no="D-1").member_id is None
    assert MemberHistory.objects.filter(member_id=in_alpha.member_a.pk, action="deleted").exists()
    assert OutboxEvent.objects.filter(event_type="member.deleted").exists()
    with pytest.raises(PermissionDenied):
        member_delete(actor=in_alpha.cashier_b, member_id=in_alpha.member_b.pk)


def test_profile_shows_the_whole_member(alpha: World) -> None:
    api(alpha, "hq").post(
        "/api/v1/orders",
        {
            "order_no": "P-1",
            "store": "A001",
            "member": {"id": alpha.member_a.pk},
            "paid_amount": "88.00",
            "lines": [{"sku": "LATTE", "amount": "88.00"}],
        },
        format="json",
    )
    profile = api(alpha, "marketing").get(f"/api/v1/members/{alpha.member_a.pk}/profile").json()
    assert profile["member"]["order_count"] == 1 and profile["member"]["phone"] == "138****0001"
    assert profile["recent_orders"][0]["lines"][0]["sku"] == "LATTE"
