"""Jobs that finish: a job is claimed atomically; a redelivered task resumes a job whose worker
died, leaves alone one that is alive, and fails one that keeps dying, visibly; a stalled job can
be retried; order imports keep lines and report progress."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import Any

from django.utils import timezone

from huiyuan.members.imports import (
    MAX_JOB_ATTEMPTS,
    import_orders,
    import_run,
    import_start,
    import_upload,
    suggest_order_mapping,
)
from huiyuan.members.models import ImportJob, Member, Order, OrderLine
from huiyuan.members.tables import read_table

from .conftest import World, api


def csv_bytes(rows: list[list[Any]]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    return buffer.getvalue().encode("utf-8-sig")


def queued_member_import(world: World) -> ImportJob:
    content = csv_bytes([["手机号", "姓名"], ["13700000001", "甲"], ["13700000002", "乙"]])
    job = import_upload(actor=world.hq, filename="m.csv", content=content)
    return import_start(actor=world.hq, job_id=job.pk, mapping={"手机号": "phone", "姓名": "name"})


def test_a_duplicate_message_leaves_a_live_run_alone(in_alpha: World) -> None:
    job = queued_member_import(in_alpha)
    ImportJob.objects.filter(pk=job.pk).update(status=ImportJob.Status.RUNNING, heartbeat_at=timezone.now())
    assert import_run(job.pk).status == ImportJob.Status.RUNNING
    assert not Member.objects.filter(phone="+8613700000001").exists()


def test_a_redelivered_task_resumes_a_job_whose_worker_died(in_alpha: World) -> None:
    job = queued_member_import(in_alpha)
    long_ago = timezone.now() - timedelta(hours=1)
    ImportJob.objects.filter(pk=job.pk).update(status=ImportJob.Status.RUNNING, heartbeat_at=long_ago, attempts=1)
    finished = import_run(job.pk)
    assert finished.status == ImportJob.Status.DONE and finished.attempts == 2 and finished.created_count == 2


def test_a_job_that_keeps_dying_fails_visibly(in_alpha: World) -> None:
    job = queued_member_import(in_alpha)
    long_ago = timezone.now() - timedelta(hours=1)
    ImportJob.objects.filter(pk=job.pk).update(
        status=ImportJob.Status.RUNNING, heartbeat_at=long_ago, attempts=MAX_JOB_ATTEMPTS
    )
    failed = import_run(job.pk)
    assert failed.status == ImportJob.Status.FAILED and "3" in failed.message
    assert not Member.objects.filter(phone="+8613700000001").exists()


def test_a_stalled_import_shows_as_stalled_and_can_be_retried(alpha: World, monkeypatch: Any) -> None:
    from django_tenants.utils import tenant_context

    from huiyuan.members import tasks

    sent: list[int] = []
    monkeypatch.setattr(tasks.run_import_task, "delay", lambda job_id: sent.append(job_id))
    with tenant_context(alpha.tenant):
        job = queued_member_import(alpha)
        ImportJob.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timedelta(hours=1))
    client = api(alpha, "hq")
    assert client.get(f"/api/v1/imports/{job.pk}").json()["stalled"] is True
    retried = client.post(f"/api/v1/imports/{job.pk}/retry")
    assert retried.status_code == 202 and retried.json()["stalled"] is False and sent == [job.pk]
    again = client.post(f"/api/v1/imports/{job.pk}/retry")
    assert again.status_code == 400  # not stalled any more


def test_order_import_keeps_lines_mapped_by_quantity_alone_and_reports_progress(in_alpha: World) -> None:
    rows = [["订单号", "手机号", "门店", "时间", "金额", "数量"]]
    rows += [[f"Q-{n}", "13800000001", "A001", "2025-01-02 10:00", "30", "2"] for n in range(3)]
    table = read_table(csv_bytes(rows), "orders.csv")
    seen: list[int] = []
    outcome = import_orders(
        actor=in_alpha.hq, table=table, mapping=suggest_order_mapping(table.headers), progress=seen.append
    )
    assert outcome.created == 3 and not outcome.errors and seen
    line = OrderLine.objects.get(order__order_no="Q-0")
    assert line.quantity == 2 and line.amount == 30
    assert Order.objects.get(order_no="Q-0").request_hash  # imported orders are hashed like the rest


def test_order_import_names_mapped_columns_it_cannot_store(in_alpha: World) -> None:
    rows = [
        ["订单号", "手机号", "门店", "时间", "金额", "备注"],
        ["N-1", "13800000001", "A001", "2025-01-02", "9", "x"],
    ]
    table = read_table(csv_bytes(rows), "orders.csv")
    mapping = {**suggest_order_mapping(table.headers), "备注": "remark"}
    outcome = import_orders(actor=in_alpha.hq, table=table, mapping=mapping)
    assert outcome.created == 1 and outcome.ignored_columns == ["备注"]
