"""Order history import (CSV / XLSX) for merchants bringing years of sales.

One row per order, or one row per line with the order number repeated (then ``sku`` / ``line
amount`` columns are mapped). Idempotent: an order number already in the books is skipped when it
matches, reported when it differs. Members are matched by phone or card; unknown ones are created
(``unknown_members="create"``) or reported (``"report"``). Orders and lines are COPYed with
reserved ids; the affected members' statistics (count, spend, first / last purchase, lifecycle)
are rebuilt in one statement in the same transaction, and their R/F/M scores set against the last
full ranking (the nightly job ranks everyone again).
History imports never award points (``source = import``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from huiyuan.platform.access import check_permission
from huiyuan.platform.audit import audit_record
from huiyuan.platform.events.services import event_record
from huiyuan.platform.phones import InvalidPhone, RoundedPhone, normalize_phone
from huiyuan.platform.tenancy import tenant_timezone

from ..fields.base import is_blank
from ..models import Member, Order, OrderLine, Store
from ..orders import request_hash_of
from ..parsing import parse_datetime, parse_decimal
from ..stats import rfm_score_members, stats_rebuild
from ..tables import Table
from .common import ImportOutcome, PreparedRow, RowError, cell_text, norm_header
from .members import CORE_TARGETS, ROUNDED_PHONE_MESSAGE, insert_new_members

ORDER_TARGETS: dict[str, tuple[str, ...]] = {
    "order_no": (
        "订单号",
        "单号",
        "订单编号",
        "小票号",
        "流水号",
        "交易号",
        "orderno",
        "order",
        "ordernumber",
        "receiptno",
        "transactionid",
    ),
    "paid_at": (
        "时间",
        "消费时间",
        "下单时间",
        "支付时间",
        "交易时间",
        "日期",
        "消费日期",
        "paidat",
        "time",
        "date",
        "orderdate",
        "ordertime",
    ),
    "paid_amount": (
        "金额",
        "实付金额",
        "消费金额",
        "实收金额",
        "支付金额",
        "订单金额",
        "amount",
        "paid",
        "paidamount",
        "total",
    ),
    "store": CORE_TARGETS["home_store"] + ("消费门店", "下单门店"),
    "phone": CORE_TARGETS["phone"] + ("会员手机", "会员手机号"),
    "card_no": CORE_TARGETS["card_no"],
    "sku": ("商品编码", "商品条码", "sku", "itemcode", "productcode", "barcode"),
    "item_name": ("商品名称", "商品", "品名", "itemname", "product", "productname"),
    "category": ("品类", "类别", "商品类别", "分类", "category"),
    "quantity": ("数量", "qty", "quantity"),
    "line_amount": ("商品金额", "行金额", "明细金额", "lineamount", "itemamount"),
}


def order_target_choices() -> dict[str, str]:
    return {
        "order_no": _("Order number"),
        "paid_at": _("Time"),
        "paid_amount": _("Amount paid"),
        "store": _("Store (code or name)"),
        "phone": _("Member phone"),
        "card_no": _("Member card number"),
        "sku": _("SKU"),
        "item_name": _("Item name"),
        "category": _("Category"),
        "quantity": _("Quantity"),
        "line_amount": _("Line amount"),
    }


def suggest_order_mapping(headers: list[str]) -> dict[str, str]:
    aliases: dict[str, str] = {}
    for target, names in ORDER_TARGETS.items():
        for name in (target, *names):
            aliases.setdefault(norm_header(name), target)
    mapping: dict[str, str] = {}
    used: set[str] = set()
    for header in headers:
        target = aliases.get(norm_header(header), "")
        if target in used:
            target = ""
        used.add(target)
        mapping[header] = target
    return mapping


@dataclass
class _Order:
    row: int
    order_no: str
    store_id: int
    paid_at: Any
    amount: Decimal | None
    phone: str | None
    card_no: str | None
    lines: list[tuple[str, str, str, Decimal, Decimal]] = field(default_factory=list)
    member_id: int | None = None


LINE_TARGETS = ("sku", "item_name", "category", "quantity", "line_amount")


@dataclass
class OrderImportOutcome:
    created: int = 0
    skipped: int = 0  # already imported, identical
    members_created: int = 0
    errors: list[RowError] = field(default_factory=list)
    seconds: float = 0.0
    ignored_columns: list[str] = field(default_factory=list)  # mapped, but to nothing an order stores


def import_orders(
    *,
    actor: Any,
    table: Table,
    mapping: dict[str, str],
    unknown_members: str = "create",
    source: str = "import",
    progress: Callable[[int], Any] | None = None,
) -> OrderImportOutcome:
    check_permission(actor, "members.member.import")
    check_permission(actor, "loyalty.order.create")
    started = time.perf_counter()
    outcome = OrderImportOutcome()
    outcome.ignored_columns = sorted(h for h, target in mapping.items() if target and target not in ORDER_TARGETS)
    col = {
        target: table.headers.index(h)
        for h, target in mapping.items()
        if target in ORDER_TARGETS and h in table.headers
    }
    for required in ("order_no", "paid_at", "store"):
        if required not in col:
            raise ValueError(f"map a column to {required}")
    if "paid_amount" not in col and "line_amount" not in col:
        raise ValueError("map a column to the amount")
    if "phone" not in col and "card_no" not in col:
        raise ValueError("map a column to the member's phone or card number")
    stores: dict[str, int] = {}
    for pk, code, name in Store.objects.values_list("pk", "code", "name"):
        stores.setdefault(name, pk)
        stores[code.lower()] = pk
    tz = tenant_timezone()
    now = timezone.now()
    orders: dict[str, _Order] = {}
    # Any mapped line column makes lines: a quantity or category alone is kept, never dropped.
    has_lines = any(target in col for target in LINE_TARGETS)

    headers = table.headers
    cent = Decimal("0.01")
    columns = list(col.items())
    for offset, row in enumerate(table.rows):
        if progress and offset and offset % 10_000 == 0:
            progress(offset // 2)  # reading is about half of the work
        if not row:
            continue
        number = table.first_row + offset
        cells = {target: row[index] for target, index in columns}  # rows are padded to the header width
        errors: list[RowError] = []

        def fail(target: str, reason: str) -> None:
            errors.append(RowError(number, headers[col[target]], cell_text(cells.get(target)), reason))  # noqa: B023

        order_no = cell_text(cells["order_no"]).strip()
        if not order_no or len(order_no) > 64:
            fail("order_no", _("Required, at most 64 characters."))
        store_ref = cell_text(cells["store"]).strip()
        store_id = stores.get(store_ref.lower()) or stores.get(store_ref)
        if store_id is None:
            fail("store", _("No store with this code or name."))
        try:
            paid_at = parse_datetime(cells["paid_at"], tz)
            if paid_at > now:
                fail("paid_at", _("The date is in the future."))
        except (ValueError, TypeError):
            fail("paid_at", _("Not a date; use e.g. 2023-01-31 14:00."))
            paid_at = None
        amount = None
        raw_amount = cells.get("paid_amount")
        if not is_blank(raw_amount):
            try:
                amount = parse_decimal(raw_amount).quantize(cent)
                if amount < 0:
                    fail("paid_amount", _("The amount must be positive."))
            except (ValueError, ArithmeticError):
                fail("paid_amount", _("Not an amount."))
        phone = card = None
        if not is_blank(cells.get("phone")):
            try:
                phone = normalize_phone(cells["phone"])
            except RoundedPhone:
                fail("phone", ROUNDED_PHONE_MESSAGE())
            except InvalidPhone:
                fail("phone", _("Not a valid mobile number."))
        if not is_blank(cells.get("card_no")):
            card = cell_text(cells["card_no"]).strip()
        if phone is None and card is None and not errors:
            column = headers[col.get("phone", col.get("card_no", 0))]
            errors.append(RowError(number, column, "", _("Give the member's phone or card number.")))
        line = None
        if has_lines:
            try:
                quantity = Decimal(1) if is_blank(cells.get("quantity")) else parse_decimal(cells["quantity"])
                line_amount = (
                    (amount or Decimal(0))
                    if is_blank(cells.get("line_amount"))
                    else parse_decimal(cells["line_amount"]).quantize(cent)
                )
                line = (
                    cell_text(cells.get("sku"))[:64],
                    cell_text(cells.get("item_name"))[:200],
                    cell_text(cells.get("category"))[:64],
                    quantity,
                    line_amount,
                )
            except (ValueError, ArithmeticError):
                fail("line_amount" if "line_amount" in col else "quantity", _("Not a number."))
        if errors:
            outcome.errors.extend(errors)
            continue
        existing = orders.get(order_no)
        if existing is None:
            existing = orders[order_no] = _Order(number, order_no, store_id, paid_at, amount, phone, card)  # type: ignore[arg-type]
        elif not has_lines:
            outcome.errors.append(
                RowError(
                    number,
                    table.headers[col["order_no"]],
                    order_no,
                    _("Same order number as row %(n)d.") % {"n": existing.row},
                )
            )
            continue
        if line is not None:
            existing.lines.append(line)
    if progress:
        progress(len(table.rows) // 2)
    table.rows.clear()

    with transaction.atomic():
        _match_members(orders, unknown_members, outcome)
        _skip_known(orders, outcome)
        touched = _insert(list(orders.values()), outcome, source)
        if touched:
            stats_rebuild(sorted(touched), rfm=False)
            rfm_score_members(sorted(touched))
        audit_record(
            actor=actor,
            action="members.order.import",
            object_type="members.order",
            changes={"created": outcome.created, "skipped": outcome.skipped, "errors": len(outcome.errors)},
        )
        if outcome.created:
            event_record(
                "order.imported",
                {"created": outcome.created, "source": source},
                aggregate_type="import",
                aggregate_id=source,
            )
    outcome.errors.sort(key=lambda e: (e.row, e.column))
    outcome.seconds = time.perf_counter() - started
    return outcome


def _match_members(orders: dict[str, _Order], unknown: str, outcome: OrderImportOutcome) -> None:
    phones = sorted({o.phone for o in orders.values() if o.phone})
    cards = sorted({o.card_no for o in orders.values() if o.card_no})
    table = connection.ops.quote_name(Member._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT phone, id FROM {table} WHERE phone = ANY(%s)", [phones])  # noqa: S608
        by_phone = dict(cursor.fetchall())
        cursor.execute(f"SELECT card_no, id FROM {table} WHERE card_no = ANY(%s)", [cards])  # noqa: S608
        by_card = dict(cursor.fetchall())
    missing: dict[str, _Order] = {}
    for order in list(orders.values()):
        order.member_id = by_card.get(order.card_no) if order.card_no else None
        order.member_id = order.member_id or (by_phone.get(order.phone) if order.phone else None)
        if order.member_id is not None:
            continue
        if unknown == "create" and order.phone:
            missing.setdefault(order.phone, order)
        else:
            outcome.errors.append(
                RowError(
                    order.row,
                    "member",
                    order.phone or order.card_no or "",
                    _("No member with this phone or card number."),
                )
            )
            del orders[order.order_no]
    if missing:
        created = _create_members(sorted(missing))
        outcome.members_created = len(created)
        for order in list(orders.values()):
            if order.member_id is None and order.phone:
                order.member_id = created.get(order.phone)
                if order.member_id is None:  # someone enrolled this phone meanwhile
                    outcome.errors.append(
                        RowError(
                            order.row,
                            "member",
                            order.phone,
                            _("Another member took this phone or card number meanwhile; run the import again."),
                        )
                    )
                    del orders[order.order_no]


def _create_members(phones: list[str]) -> dict[str, int]:
    """New members for unknown phones, through the member import's own insert path."""
    placeholder = ImportOutcome()
    created = insert_new_members([PreparedRow(values={"phone": p}, custom={}, row=0) for p in phones], placeholder)
    return {item.values["phone"]: pk for pk, item in created}


def _skip_known(orders: dict[str, _Order], outcome: OrderImportOutcome) -> None:
    """Orders already in the books: identical ones are skipped (a re-run), different ones reported."""
    table = connection.ops.quote_name(Order._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT order_no, member_id, store_id, paid_amount, paid_at FROM {table} WHERE order_no = ANY(%s)",  # noqa: S608
            [list(orders)],
        )
        known = {row[0]: row[1:] for row in cursor.fetchall()}
    for order_no, (member_id, store_id, paid, paid_at) in known.items():
        order = orders.pop(order_no)
        amount = order.amount if order.amount is not None else sum((line[4] for line in order.lines), Decimal(0))
        if (member_id, store_id, paid, paid_at) == (order.member_id, order.store_id, amount, order.paid_at):
            outcome.skipped += 1
        else:
            outcome.errors.append(
                RowError(
                    order.row, "order_no", order_no, _("This order number is already recorded with different content.")
                )
            )


def _import_hash(order: _Order, amount: Decimal) -> str:
    """Imported orders carry a request hash too, so a POS posting the same number with any body
    is told the number is taken (409), never handed the imported order as its replay."""
    return request_hash_of(
        {"imported": order.order_no, "store": order.store_id, "member": order.member_id, "amount": amount}
    )


def _insert(orders: list[_Order], outcome: OrderImportOutcome, source: str) -> set[int]:
    if not orders:
        return set()
    order_table = connection.ops.quote_name(Order._meta.db_table)
    line_table = connection.ops.quote_name(OrderLine._meta.db_table)
    now = timezone.now()
    with connection.cursor() as cursor:
        with cursor.cursor.copy(
            f"COPY {order_table} (order_no, store_id, member_id, total_amount, paid_amount, refunded_amount, "
            "payment_methods, benefits, status, source, paid_at, request_hash, created_at) FROM STDIN"
        ) as copy:
            for order in orders:
                amount = order.amount if order.amount is not None else sum((ln[4] for ln in order.lines), Decimal(0))
                copy.write_row(
                    (
                        order.order_no,
                        order.store_id,
                        order.member_id,
                        amount,
                        amount,
                        0,
                        "[]",
                        "{}",
                        Order.Status.PAID,
                        Order.Source.IMPORT,
                        order.paid_at,
                        _import_hash(order, amount),
                        now,
                    )
                )
        with_lines = [order for order in orders if order.lines]
        if with_lines:
            cursor.execute(
                f"SELECT order_no, id FROM {order_table} WHERE order_no = ANY(%s)",  # noqa: S608
                [[order.order_no for order in with_lines]],
            )
            ids = dict(cursor.fetchall())
            with cursor.cursor.copy(
                f"COPY {line_table} (order_id, sku, name, category, quantity, amount, refunded_amount) FROM STDIN"
            ) as copy:
                for order in with_lines:
                    for sku, name, category, quantity, amount in order.lines:
                        copy.write_row((ids[order.order_no], sku, name, category, quantity, amount, 0))
    outcome.created = len(orders)
    return {o.member_id for o in orders if o.member_id is not None}
