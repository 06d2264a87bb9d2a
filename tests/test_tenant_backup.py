"""A merchant backed up, deleted and restored comes back whole: members, ledgers with the same
balances to the cent, rules and domains; restoring onto a taken schema or domain is refused; a
closed merchant stops answering and is dropped only after its grace period."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone
from django_tenants.utils import schema_exists, tenant_context

from huiyuan.automation.gallery import template_install
from huiyuan.loyalty.ledger import points_earn, stored_value_topup
from huiyuan.members.models import Member
from huiyuan.tenants import backups
from huiyuan.tenants.models import Tenant
from huiyuan.tenants.services import tenant_signup

from .conftest import PASSWORD

pytestmark = pytest.mark.slow


@pytest.fixture
def shop(committed: Any) -> Iterator[Tenant]:
    result = tenant_signup(
        name="备份小店", subdomain="backupshop", owner_phone="", owner_email="o@bk.cn", password=PASSWORD
    )
    tenant = result.tenant
    with tenant_context(tenant):
        from huiyuan.platform.models import User

        owner = User.objects.get(role="owner")
        for i in range(20):
            member = Member.objects.create(phone=f"+8613600{i:06d}", card_no=f"BK{i}", name=f"会员{i}")
            points_earn(member_id=member.pk, amount=10 * i + 7, idempotency_key=f"bk:p:{i}", cause="staff")
            stored_value_topup(member_id=member.pk, principal=f"{i}.33", bonus="1.10", idempotency_key=f"bk:s:{i}")
        from huiyuan.loyalty.models import CouponTemplate

        CouponTemplate.objects.create(name="新人券", kind="fixed", amount_off=5, valid_days=30)
        template_install(actor=owner, key="welcome")
    connection.set_schema_to_public()
    yield tenant
    connection.set_schema_to_public()
    for leftover in Tenant.objects.filter(schema_name=tenant.schema_name):
        leftover.delete(force_drop=True)


def _books(tenant: Tenant) -> dict[str, Any]:
    with tenant_context(tenant), connection.cursor() as cursor:
        cursor.execute(
            "SELECT id, card_no, points_balance, stored_principal::text, stored_bonus::text"
            " FROM members_member ORDER BY id"
        )
        members = cursor.fetchall()
        cursor.execute("SELECT count(*), sum(amount) FROM loyalty_pointsentry")
        points = cursor.fetchone()
        cursor.execute("SELECT count(*), sum(principal)::text, sum(bonus)::text FROM loyalty_storedvalueentry")
        stored = cursor.fetchone()
        cursor.execute("SELECT template_key, status FROM automation_rule ORDER BY id")
        rules = cursor.fetchall()
        cursor.execute("SELECT nextval(pg_get_serial_sequence('members_member', 'id'))")
        next_id = cursor.fetchone()
    connection.set_schema_to_public()
    return {"members": members, "points": points, "stored": stored, "rules": rules, "next_id": next_id}


def test_backup_delete_restore_round_trips_a_merchant(shop: Tenant, tmp_path: Path) -> None:
    before = _books(shop)
    assert len(before["members"]) == 20 and before["rules"]
    archive = backups.tenant_export(shop, tmp_path / "shop.tar.gz")
    schema, domains = shop.schema_name, sorted(shop.domains.values_list("domain", flat=True))
    Tenant.objects.get(pk=shop.pk).delete(force_drop=True)
    assert not schema_exists(schema)
    restored = backups.tenant_import(archive)
    assert restored.schema_name == schema and sorted(restored.domains.values_list("domain", flat=True)) == domains
    after = _books(restored)
    before.pop("next_id"), after.pop("next_id")
    assert after == before
    # It answers again on its own domain.
    assert Client(HTTP_HOST=domains[0]).get("/login/").status_code == 200
    with pytest.raises(backups.BackupError, match="already exists"):
        backups.tenant_import(archive)


def test_a_closed_merchant_stops_answering_and_is_dropped_after_the_grace_period(shop: Tenant, tmp_path: Path) -> None:
    domain = shop.domains.first().domain  # type: ignore[union-attr]
    archive = backups.tenant_close(shop, export_to=tmp_path / "handover.tar.gz", reason="合同到期", grace_days=30)
    assert archive.exists() and archive.stat().st_size > 0
    from huiyuan.tenants.middleware import forget_routes

    forget_routes()
    assert Client(HTTP_HOST=domain).get("/login/").status_code in (403, 404, 410)
    assert backups.tenants_purge_closed(now=timezone.now() + timedelta(days=29)) == []
    assert schema_exists(shop.schema_name)
    assert backups.tenants_purge_closed(now=timezone.now() + timedelta(days=31)) == [shop.schema_name]
    assert not schema_exists(shop.schema_name)


def test_a_foreign_file_is_refused(tmp_path: Path) -> None:
    import tarfile

    bogus = tmp_path / "x.tar.gz"
    with tarfile.open(bogus, "w:gz") as archive:
        (tmp_path / "evil.txt").write_text("x")
        archive.add(tmp_path / "evil.txt", arcname="../evil.txt")
    with pytest.raises(backups.BackupError, match="not a Huiyuan"):
        backups.tenant_import(bogus)


def test_a_single_merchant_install_answers_on_its_fixed_host(committed: Any, settings: Any) -> None:
    from django.core.management import call_command

    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "vip.shop.test"]  # HUIYUAN_ALLOWED_HOSTS, as the chart sets

    from huiyuan.tenants.models import Domain

    call_command(
        "create_single_tenant",
        name="好味道私有部署",
        owner_email="it@shop.test",
        password=PASSWORD,
        host="vip.shop.test",
    )
    call_command("create_single_tenant", name="again", password=PASSWORD, host="vip.shop.test")  # re-run: no-op
    try:
        tenant = Domain.objects.get(domain="vip.shop.test").tenant
        assert tenant.name == "好味道私有部署"
        response = Client(HTTP_HOST="vip.shop.test").get("/login/")
        assert response.status_code == 200, (tenant.status, response.content[:300])
    finally:
        connection.set_schema_to_public()
        Tenant.objects.get(pk=tenant.pk).delete(force_drop=True)
