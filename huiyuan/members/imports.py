"""Member import from CSV / Excel: upload, column mapping (suggested from Chinese or English
headers), preview, then a Celery run that keeps every valid row and reports every invalid one
(row, column, value, reason). Re-running the same file creates no duplicates: rows are matched to
existing members by phone or by card number, as the user chooses.

The database stage is set-based: new rows go through ``COPY`` into a temporary table and one
``INSERT … ON CONFLICT DO NOTHING``; changed rows through ``COPY`` and one ``UPDATE … FROM``.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import re
import time
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from django.conf import settings as django_settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from huiyuan.platform.access import actor_store_ids, check_permission, sees_all_stores
from huiyuan.platform.audit import audit_record
from huiyuan.platform.errors import NotFound, ValidationFailed
from huiyuan.platform.events.services import event_record
from huiyuan.platform.phones import InvalidPhone, normalize_phone
from huiyuan.platform.tenancy import tenant_timezone, tenant_today

from .custom_fields import active_fields_by_key
from .fields import registry
from .fields.base import FieldValueError, is_blank
from .models import CustomField, ImportJob, Member, MemberHistory, Store
from .parsing import parse_bool, parse_date, parse_datetime
from .services import parse_gender
from .tables import Table, TableError, read_head, read_table

logger = logging.getLogger(__name__)

MAX_UPLOAD_BYTES = 50 * 1024 * 1024
PREVIEW_ROWS = 10
IGNORE = ""

CORE_TARGETS: dict[str, tuple[str, ...]] = {
    "phone": (
        "手机",
        "手机号",
        "手机号码",
        "电话",
        "电话号码",
        "联系电话",
        "联系方式",
        "移动电话",
        "mobile",
        "phone",
        "phonenumber",
        "tel",
        "telephone",
        "cellphone",
        "mobilephone",
    ),
    "name": (
        "姓名",
        "名字",
        "会员姓名",
        "客户姓名",
        "会员名称",
        "客户名称",
        "name",
        "fullname",
        "membername",
        "customername",
    ),
    "gender": ("性别", "gender", "sex"),
    "birthday": ("生日", "出生日期", "出生年月日", "出生年月", "birthday", "birthdate", "dateofbirth", "dob"),
    "province": ("省", "省份", "所在省份", "province", "state"),
    "city": ("城市", "市", "所在城市", "city"),
    "home_store": (
        "门店",
        "所属门店",
        "开卡门店",
        "注册门店",
        "门店编码",
        "门店代码",
        "门店名称",
        "store",
        "storecode",
        "homestore",
        "shop",
    ),
    "card_no": (
        "卡号",
        "会员卡号",
        "会员号",
        "会员编号",
        "会员卡",
        "card",
        "cardno",
        "cardnumber",
        "memberno",
        "membershipno",
    ),
    "email": ("邮箱", "电子邮箱", "电子邮件", "email", "e-mail", "mail"),
    "created_at": (
        "注册时间",
        "入会时间",
        "开卡时间",
        "注册日期",
        "入会日期",
        "开卡日期",
        "joined",
        "joindate",
        "createdat",
        "registered",
        "registrationdate",
        "signupdate",
    ),
    "consent_sms": ("短信", "接收短信", "短信订阅", "允许短信", "sms", "smsconsent"),
    "consent_wechat": ("微信", "接收微信", "微信订阅", "wechat", "wechatconsent"),
    "consent_email": ("接收邮件", "邮件订阅", "允许邮件", "emailconsent"),
}
# The member columns an import can set (and compares against the current values).
COLUMN_ORDER = (
    "phone",
    "card_no",
    "name",
    "gender",
    "birthday",
    "province",
    "city",
    "home_store_id",
    "email",
    "created_at",
    "consent_sms",
    "consent_wechat",
    "consent_email",
    "custom_fields",
)


def norm_header(text: str) -> str:
    text = unicodedata.normalize("NFKC", str(text)).lower()
    return re.sub(r"[\s_\-:：()（）\[\]【】*#.。/]", "", text)


def target_choices(fields: dict[str, CustomField]) -> dict[str, str]:
    """Every target a column can map to, with its label for the mapping page."""
    labels = {
        "phone": _("Phone"),
        "name": _("Name"),
        "gender": _("Gender"),
        "birthday": _("Birthday"),
        "province": _("Province"),
        "city": _("City"),
        "home_store": _("Home store (code or name)"),
        "card_no": _("Card number"),
        "email": _("E-mail"),
        "created_at": _("Joined at"),
        "consent_sms": _("SMS consent"),
        "consent_wechat": _("WeChat consent"),
        "consent_email": _("E-mail consent"),
    }
    labels.update({f"custom.{key}": f.label for key, f in fields.items()})
    return labels


def _targets(kind: str) -> dict[str, str]:
    if kind == ImportJob.Kind.ORDERS:
        from .order_imports import order_target_choices

        return order_target_choices()
    return target_choices(active_fields_by_key())


def suggest_mapping(headers: list[str], fields: dict[str, CustomField]) -> dict[str, str]:
    aliases: dict[str, str] = {}
    for target, names in CORE_TARGETS.items():
        for name in (target, *names):
            aliases.setdefault(norm_header(name), target)
    for key, custom in fields.items():
        aliases.setdefault(norm_header(custom.label), f"custom.{key}")
        aliases.setdefault(norm_header(key), f"custom.{key}")
    mapping: dict[str, str] = {}
    used: set[str] = set()
    for header in headers:
        target = aliases.get(norm_header(header), IGNORE)
        if target and target in used:
            target = IGNORE  # the first column with a header wins
        used.add(target)
        mapping[header] = target
    return mapping


# ---- upload, preview, start ---------------------------------------------------------------------
def import_upload(*, actor: Any, filename: str, content: bytes, kind: str = ImportJob.Kind.MEMBERS) -> ImportJob:
    check_permission(actor, "members.member.import")
    if kind not in ImportJob.Kind.values:
        raise ValidationFailed(fields={"kind": [_("Import members or order history.")]})
    if not content:
        raise ValidationFailed(fields={"file": [_("The file is empty.")]})
    if len(content) > MAX_UPLOAD_BYTES:
        raise ValidationFailed(fields={"file": [_("The file is larger than 50 MB; split it.")]})
    try:
        head = read_head(content, filename)
    except TableError as exc:
        raise ValidationFailed(fields={"file": [str(exc)]}) from exc
    if kind == ImportJob.Kind.ORDERS:
        from .order_imports import suggest_order_mapping

        mapping = suggest_order_mapping(head.headers)
    else:
        mapping = suggest_mapping(head.headers, active_fields_by_key())
    with transaction.atomic():
        job = ImportJob.objects.create(
            kind=kind,
            content=content,
            original_name=filename[:255],
            mapping=mapping,
            total_rows=head.total_rows,
            created_by=actor if getattr(actor, "pk", None) else None,
            options={"upsert_by": "phone" if "phone" in mapping.values() else "card_no"},
        )
        audit_record(actor=actor, action="members.import.upload", obj=job, changes={"file": filename})
    return job


def import_access(*, actor: Any, job_id: int) -> ImportJob:
    check_permission(actor, "members.member.import")
    job = ImportJob.objects.defer("content").filter(pk=job_id).first()
    if job is None or (not sees_all_stores(actor) and job.created_by_id != getattr(actor, "pk", None)):
        raise NotFound()
    return job


def import_preview(*, actor: Any, job_id: int) -> dict[str, Any]:
    job = import_access(actor=actor, job_id=job_id)
    head = read_head(bytes(ImportJob.objects.values_list("content", flat=True).get(pk=job.pk)), job.original_name)
    return {
        "headers": head.headers,
        "rows": [[cell_text(v) for v in row] for row in head.sample[:PREVIEW_ROWS]],
        "mapping": job.mapping,
        "targets": _targets(job.kind),
        "total_rows": job.total_rows,
        "encoding": head.encoding,
    }


def cell_text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime | date):
        return value.isoformat()
    return "" if value is None else str(value)


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
        job.options = options
        job.status = ImportJob.Status.QUEUED
        job.heartbeat_at = timezone.now()
        job.save(update_fields=["mapping", "options", "status", "heartbeat_at"])
        transaction.on_commit(lambda: _send_run(job.pk))
    return job


def _send_run(job_id: int) -> None:
    from .tasks import run_import_task

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


# ---- the run ------------------------------------------------------------------------------------
@dataclass
class RowError:
    row: int
    column: str
    value: str
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {"row": self.row, "column": self.column, "value": self.value, "reason": self.reason}


@dataclass
class PreparedRow:
    values: dict[str, Any]
    custom: dict[str, Any]
    row: int


@dataclass
class ImportOutcome:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[RowError] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage


def import_run(job_id: int) -> ImportJob:
    claimed = import_claim(job_id)
    if claimed is None:
        return ImportJob.objects.get(pk=job_id)  # another run holds it, or it is finished
    job = claimed
    from huiyuan.platform.models import User

    actor = User.objects.filter(pk=job.created_by_id).first() if job.created_by_id else None
    try:
        table = read_table(bytes(job.content), job.original_name)
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
    from .order_imports import import_orders

    result = import_orders(
        actor=actor,
        table=table,
        mapping=job.mapping,
        source=f"import:{job.pk}",
        unknown_members=job.options.get("unknown_members", "create"),
        progress=_progress(job.pk),
    )
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


def import_members(
    *,
    actor: Any,
    table: Table,
    mapping: dict[str, str],
    upsert_by: str = "phone",
    update_existing: bool = True,
    source: str = "import",
    progress: Callable[[int], Any] | None = None,
) -> ImportOutcome:
    """Validate every row, then write the valid ones in one transaction. Pure function of its
    inputs and the database, so the benchmark and the Celery task run exactly this."""
    check_permission(actor, "members.member.import")
    started = time.perf_counter()
    outcome = ImportOutcome()
    fields = active_fields_by_key()
    column_of = {target: table.headers.index(h) for h, target in mapping.items() if target and h in table.headers}
    cleaners = _cleaners(actor, fields)
    # Per column, once: where to put the value, how to clean it, whether it may be empty.
    plan = []
    for target, index in column_of.items():
        custom_key = target[7:] if target.startswith("custom.") else None
        clean = cleaners["custom"] if custom_key else cleaners[target]
        plan.append((index, table.headers[index], custom_key, clean, target in ("phone", upsert_by)))
    prepared: list[PreparedRow] = []
    seen: dict[str, int] = {}
    key_column = column_of[upsert_by]
    width = len(table.headers)
    for offset, row in enumerate(table.rows):
        if progress and offset and offset % 10_000 == 0:
            progress(offset // 2)  # validation is about half of the work
        if not row:
            continue
        number = table.first_row + offset
        values: dict[str, Any] = {}
        custom: dict[str, Any] = {}
        row_errors: list[RowError] = []
        for index, header, custom_key, clean, required in plan:
            raw = row[index] if index < width else ""
            if raw is None or raw == "" or is_blank(raw):
                if required:
                    row_errors.append(RowError(number, header, "", _("Required.")))
                continue
            try:
                if custom_key is None:
                    name, value = clean(raw)
                    values[name] = value
                else:
                    custom[custom_key] = clean(custom_key, raw)
            except (ValueError, FieldValueError, InvalidPhone) as exc:
                row_errors.append(RowError(number, header, cell_text(raw), str(exc) or _("Invalid value.")))
        if not row_errors:
            key = values[upsert_by]
            first = seen.setdefault(key, number)
            if first != number:
                row_errors.append(
                    RowError(
                        number,
                        table.headers[key_column],
                        str(key),
                        _("Same member as row %(n)d; only the first is imported.") % {"n": first},
                    )
                )
        if row_errors:
            outcome.errors.extend(row_errors)
        else:
            prepared.append(PreparedRow(values=values, custom=custom, row=number))
    if progress:
        progress(len(table.rows) // 2)
    table.rows.clear()  # validated: free the raw cells before the write builds its own rows
    validated = time.perf_counter()
    outcome.timings["validate"] = validated - started
    with transaction.atomic():
        _write(actor, prepared, fields, upsert_by, update_existing, source, outcome)
        audit_record(
            actor=actor,
            action="members.member.import",
            object_type="members.importjob",
            changes={"created": outcome.created, "updated": outcome.updated, "errors": len(outcome.errors)},
        )
        if outcome.created or outcome.updated:
            event_record(
                "member.imported",
                {"created": outcome.created, "updated": outcome.updated, "source": source},
                aggregate_type="import",
                aggregate_id=source,
            )
    outcome.timings["database"] = time.perf_counter() - validated
    outcome.errors.sort(key=lambda e: (e.row, e.column))
    return outcome


def _cleaners(actor: Any, fields: dict[str, CustomField]) -> dict[str, Callable[..., Any]]:
    tz = tenant_timezone()
    today = tenant_today()
    now = timezone.now()
    stores_by_ref: dict[str, int] = {}
    for pk, code, name in Store.objects.values_list("pk", "code", "name"):
        stores_by_ref.setdefault(name, pk)
        stores_by_ref[code.lower()] = pk
    allowed_stores = None if sees_all_stores(actor) else actor_store_ids(actor)

    def phone(raw: Any) -> tuple[str, Any]:
        try:
            return "phone", normalize_phone(raw)
        except InvalidPhone as exc:
            raise ValueError(_("Not a valid mobile number.")) from exc

    def text(name: str, limit: int) -> Callable[[Any], tuple[str, Any]]:
        def clean(raw: Any) -> tuple[str, Any]:
            value = " ".join(cell_text(raw).split())
            if len(value) > limit:
                raise ValueError(_("At most %(n)d characters.") % {"n": limit})
            return name, value

        return clean

    def gender(raw: Any) -> tuple[str, Any]:
        try:
            return "gender", parse_gender(raw)
        except ValueError as exc:
            raise ValueError(_("Use male / female (男 / 女).")) from exc

    def birthday(raw: Any) -> tuple[str, Any]:
        try:
            value = parse_date(raw)
        except ValueError as exc:
            raise ValueError(_("Not a date; use e.g. 1990-05-20.")) from exc
        if not date(1900, 1, 1) <= value <= today:
            raise ValueError(_("The birthday must be between 1900 and today."))
        return "birthday", value

    def created_at(raw: Any) -> tuple[str, Any]:
        try:
            value = parse_datetime(raw, tz)
        except ValueError as exc:
            raise ValueError(_("Not a date; use e.g. 2023-01-31 or 2023-01-31 14:00.")) from exc
        if value > now:
            raise ValueError(_("The date is in the future."))
        return "created_at", value

    def home_store(raw: Any) -> tuple[str, Any]:
        text_value = cell_text(raw).strip()
        pk = stores_by_ref.get(text_value.lower()) or stores_by_ref.get(text_value)
        if pk is None:
            raise ValueError(_("No store with this code or name."))
        if allowed_stores is not None and pk not in allowed_stores:
            raise ValueError(_("Not one of your stores."))
        return "home_store_id", pk

    def email(raw: Any) -> tuple[str, Any]:
        value = registry.get("email").clean(raw, CustomField(key="email", config={}))
        return "email", value

    def consent(name: str) -> Callable[[Any], tuple[str, Any]]:
        def clean(raw: Any) -> tuple[str, Any]:
            try:
                return name, parse_bool(raw)
            except ValueError as exc:
                raise ValueError(_("Enter yes or no (是 / 否).")) from exc

        return clean

    def custom(key: str, raw: Any) -> Any:
        definition = fields[key]
        return registry.get(definition.field_type).clean(raw, definition)

    return {
        "phone": phone,
        "name": text("name", 100),
        "province": text("province", 32),
        "city": text("city", 32),
        "card_no": text("card_no", 32),
        "gender": gender,
        "birthday": birthday,
        "created_at": created_at,
        "home_store": home_store,
        "email": email,
        "consent_sms": consent("consent_sms"),
        "consent_wechat": consent("consent_wechat"),
        "consent_email": consent("consent_email"),
        "custom": custom,
    }


def _write(
    actor: Any,
    prepared: list[PreparedRow],
    fields: dict[str, CustomField],
    upsert_by: str,
    update_existing: bool,
    source: str,
    outcome: ImportOutcome,
) -> None:
    started = time.perf_counter()
    keys = [p.values[upsert_by] for p in prepared]
    existing: dict[str, dict[str, Any]] = {}
    columns = ["id", *COLUMN_ORDER]
    table = connection.ops.quote_name(Member._meta.db_table)
    with connection.cursor() as cursor:
        # One array parameter instead of a 100,000-item IN list: compiling that costs seconds.
        cursor.execute(
            f"SELECT {', '.join(columns)} FROM {table} WHERE {upsert_by} = ANY(%s)",  # noqa: S608
            [keys],
        )
        for values in cursor.fetchall():
            row = dict(zip(columns, values, strict=True))
            if isinstance(row["custom_fields"], str):  # Django leaves jsonb undecoded on raw cursors
                row["custom_fields"] = json.loads(row["custom_fields"])
            existing[row[upsert_by]] = row
        # Phones (and cards) taken by *another* member than the one a row matches.
        other_key = "card_no" if upsert_by == "phone" else "phone"
        other_values = [p.values[other_key] for p in prepared if other_key in p.values]
        cursor.execute(
            f"SELECT {other_key}, {upsert_by} FROM {table} WHERE {other_key} = ANY(%s)",  # noqa: S608
            [other_values],
        )
        taken = dict(cursor.fetchall())
    required = [key for key, f in fields.items() if f.required]

    creates: list[PreparedRow] = []
    updates: list[tuple[int, dict[str, Any], dict[str, Any]]] = []
    for item in prepared:
        current = existing.get(item.values[upsert_by])
        owner = taken.get(item.values.get(other_key)) if other_key in item.values else None
        if owner is not None and owner != item.values[upsert_by]:
            label = _("phone") if other_key == "phone" else _("card number")
            outcome.errors.append(
                RowError(
                    item.row,
                    other_key,
                    str(item.values[other_key]),
                    _("This %(what)s belongs to another member.") % {"what": label},
                )
            )
            continue
        if current is None:
            missing = [fields[k].label for k in required if k not in item.custom]
            if missing:
                outcome.errors.append(RowError(item.row, ", ".join(missing), "", _("Required for new members.")))
                continue
            creates.append(item)
            continue
        if not update_existing:
            outcome.unchanged += 1
            continue
        changes: dict[str, Any] = {}
        for name, value in item.values.items():
            if current[name] != value:
                changes[name] = [current[name], value]
        merged_custom = {**current["custom_fields"], **item.custom}
        if merged_custom != current["custom_fields"]:
            changes["custom_fields"] = {
                k: [current["custom_fields"].get(k), v]
                for k, v in item.custom.items()
                if current["custom_fields"].get(k) != v
            }
        if changes:
            updates.append((current["id"], {**item.values, "custom_fields": merged_custom}, changes))
        else:
            outcome.unchanged += 1
    outcome.timings["match"] = time.perf_counter() - started
    created = insert_new_members(creates, outcome)
    _apply_updates(updates)
    outcome.updated = len(updates)
    outcome.timings["write"] = time.perf_counter() - started - outcome.timings["match"]
    _history(actor, source, created, updates)


def _json(value: Any) -> str:
    if not value:
        return "{}"
    return json.dumps(value, ensure_ascii=False, default=str)


NEW_MEMBER_COLUMNS = (
    "id, phone, card_no, name, gender, birthday, province, city, home_store_id, email, created_at, consent_sms, "
    "consent_wechat, consent_email, custom_fields, channel, status, updated_at, order_count, total_spend, "
    "r_score, f_score, m_score, lifecycle"
)


def insert_new_members(creates: list[PreparedRow], outcome: ImportOutcome) -> list[tuple[int, PreparedRow]]:
    """Insert new members; returns (id, row) for each one inserted.

    Ids and card numbers are reserved from their sequences in one statement, then the rows are
    COPYed straight into the member table. If someone created one of these phones or cards since
    we looked (a unique violation), the batch falls back to ``INSERT … ON CONFLICT DO NOTHING``
    and reports the rows that lost the race."""
    if not creates:
        return []
    table = connection.ops.quote_name(Member._meta.db_table)
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT nextval(pg_get_serial_sequence('{Member._meta.db_table}', 'id')), "  # noqa: S608
            "nextval('member_card_no_seq') FROM generate_series(1, %s)",
            [len(creates)],
        )
        reserved = cursor.fetchall()

        def rows() -> Iterator[tuple[Any, ...]]:  # generated twice at most, never held in memory
            for item, (pk, number) in zip(creates, reserved, strict=True):
                v = item.values
                yield (
                    pk,
                    v["phone"],
                    v.get("card_no") or f"8{number:011d}",
                    v.get("name", ""),
                    v.get("gender", "unknown"),
                    v.get("birthday"),
                    v.get("province", ""),
                    v.get("city", ""),
                    v.get("home_store_id"),
                    v.get("email", ""),
                    v.get("created_at", now),
                    v.get("consent_sms", False),
                    v.get("consent_wechat", False),
                    v.get("consent_email", False),
                    _json(item.custom),
                    Member.Channel.IMPORT,
                    Member.Status.ACTIVE,
                    now,
                    0,
                    0,
                    0,
                    0,
                    0,
                    "prospect",
                )

        try:
            with transaction.atomic(), cursor.cursor.copy(f"COPY {table} ({NEW_MEMBER_COLUMNS}) FROM STDIN") as copy:
                for row in rows():
                    copy.write_row(row)
        except IntegrityError:
            inserted = _insert_skipping_conflicts(cursor, table, rows())
        else:
            inserted = {pk for pk, _number in reserved}
    created: list[tuple[int, PreparedRow]] = []
    for item, (pk, _number) in zip(creates, reserved, strict=True):
        if pk in inserted:
            created.append((pk, item))
        else:
            outcome.errors.append(
                RowError(
                    item.row,
                    "phone",
                    item.values["phone"],
                    _("Another member took this phone or card number meanwhile; run the import again."),
                )
            )
    outcome.created = len(created)
    return created


def _insert_skipping_conflicts(cursor: Any, table: str, rows: Iterator[tuple[Any, ...]]) -> set[int]:
    cursor.execute("DROP TABLE IF EXISTS import_new")
    # CREATE TABLE AS copies column types but no NOT NULL or defaults: the rows load as they are.
    cursor.execute(
        f"CREATE TEMP TABLE import_new ON COMMIT DROP AS SELECT {NEW_MEMBER_COLUMNS} FROM {table} WITH NO DATA"  # noqa: S608
    )
    with cursor.cursor.copy(f"COPY import_new ({NEW_MEMBER_COLUMNS}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
    cursor.execute(
        f"INSERT INTO {table} ({NEW_MEMBER_COLUMNS}) SELECT {NEW_MEMBER_COLUMNS} FROM import_new "  # noqa: S608
        "ORDER BY id ON CONFLICT DO NOTHING RETURNING id"
    )
    return {pk for (pk,) in cursor.fetchall()}


def _apply_updates(updates: list[tuple[int, dict[str, Any], dict[str, Any]]]) -> None:
    if not updates:
        return
    table = Member._meta.db_table
    names = sorted({name for _pk, values, _changes in updates for name in values})
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS import_upd")
        cursor.execute(
            f"CREATE TEMP TABLE import_upd ON COMMIT DROP AS SELECT id, {', '.join(names)}, "  # noqa: S608
            f"ARRAY[]::text[] AS touched FROM {table} WITH NO DATA"
        )
        with cursor.cursor.copy(f"COPY import_upd (id, {', '.join(names)}, touched) FROM STDIN") as copy:
            for pk, values, _changes in updates:
                copy.write_row(
                    (pk, *[_json(values[n]) if n == "custom_fields" else values.get(n) for n in names], list(values))
                )
        assignments = ", ".join(f"{n} = CASE WHEN '{n}' = ANY(u.touched) THEN u.{n} ELSE m.{n} END" for n in names)
        cursor.execute(
            f"UPDATE {table} AS m SET {assignments}, updated_at = now() FROM import_upd u WHERE m.id = u.id"  # noqa: S608
        )


def _history(
    actor: Any,
    source: str,
    created: list[tuple[int, PreparedRow]],
    updates: list[tuple[int, dict[str, Any], dict[str, Any]]],
) -> None:
    user_id = actor.pk if getattr(actor, "pk", None) else None
    label = str(actor)[:150] if actor is not None else "system"
    now = timezone.now()
    with (
        connection.cursor() as cursor,
        cursor.cursor.copy(
            f"COPY {MemberHistory._meta.db_table} "
            "(member_id, action, changes, actor_id, actor_label, source, created_at) FROM STDIN"
        ) as copy,
    ):
        for pk, item in created:
            # The imported values are the member's row itself; history notes where they came from.
            copy.write_row((pk, MemberHistory.Action.IMPORTED, f'{{"row": {item.row}}}', user_id, label, source, now))
        for pk, _values, changes in updates:
            copy.write_row((pk, MemberHistory.Action.UPDATED, _json(changes), user_id, label, source, now))


def error_report_csv(job: ImportJob) -> bytes:
    """The rows that were not imported, with the reason, as CSV Excel opens correctly (UTF-8 BOM)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([_("Row"), _("Column"), _("Value"), _("Reason")])
    for error in job.errors:
        writer.writerow([error["row"], error["column"], error["value"], error["reason"]])
    return b"\xef\xbb\xbf" + buffer.getvalue().encode("utf-8")
