"""The demo merchant works on first use: it takes new members (console, API, import) right after
it is created, and its data looks like a real merchant's."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

from django.db.models import Count, Min
from django.utils import timezone
from django_tenants.utils import tenant_context
from rest_framework.test import APIClient

from huiyuan.members.imports import import_run, import_start, import_upload
from huiyuan.members.models import ImportJob, Member, Order, OrderLine
from huiyuan.platform.models import User
from huiyuan.tenants.demo import CITIES, DEMO_PASSWORD, create_demo

from .conftest import World


def test_the_demo_takes_new_members_and_imports_right_after_it_is_created(alpha: World) -> None:
    tenant = create_demo(members=60)
    with tenant_context(tenant):
        owner = User.objects.get(role="owner")
        host = tenant.domains.get().domain
    client = APIClient(HTTP_HOST=host)
    login = client.post("/login/", {"username": "hq", "password": DEMO_PASSWORD}, format="multipart")
    assert login.status_code == 302  # the password README prints
    created = client.post("/api/v1/members", {"phone": "13912345678", "name": "新会员"}, format="json")
    assert created.status_code == 201, created.json()
    console = client.post("/members/new/", {"phone": "13912345679", "name": "店里登记"}, format="multipart")
    assert console.status_code == 302, console.content.decode()[-3000:]
    with tenant_context(tenant):
        assert Member.objects.filter(phone="+8613912345679").exists()
        buffer = io.StringIO()
        csv.writer(buffer).writerows([["手机号", "姓名"], ["13912345680", "导入甲"], ["13912345681", "导入乙"]])
        job = import_upload(actor=owner, filename="m.csv", content=buffer.getvalue().encode())
        import_start(actor=owner, job_id=job.pk, mapping={"手机号": "phone", "姓名": "name"})
        job = import_run(job.pk)
        assert job.status == ImportJob.Status.DONE and job.created_count == 2 and job.error_count == 0
        numbers = list(Member.objects.values_list("card_no", flat=True))
        assert len(numbers) == len(set(numbers)) == 64


def test_demo_data_looks_real(alpha: World) -> None:
    tenant = create_demo(members=200)
    provinces = {city: province for province, city, _ in CITIES}
    with tenant_context(tenant):
        members = Member.objects.all()
        assert all(provinces[m.city] == m.province for m in members)
        joined = sorted(m.created_at for m in members)
        assert joined[-1] - joined[0] > timedelta(days=365)  # over two years, not all "today"
        assert joined[0] > timezone.now() - timedelta(days=731)
        first_order = Order.objects.values("member_id").annotate(first=Min("paid_at"))
        by_member = {m.pk: m.created_at for m in members}
        assert all(row["first"] >= by_member[row["member_id"]] for row in first_order)
        assert not Order.objects.annotate(n=Count("lines")).filter(n=0).exists()
        assert OrderLine.objects.filter(category="热菜").exists()
        assert Order.objects.exclude(request_hash="").count() == Order.objects.count()
