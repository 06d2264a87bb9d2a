"""Import jobs: upload, mapping, preview, start, and the Celery run that claims the job atomically,
keeps a heartbeat, and resumes or fails visibly when its worker is lost."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings as django_settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from huiyuan.platform.access import check_permission, sees_all_stores
from huiyuan.platform.audit import audit_record
from huiyuan.platform.errors import NotFound, ValidationFailed
from huiyuan.platform.spreadsheets import csv_bytes

from ..custom_fields import active_fields_by_key
from ..models import ImportJob
from ..tables import ENCODINGS, Table, TableError, read_head, read_table
from .common import MAX_UPLOAD_BYTES, PREVIEW_ROWS, cell_text
from .members import import_members, suggest_mapping, target_choices
from .orders import import_orders, order_target_choices, suggest_order_mapping

logger = logging.getLogger(__name__)


def _targets(kind: str) -> dict[str, str]:
    if kind == ImportJob.Kind.ORDERS:
        return order_target_choices()
    return target_choices(active_fields_by_key())


def import_upload(
    *, actor: Any, filename: str, content: bytes, kind: str = ImportJob.Kind.MEMBERS, encoding: str = ""
) -> ImportJob:
    check_permission(actor, "members.member.import")
    if kind not in ImportJob.Kind.values:
        raise ValidationFailed(fields={"kind": [_("Import members or order history.")]})
    if not content:
        raise ValidationFailed(fields={"file": [_("The file is empty.")]})
    if len(content) > MAX_UPLOAD_BYTES:
        raise ValidationFailed(fields={"file": [_("The file is larger than 50 MB; split it.")]})
    try:
        head = read_head(content, filename, encoding=encoding)
    except TableError as exc:
        raise ValidationFailed(fields={"file": [str(exc)]}) from exc
    mapping = _suggested_mapping(kind, head.headers)
    with transaction.atomic():
        job = ImportJob.objects.create(
            kind=kind,
            content=content,
            original_name=filename[:255],
            mapping=mapping,
            total_rows=head.total_rows,
            created_by=actor if getattr(actor, "pk", None) else None,
            options={"upsert_by": "phone" if "phone" in mapping.values() else "card_no", "encoding": head.encoding},
        )
        audit_record(actor=actor, action="members.import.upload", obj=job, changes={"file": filename})
    return job


def _suggested_mapping(kind: str, headers: list[str]) -> dict[str, str]:
    if kind == ImportJob.Kind.ORDERS:
        return suggest_order_mapping(headers)
    return suggest_mapping(headers, active_fields_by_key())


def _file_encoding(job: ImportJob) -> str:
    """The encoding the merchant saw in the preview (detected at upload, or chosen since)."""
    encoding = str(job.options.get("encoding") or "")
    return encoding if encoding in ENCODINGS else ""


def import_set_encoding(*, actor: Any, job_id: int, encoding: str) -> ImportJob:
    """Read the uploaded CSV again in the encoding the merchant chose (the detected one was wrong):
    headers, suggested mapping and row count follow."""
    job = import_access(actor=actor, job_id=job_id)
    if job.status != ImportJob.Status.UPLOADED:
        raise ValidationFailed(fields={"job": [_("This import has already been started.")]})
    if encoding not in ENCODINGS:
        raise ValidationFailed(fields={"encoding": [_("Choose one of the listed encodings.")]})
    content = bytes(ImportJob.objects.values_list("content", flat=True).get(pk=job.pk))
    try:
        head = read_head(content, job.original_name, encoding=encoding)
    except TableError as exc:
        raise ValidationFailed(fields={"encoding": [str(exc)]}) from exc
    job.options = {**job.options, "encoding": head.encoding}
    job.mapping = _suggested_mapping(job.kind, head.headers)
    job.total_rows = head.total_rows
    job.save(update_fields=["options", "mapping", "total_rows"])
    audit_record(actor=actor, action="members.import.encoding", obj=job, changes={"encoding": encoding})
    return job


def import_list(*, actor: Any) -> Any:
    """Imports this actor may see: all of them for HQ, their own uploads for store staff (a store
    manager must not read HQ's member files)."""
    check_permission(actor, "members.member.import")
    qs = ImportJob.objects.defer("content", "errors")
    return qs if sees_all_stores(actor) else qs.filter(created_by_id=getattr(actor, "pk", None))


def import_access(*, actor: Any, job_id: int) -> ImportJob:
    check_permission(actor, "members.member.import")
    job = ImportJob.objects.defer("content").filter(pk=job_id).first()
    if job is None or (not sees_all_stores(actor) and job.created_by_id != getattr(actor, "pk", None)):
        raise NotFound()
    return job


def import_preview(*, actor: Any, job_id: int) -> dict[str, Any]:
    job = import_access(actor=actor, job_id=job_id)
    content = bytes(ImportJob.objects.values_list("content", flat=True).get(pk=job.pk))
    head = read_head(content, job.original_name, encoding=_file_encoding(job))
    return {
        "headers": head.headers,
        "rows": [[cell_text(v) for v in row] for row in head.sample[:PREVIEW_ROWS]],
        "mapping": job.mapping,
        "targets": _targets(job.kind),
        "total_rows": job.total_rows,
        "encoding": head.encoding,
        "encodings": ENCODINGS,
    }


def import_start(
    *,
    actor: Any,
    job_id: int,
    mapping: dict[str, str],
    upsert_by: str = "phone",
    update_existing: bool = True,
    unknown_members: str = "create",
) -> ImportJob:
    job = import_access(actor=actor, job_id=job_id)
    if job.status != ImportJob.Status.UPLOADED:
        raise ValidationFailed(fields={"job": [_("This import has already been started.")]})
    targets = _targets(job.kind)
    errors: dict[str, list[str]] = {}
    chosen = [t for t in mapping.values() if t]
    if unknown := sorted({t for t in chosen if t not in targets}):
        errors["mapping"] = [_("Unknown fields: %(f)s") % {"f": ", ".join(unknown)}]
    if duplicated := sorted({t for t in chosen if chosen.count(t) > 1}):
        errors.setdefault("mapping", []).append(_("Mapped more than once: %(f)s") % {"f": ", ".join(duplicated)})
    if job.kind == ImportJob.Kind.ORDERS:
        options: dict[str, Any] = {"unknown_members": unknown_members}
        if unknown_members not in ("create", "report"):
            errors["unknown_members"] = [_("Create unknown members or report them.")]
        needed = {"order_no": _("order number"), "paid_at": _("time"), "store": _("store")}
        if missing := [str(label) for target, label in needed.items() if target not in chosen]:
            errors.setdefault("mapping", []).append(_("Map columns to: %(f)s") % {"f": ", ".join(missing)})
        if "paid_amount" not in chosen and "line_amount" not in chosen:
            errors.setdefault("mapping", []).append(_("Map a column to the amount."))
        if "phone" not in chosen and "card_no" not in chosen:
            errors.setdefault("mapping", []).append(_("Map a column to the member's phone or card number."))
    else:
        options = {"upsert_by": upsert_by, "update_existing": update_existing}
        if upsert_by not in ("phone", "card_no"):
            errors["upsert_by"] = [_("Match members by phone or by card number.")]
        elif upsert_by not in chosen:
            errors["upsert_by"] = [_("Map a column to the field used to match members.")]
        if "phone" not in chosen:
            errors.setdefault("mapping", []).append(_("Map a column to the phone number: every member needs one."))
    if errors:
        raise ValidationFailed(fields=errors)
    with transaction.atomic():
        job.mapping = {h: t for h, t in mapping.items() if t}
        job.options = {**options, "encoding": _file_encoding(job)}
        job.status = ImportJob.Status.QUEUED
        job.heartbeat_at = timezone.now()
        job.save(update_fields=["mapping", "options", "status", "heartbeat_at"])
        transaction.on_commit(lambda: _send_run(job.pk))
    return job


def _send_run(job_id: int) -> None:
    from ..tasks import run_import_task

    try:
        run_import_task.delay(job_id)
    except Exception as exc:  # noqa: BLE001 - the job shows as stalled and can be retried
        logger.warning("import %s queued but not sent (%s); it will show as stalled", job_id, exc)


def job_stalled(job: ImportJob, now: datetime | None = None) -> bool:
    """Queued or running, and no sign of life for ``HUIYUAN_JOB_STALE_SECONDS``."""
    if job.status not in (ImportJob.Status.QUEUED, ImportJob.Status.RUNNING) or job.heartbeat_at is None:
        return False
    return job.heartbeat_at < (now or timezone.now()) - timedelta(seconds=django_settings.HUIYUAN_JOB_STALE_SECONDS)


def import_retry(*, actor: Any, job_id: int) -> ImportJob:
    """Send a stalled import again; it resumes from the start (imports are idempotent)."""
    job = import_access(actor=actor, job_id=job_id)
    if not job_stalled(job):
        raise ValidationFailed(fields={"job": [_("Only an import that has stalled can be retried.")]})
    ImportJob.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now())
    _send_run(job.pk)
    job.refresh_from_db()
    return job


def import_claim(job_id: int) -> ImportJob | None:
    """Claim the job for this run, atomically: a queued one, or a stalled one whose worker died.
    None when another run holds it (a duplicate message) or it is finished. A job that has
    already stalled ``MAX_JOB_ATTEMPTS`` times is failed, visibly, instead of tried again."""
    now = timezone.now()
    stale = now - timedelta(seconds=django_settings.HUIYUAN_JOB_STALE_SECONDS)
    claimable = Q(status__in=[ImportJob.Status.QUEUED, ImportJob.Status.UPLOADED]) | Q(
        status=ImportJob.Status.RUNNING, heartbeat_at__lt=stale
    )
    claimed = ImportJob.objects.filter(claimable, pk=job_id).update(
        status=ImportJob.Status.RUNNING, started_at=now, heartbeat_at=now, attempts=F("attempts") + 1
    )
    if not claimed:
        return None
    job = ImportJob.objects.get(pk=job_id)
    if job.attempts > MAX_JOB_ATTEMPTS:
        ImportJob.objects.filter(pk=job.pk).update(
            status=ImportJob.Status.FAILED,
            message=_("The import stopped %(n)d times without finishing (its worker was lost); upload it again.")
            % {"n": job.attempts - 1},
            finished_at=now,
        )
        return None
    return job


MAX_JOB_ATTEMPTS = 3


def _order_import_message(result: Any) -> str:
    message = _("%(n)d members created, %(s).2f s") % {"n": result.members_created, "s": result.seconds}
    if result.ignored_columns:
        message += "; " + _("columns not imported (an order has no such field): %(c)s") % {
            "c": ", ".join(result.ignored_columns)
        }
    return message


def _progress(job_id: int) -> Any:
    def report(done: int) -> None:
        ImportJob.objects.filter(pk=job_id).update(processed_rows=done, heartbeat_at=timezone.now())

    return report


def import_run(job_id: int) -> ImportJob:
    claimed = import_claim(job_id)
    if claimed is None:
        return ImportJob.objects.get(pk=job_id)  # another run holds it, or it is finished
    job = claimed
    from huiyuan.platform.models import User

    actor = User.objects.filter(pk=job.created_by_id).first() if job.created_by_id else None
    try:
        table = read_table(bytes(job.content), job.original_name, encoding=_file_encoding(job))
        if job.kind == ImportJob.Kind.ORDERS:
            return _run_order_import(job, actor, table)
        outcome = import_members(
            actor=actor,
            table=table,
            mapping=job.mapping,
            upsert_by=job.options.get("upsert_by", "phone"),
            update_existing=job.options.get("update_existing", True),
            source=f"import:{job.pk}",
            progress=_progress(job.pk),
        )
    except Exception as exc:
        ImportJob.objects.filter(pk=job.pk).update(
            status=ImportJob.Status.FAILED, message=f"{type(exc).__name__}: {exc}"[:2000], finished_at=timezone.now()
        )
        raise
    _refresh_pinyin_soon()  # the names COPY just wrote, findable by pinyin a few seconds later
    ImportJob.objects.filter(pk=job.pk).update(
        status=ImportJob.Status.DONE,
        processed_rows=job.total_rows,
        created_count=outcome.created,
        updated_count=outcome.updated,
        unchanged_count=outcome.unchanged,
        error_count=len(outcome.errors),
        errors=[e.as_dict() for e in outcome.errors],
        message=", ".join(f"{stage} {seconds:.2f}s" for stage, seconds in outcome.timings.items()),
        finished_at=timezone.now(),
    )
    job.refresh_from_db()
    return job


def _run_order_import(job: ImportJob, actor: Any, table: Table) -> ImportJob:
    result = import_orders(
        actor=actor,
        table=table,
        mapping=job.mapping,
        source=f"import:{job.pk}",
        unknown_members=job.options.get("unknown_members", "create"),
        progress=_progress(job.pk),
    )
    _refresh_pinyin_soon()  # members the orders created
    ImportJob.objects.filter(pk=job.pk).update(
        status=ImportJob.Status.DONE,
        processed_rows=job.total_rows,
        created_count=result.created,
        unchanged_count=result.skipped,
        error_count=len(result.errors),
        errors=[e.as_dict() for e in result.errors],
        message=_order_import_message(result),
        finished_at=timezone.now(),
    )
    job.refresh_from_db()
    return job


def error_report_csv(job: ImportJob) -> bytes:
    """The rows that were not imported, with the reason, as CSV Excel opens correctly (UTF-8 BOM)."""
    rows = ([e["row"], e["column"], e["value"], e["reason"]] for e in job.errors)
    return csv_bytes([_("Row"), _("Column"), _("Value"), _("Reason")], rows)[0]


def _refresh_pinyin_soon() -> None:
    """Pinyin keys of a big import take seconds to compute: a task of their own, not the import's time."""
    from django.db import transaction

    from ..tasks import pinyin_refresh_task

    def send() -> None:
        try:
            pinyin_refresh_task.delay()
        except Exception:  # noqa: BLE001 - the nightly run computes them anyway
            logger.warning("imports: could not queue the pinyin refresh; the nightly run will do it")

    transaction.on_commit(send)
