"""The automation API: who may do what, tenant isolation, clear errors, and a rule's life through it."""

from __future__ import annotations

import pytest
from django_tenants.utils import tenant_context

from huiyuan.automation.models import Message, Rule, Task
from huiyuan.automation.workflow import task_types_ensure
from huiyuan.loyalty.models import CouponTemplate
from huiyuan.members.models import Segment

from .conftest import World, api

RULE = {
    "name": "下单感谢",
    "trigger": {"type": "event:order.paid"},
    "conditions": {"member": {"field": "total_spend", "op": "gte", "value": 100}, "event": []},
    "actions": [{"type": "send_message", "channel": "inbox", "body": "{{name}}，谢谢惠顾"}],
}


@pytest.mark.parametrize(
    ("persona", "expected"),
    [(None, 401), ("cashier_b", 403), ("manager_a", 403), ("service", 403), ("marketing", 201), ("hq", 201)],
)
def test_who_may_create_rules(alpha: World, persona: str | None, expected: int) -> None:
    reply = api(alpha, persona).post("/api/v1/automation/rules", RULE, format="json")
    assert reply.status_code == expected, reply.content
    with tenant_context(alpha.tenant):
        assert Rule.objects.exists() == (expected == 201)


def test_a_rule_through_the_api_versions_dry_runs_and_switches_on(alpha: World) -> None:
    client = api(alpha, "marketing")
    rule = client.post("/api/v1/automation/rules", RULE, format="json").json()
    assert rule["version"]["number"] == 1 and rule["status"] == "draft"
    edited = client.put(f"/api/v1/automation/rules/{rule['id']}", {**RULE, "name": "改"}, format="json").json()
    assert edited["version"]["number"] == 2
    dry = client.post("/api/v1/automation/rules/dry-run", {k: v for k, v in RULE.items() if k != "name"}, format="json")
    assert dry.status_code == 200 and dry.json()["kind"] == "event"
    on = client.post(f"/api/v1/automation/rules/{rule['id']}/status", {"status": "active"}, format="json")
    assert on.json()["status"] == "active"
    assert client.get(f"/api/v1/automation/rules/{rule['id']}/stats").json()["reached"] == 0
    assert client.get(f"/api/v1/automation/rules/{rule['id']}/steps").json()["count"] == 0


def test_bad_rules_get_field_errors_not_500s(alpha: World) -> None:
    client = api(alpha, "hq")
    for body, field in [
        ({**RULE, "trigger": {"type": "nonsense"}}, "trigger.type"),
        ({**RULE, "actions": [{"type": "issue_coupon", "template_id": "x"}]}, "actions[0].template_id"),
        ({**RULE, "actions": "send everything"}, "actions"),
        ({**RULE, "conditions": {"member": {"field": "nope", "op": "eq", "value": 1}}}, "rule.field"),
        ({**RULE, "guards": {"once_per": "fortnight"}}, "guards.once_per"),
    ]:
        reply = client.post("/api/v1/automation/rules", body, format="json")
        assert reply.status_code == 400, (body, reply.content)
        assert field in reply.json()["error"]["fields"], reply.json()


def test_rules_of_another_merchant_are_not_found(alpha: World, beta: World) -> None:
    rule = api(alpha, "hq").post("/api/v1/automation/rules", RULE, format="json").json()
    assert api(beta, "hq").get(f"/api/v1/automation/rules/{rule['id']}").status_code == 404
    assert api(beta, "hq").get("/api/v1/automation/rules").json() == []


def test_templates_and_a_campaign_with_hold_out_through_the_api(alpha: World) -> None:
    with tenant_context(alpha.tenant):
        coupon = CouponTemplate.objects.create(name="券", kind="fixed", amount_off=5, valid_days=7)
        segment = Segment.objects.create(name="全部", rule={"field": "order_count", "op": "gte", "value": 0})
    client = api(alpha, "marketing")
    keys = [t["key"] for t in client.get("/api/v1/automation/templates").json()]
    assert {"welcome", "birthday", "win_back", "churn_risk"} <= set(keys)
    installed = client.post(
        "/api/v1/automation/templates", {"key": "birthday", "coupon_template_id": coupon.pk}, format="json"
    )
    assert installed.status_code == 201 and installed.json()["next_run_at"]
    body = {
        "name": "全员",
        "segment_id": segment.pk,
        "actions": [{"type": "issue_coupon", "template_id": coupon.pk}],
        "holdout_percent": 50,
    }
    preview = client.post("/api/v1/automation/campaigns/preview", body, format="json").json()
    assert preview["count"] == 2 and preview["cost"]["coupons"] == preview["reached"]
    created = client.post("/api/v1/automation/campaigns", body, format="json")
    assert created.status_code == 201
    assert created.json()["reached"] + created.json()["held_out"] == 2
    assert (
        client.post("/api/v1/automation/campaigns", {**body, "holdout_percent": 80}, format="json").status_code == 400
    )


def test_tasks_through_the_api_respect_stores(alpha: World) -> None:
    with tenant_context(alpha.tenant):
        care = task_types_ensure().get(key="care")
    created = api(alpha, "service").post(
        "/api/v1/tasks", {"type_id": care.pk, "title": "回访", "member_id": alpha.member_a.pk}, format="json"
    )
    assert created.status_code == 201, created.content
    task = created.json()
    assert task["store_id"] == alpha.store_a.pk and task["assignee_role"] == "store_manager"
    manager = api(alpha, "manager_a")
    assert [t["id"] for t in manager.get("/api/v1/tasks").json()["results"]] == [task["id"]]
    move = next(i for i, m in enumerate(care.transitions) if m["to"] == "contacted")
    moved = manager.post(f"/api/v1/tasks/{task['id']}/moves", {"move": move, "comment": "已联系"}, format="json")
    assert moved.json()["state"] == "contacted"
    assert manager.post(f"/api/v1/tasks/{task['id']}/moves", {"move": move}, format="json").status_code == 409
    assert api(alpha, "cashier_b").get(f"/api/v1/tasks/{task['id']}").status_code == 403
    with tenant_context(alpha.tenant):
        assert Task.objects.get().comments.count() == 1


def test_a_members_inbox_is_read_within_the_callers_stores(alpha: World) -> None:
    with tenant_context(alpha.tenant):
        Message.objects.create(member=alpha.member_a, channel="inbox", body="欢迎", status="sent")
    assert (
        api(alpha, "manager_a").get(f"/api/v1/members/{alpha.member_a.pk}/messages").json()["results"][0]["body"]
        == "欢迎"
    )
    assert api(alpha, "manager_a").get(f"/api/v1/members/{alpha.member_b.pk}/messages").status_code == 404
