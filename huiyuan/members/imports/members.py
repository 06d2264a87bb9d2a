"""Member import from CSV / Excel: upload, column mapping (suggested from Chinese or English
headers), preview, then a Celery run that keeps every valid row and reports every invalid one
(row, column, value, reason). Re-running the same file creates no duplicates: rows are matched to
existing members by phone or by card number, as the user chooses.

The database stage is set-based: new rows go through ``COPY`` into a temporary table and one
``INSERT … ON CONFLICT DO NOTHING``; changed rows through ``COPY`` and one ``UPDATE … FROM``.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator
from datetime import date
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from huiyuan.platform.access import actor_store_ids, check_permission, sees_all_stores
from huiyuan.platform.audit import audit_record
from huiyuan.platform.events.services import event_record
from huiyuan.platform.phones import InvalidPhone, RoundedPhone, normalize_phone
from huiyuan.platform.tenancy import tenant_timezone, tenant_today

from ..custom_fields import active_fields_by_key
from ..fields import registry
from ..fields.base import FieldValueError, is_blank
from ..models import CustomField, Member, MemberHistory, Store
from ..parsing import parse_bool, parse_date, parse_datetime
from ..services import parse_gender
from ..tables import Table
from .common import IGNORE, ImportOutcome, PreparedRow, RowError, cell_text, norm_header

logger = logging.getLogger(__name__)


def ROUNDED_PHONE_MESSAGE() -> str:  # noqa: N802 - a message, named like the constant it stands for
    return _("Excel rounded this phone number; set the column to text and export the file again.")


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
        except RoundedPhone as exc:
            raise ValueError(ROUNDED_PHONE_MESSAGE()) from exc
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
