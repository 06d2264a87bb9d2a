"""Roles and store scoping: every list is filtered by the caller's stores; named operations guard
every endpoint; side effects do not happen when access is refused."""

from __future__ import annotations

import pytest
from django_tenants.utils import tenant_context

from huiyuan.members.models import Member, Store
from huiyuan.platform.access import filter_queryset, grant_store_operation
from huiyuan.platform.models import AuditEntry, User

from .conftest import World, api


def member_names(world: World, persona: str) -> set[str]:
    response = api(world, persona).get("/api/v1/members")
    assert response.status_code == 200, response.json()
    return {m["name"] for m in response.json()["results"]}


def test_store_manager_lists_only_their_stores_members(alpha: World) -> None:
    assert member_names(alpha, "manager_a") == {"Alpha-张三"}


def test_cashier_lists_only_their_stores_members(alpha: World) -> None:
    assert member_names(alpha, "cashier_b") == {"Alpha-李四"}


@pytest.mark.parametrize("persona", ["owner", "hq", "marketing", "service"])
def test_hq_roles_see_every_store(alpha: World, persona: str) -> None:
    assert member_names(alpha, persona) == {"Alpha-张三", "Alpha-李四"}


def test_store_manager_gets_404_for_another_stores_member(alpha: World) -> None:
    response = api(alpha, "manager_a").get(f"/api/v1/members/{alpha.member_b.pk}")
    assert response.status_code == 404
    assert api(alpha, "manager_a").get(f"/api/v1/members/{alpha.member_a.pk}").status_code == 200


def test_store_list_and_staff_list_are_scoped(alpha: World) -> None:
    stores = api(alpha, "manager_a").get("/api/v1/stores").json()["results"]
    assert [s["code"] for s in stores] == ["A001"]
    staff = api(alpha, "manager_a").get("/api/v1/staff").json()["results"]
    assert {s["username"] for s in staff} == {"manager_a"}
    assert api(alpha, "manager_a").get(f"/api/v1/stores/{alpha.store_b.pk}").status_code == 404


def test_filter_queryset_scopes_orm_queries(in_alpha: World) -> None:
    qs = filter_queryset(in_alpha.manager_a, "members.member.view", Member.objects.all())
    assert list(qs.values_list("name", flat=True)) == ["Alpha-张三"]
    # Without the operation there are no rows at all, whatever the stores.
    assert not filter_queryset(in_alpha.cashier_b, "members.member.export", Member.objects.all()).exists()


@pytest.mark.parametrize(
    ("method", "path", "payload"),
    [
        ("get", "/api/v1/audit", None),
        ("get", "/api/v1/api-keys", None),
        ("post", "/api/v1/api-keys", {"name": "x", "scopes": ["members.member.view"]}),
        ("get", "/api/v1/staff", None),
        ("post", "/api/v1/staff", {"name": "x", "role": "cashier", "phone": "13900000000", "store_ids": [1]}),
        ("post", "/api/v1/stores", {"code": "C001", "name": "新店"}),
    ],
)
def test_cashier_cannot_reach_admin_endpoints(alpha: World, method: str, path: str, payload: dict | None) -> None:
    audit_before = _audit_count(alpha)
    response = getattr(api(alpha, "cashier_b"), method)(path, payload, format="json")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "PERMISSION_DENIED"
    assert _audit_count(alpha) == audit_before  # nothing happened


def _audit_count(world: World) -> int:
    with tenant_context(world.tenant):
        return AuditEntry.objects.count()


def test_anonymous_gets_401_not_data(alpha: World) -> None:
    response = api(alpha).get("/api/v1/members")
    assert response.status_code in (401, 403)
    assert response.json()["error"]["code"] in ("NOT_AUTHENTICATED", "AUTHENTICATION_FAILED")


def test_marketing_sees_masked_phones_and_manager_sees_them_unmasked(alpha: World) -> None:
    marketing = api(alpha, "marketing").get(f"/api/v1/members/{alpha.member_a.pk}").json()
    manager = api(alpha, "manager_a").get(f"/api/v1/members/{alpha.member_a.pk}").json()
    assert marketing["phone"] == "138****0001"
    assert manager["phone"] == "+8613800000001"


def test_per_store_guardian_grant_unmasks_one_store_only(alpha: World) -> None:
    with tenant_context(alpha.tenant):
        grant_store_operation(staff=alpha.marketing, op="members.pii.view", store=alpha.store_a)
    client = api(alpha, "marketing")
    assert client.get(f"/api/v1/members/{alpha.member_a.pk}").json()["phone"] == "+8613800000001"
    assert client.get(f"/api/v1/members/{alpha.member_b.pk}").json()["phone"] == "138****0002"


def test_staff_invite_and_role_change_are_audited(alpha: World) -> None:
    client = api(alpha, "hq")
    invite = client.post(
        "/api/v1/staff",
        {"name": "王五", "role": "cashier", "phone": "139-0000-0077", "store_ids": [alpha.store_a.pk]},
        format="json",
        REMOTE_ADDR="10.1.2.3",
    )
    assert invite.status_code == 201, invite.json()
    staff_id = invite.json()["staff"]["id"]
    change = client.patch(
        f"/api/v1/staff/{staff_id}", {"role": "store_manager", "store_ids": [alpha.store_b.pk]}, format="json"
    )
    assert change.status_code == 200, change.json()
    assert change.json()["role"] == "store_manager"
    entries = api(alpha, "owner").get(f"/api/v1/audit?object_id={staff_id}&object_type=platform.user").json()
    actions = [(e["action"], e["actor_label"]) for e in entries["results"]]
    assert ("platform.staff.invite", "Alpha-hq") in actions
    assert ("platform.staff.change_role", "Alpha-hq") in actions
    change_entry = next(e for e in entries["results"] if e["action"] == "platform.staff.change_role")
    assert change_entry["changes"]["role"] == ["cashier", "store_manager"]
    invite_entry = next(e for e in entries["results"] if e["action"] == "platform.staff.invite")
    assert invite_entry["ip_address"] == "10.1.2.3"


def test_invited_staff_accepts_and_logs_in(alpha: World) -> None:
    invite = (
        api(alpha, "hq")
        .post("/api/v1/staff", {"name": "赵六", "role": "marketing", "email": "zhao@alpha.cn"}, format="json")
        .json()
    )
    from django.test import Client

    client = Client(HTTP_HOST=alpha.host)
    page = client.post(invite["invite_path"], {"password": "Zhao-2026-pass", "password2": "Zhao-2026-pass"})
    assert page.status_code == 302
    assert client.get("/api/v1/me").json()["role"] == "marketing"
    # The link works once.
    assert client.get(invite["invite_path"]).status_code == 404


def test_hq_admin_cannot_create_hq_admins_or_touch_the_owner(alpha: World) -> None:
    client = api(alpha, "hq")
    response = client.post("/api/v1/staff", {"name": "x", "role": "hq_admin", "email": "x@a.cn"}, format="json")
    assert response.status_code == 403
    response = client.patch(f"/api/v1/staff/{alpha.owner.pk}", {"role": "cashier"}, format="json")
    assert response.status_code == 403
    with tenant_context(alpha.tenant):
        assert User.objects.get(pk=alpha.owner.pk).role == "owner"


def test_store_manager_needs_a_store(alpha: World) -> None:
    response = api(alpha, "owner").post(
        "/api/v1/staff", {"name": "x", "role": "store_manager", "email": "m@a.cn", "store_ids": []}, format="json"
    )
    assert response.status_code == 400
    assert "stores" in response.json()["error"]["fields"]


def test_store_create_validates_and_audits(alpha: World) -> None:
    client = api(alpha, "hq")
    bad = client.post("/api/v1/stores", {"code": "A001", "name": ""}, format="json")
    assert bad.status_code == 400
    assert set(bad.json()["error"]["fields"]) == {"code", "name"}
    good = client.post("/api/v1/stores", {"code": "C001", "name": "深圳南山店", "region": "深圳"}, format="json")
    assert good.status_code == 201
    with tenant_context(alpha.tenant):
        assert Store.objects.filter(code="C001").exists()
        assert AuditEntry.objects.filter(action="platform.store.create", object_id=str(good.json()["id"])).exists()


def test_masking_a_long_list_does_not_query_once_per_row(alpha: World) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with tenant_context(alpha.tenant):
        Member.objects.bulk_create(
            [Member(phone=f"+86137100000{i:02d}", card_no=f"Q{i}", home_store=alpha.store_a) for i in range(40)]
        )
    for persona in ("manager_a", "marketing"):
        client = api(alpha, persona)
        with CaptureQueriesContext(connection) as queries:
            response = client.get("/api/v1/members?page_size=50")
        assert response.status_code == 200 and len(response.json()["results"]) >= 40
        assert len(queries) < 20, [q["sql"][:80] for q in queries.captured_queries]


def test_the_roles_document_matches_the_roles_table() -> None:
    """docs/roles.md is generated from roles.py; a changed grant must be reflected there."""
    from pathlib import Path

    from huiyuan.platform.roles import OPERATIONS, ROLE_OPERATIONS, Role

    text = (Path(__file__).resolve().parents[1] / "docs" / "roles.md").read_text()
    rows = {line.split("`")[1]: line for line in text.splitlines() if line.startswith("| `")}
    assert set(rows) == set(OPERATIONS)
    for code, line in rows.items():
        cells = [c.strip() for c in line.split("|")[2:-2]]
        assert cells == ["✓" if code in ROLE_OPERATIONS[r] else "" for r in Role], code
