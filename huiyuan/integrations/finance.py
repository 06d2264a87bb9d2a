"""Finance sync to the ERP: stored-value top-ups (principal and bonus as separate lines), stored-value
spending, refunds and points used as cash, each posted once as a document whose bill number is ours
(``HY-<kind>-<id>``).

A document is claimed before the ERP is called (a ``posting`` row, committed), then marked posted
or failed. A document found ``posting`` or ``failed`` by a later run is first looked up at the ERP
by its bill number: if it is there (the answer was lost, or a worker died after the ERP saved it),
it is marked posted, never saved twice. A lost session is renewed by the client; the ERP's call
limit stops the run until the next. Runs daily at 02:30 local time and on demand."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from decimal import Decimal
from functools import partial
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy

from huiyuan.loyalty.models import StoredValueEntry
from huiyuan.members.models import Order
from huiyuan.platform.events.registry import Event, subscribe
from huiyuan.platform.events.services import deliveries_schedule
from huiyuan.platform.tenancy import tenant_timezone

from .models import Connection, FinanceDocument
from .registry import FINANCE_SYNC, PROVIDERS, VendorError, VendorThrottled
from .services import provider_for, vendor_call, vendor_error_text

logger = logging.getLogger(__name__)
DAILY = "integrations.finance_daily"
RECEIPT, REFUND = "AR_RECEIVEBILL", "AR_REFUNDBILL"


@dataclass(frozen=True)
class Movement:
    source: str
    source_id: int
    form_id: str
    date: str
    lines: list[tuple[str, Decimal, str]]  # (purpose setting, amount, note)
    remark: str

    @property
    def bill_no(self) -> str:
        return f"HY-{self.source.upper().replace('_', '')}-{self.source_id}"

    @property
    def amount(self) -> Decimal:
        return sum((amount for _purpose, amount, _note in self.lines), Decimal(0))


def movements(connection: Connection, *, limit: int = 500) -> list[Movement]:
    """What is not posted yet, oldest first (failed and unfinished ones included, to retry them)."""
    done = FinanceDocument.objects.filter(connection=connection, status=FinanceDocument.Status.POSTED)
    done_sv = done.filter(source__startswith="sv_").values("source_id")
    done_orders = done.filter(source="points_cash").values("source_id")
    zone = tenant_timezone()
    found: list[Movement] = []
    entries = (
        StoredValueEntry.objects.filter(kind__in=["topup", "spend", "refund", "reverse"])
        .exclude(pk__in=done_sv)
        .order_by("pk")[:limit]
    )
    for entry in entries:
        principal, bonus = abs(entry.principal), abs(entry.bonus)
        date = entry.created_at.astimezone(zone).date().isoformat()
        card = f"{entry.member_id}"
        if entry.kind == "topup":
            lines = [("principal_purpose", principal, "储值本金"), ("bonus_purpose", bonus, "储值赠送")]
            found.append(Movement("sv_topup", entry.pk, RECEIPT, date, [x for x in lines if x[1]], f"会员 {card} 储值"))
        elif entry.kind == "spend":
            lines = [("principal_purpose", principal, "储值消费-本金"), ("bonus_purpose", bonus, "储值消费-赠送")]
            found.append(
                Movement("sv_spend", entry.pk, RECEIPT, date, [x for x in lines if x[1]], f"会员 {card} 储值消费")
            )
        else:
            lines = [("principal_purpose", principal, "储值退回-本金"), ("bonus_purpose", bonus, "储值退回-赠送")]
            found.append(
                Movement("sv_refund", entry.pk, REFUND, date, [x for x in lines if x[1]], f"会员 {card} 储值退回")
            )
    orders = (
        Order.objects.filter(~Q(benefits__points_value__in=["0", "0.00", None]), benefits__has_key="points_value")
        .exclude(pk__in=done_orders)
        .order_by("pk")[:limit]
    )
    for order in orders:
        value = Decimal(str(order.benefits.get("points_value") or 0))
        if value > 0:
            date = order.paid_at.astimezone(zone).date().isoformat()
            found.append(
                Movement(
                    "points_cash",
                    order.pk,
                    RECEIPT,
                    date,
                    [("points_purpose", value, "积分抵现")],
                    f"订单 {order.order_no} 积分抵现",
                )
            )
    return found


def finance_connection() -> Connection | None:
    keys = [key for key, cls in PROVIDERS.items() if FINANCE_SYNC in cls.capabilities]
    return Connection.objects.filter(provider__in=keys, enabled=True).order_by("pk").first()


def finance_sync(*, connection: Connection | None = None) -> dict[str, int]:
    """Post what is not posted yet. Runs outside a transaction: each claim commits before the ERP
    is called. Returns counts."""
    connection = connection or finance_connection()
    counts = {"posted": 0, "already_there": 0, "failed": 0}
    if connection is None:
        return counts
    provider: Any = provider_for(connection)
    for movement in movements(connection):
        document, created = FinanceDocument.objects.get_or_create(
            connection=connection,
            source=movement.source,
            source_id=movement.source_id,
            defaults={
                "bill_no": movement.bill_no,
                "form_id": movement.form_id,
                "amount": movement.amount,
                "status": FinanceDocument.Status.POSTING,
            },
        )
        try:
            if not created:  # tried before: maybe the ERP has it and we never heard
                existing = vendor_call(
                    connection,
                    "finance_lookup",
                    movement.bill_no,
                    partial(provider.bill_exists, movement.form_id, movement.bill_no),
                )
                if existing:
                    _mark(document, FinanceDocument.Status.POSTED, vendor_id=existing)
                    counts["already_there"] += 1
                    continue
                FinanceDocument.objects.filter(pk=document.pk).update(
                    status=FinanceDocument.Status.POSTING, attempts=document.attempts + 1
                )
            lines = [
                (connection.settings.get(purpose) or purpose, amount, note) for purpose, amount, note in movement.lines
            ]
            vendor_id = vendor_call(
                connection,
                "finance_post",
                movement.bill_no,
                partial(
                    provider.save_receipt,
                    form_id=movement.form_id,
                    bill_no=movement.bill_no,
                    date=movement.date,
                    lines=lines,
                    remark=movement.remark,
                ),
                retries=0,  # not idempotent: the next run looks the bill up first
            )
        except VendorThrottled as exc:
            _mark(document, FinanceDocument.Status.FAILED, error=vendor_error_text(exc))
            counts["failed"] += 1
            break  # the ERP's call limit: the rest waits for the next run
        except VendorError as exc:
            _mark(document, FinanceDocument.Status.FAILED, error=vendor_error_text(exc))
            counts["failed"] += 1
            continue
        _mark(document, FinanceDocument.Status.POSTED, vendor_id=vendor_id)
        counts["posted"] += 1
    return counts


def _mark(document: FinanceDocument, status: str, *, vendor_id: str = "", error: str = "") -> None:
    FinanceDocument.objects.filter(pk=document.pk).update(
        status=status, vendor_id=vendor_id[:40], error=error[:500], updated_at=timezone.now()
    )


# ---- daily run ------------------------------------------------------------------------------------
def finance_daily_arm(connection: Connection) -> None:
    zone = tenant_timezone()
    local = timezone.now().astimezone(zone)
    due = datetime.combine(local.date() + timedelta(days=1), time(2, 30), tzinfo=zone)
    deliveries_schedule(DAILY, DAILY, [({"connection_id": connection.pk}, due)])


def _daily(event: Event) -> None:
    connection = Connection.objects.filter(pk=event.payload["connection_id"], enabled=True).first()
    if connection is None:
        return
    finance_daily_arm(connection)

    def run() -> None:
        from .tasks import finance_sync_task

        finance_sync_task.delay(connection.pk)

    transaction.on_commit(run)


subscribe(DAILY, DAILY, _daily, label=gettext_lazy("Daily finance sync"))
