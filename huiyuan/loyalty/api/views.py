"""Checkout API for the POS: quote, commit, refund. Thin views over ``loyalty.checkout``."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.fields import DateTimeField
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from huiyuan.members.api.serializers import OrderSerializer, RefundSerializer
from huiyuan.members.models import Order
from huiyuan.platform.api.base import TenantAPIView
from huiyuan.platform.api.inputs import validated
from huiyuan.platform.api.pagination import paginated
from huiyuan.platform.errors import ValidationFailed
from huiyuan.platform.idempotency import idempotency_key, idempotent

from .. import checkout, refunds
from .serializers import OrderInput, RefundInput, TopUpInput

CENT = Decimal("0.01")
QUANTITY = Decimal("0.001")
drf_datetime = DateTimeField().to_representation


def _body(request: Request) -> dict[str, Any]:
    if not isinstance(request.data, dict):
        raise ValidationFailed(fields={"body": [_("Send a JSON object.")]})
    return dict(request.data)


def _ledger_key(request: Request) -> str:
    """The required ``Idempotency-Key`` of a write that goes straight to a ledger, scoped to the
    caller: one staff member's key never returns another's write. Ledger keys hold 120 characters,
    prefixed by the kind of write and the caller."""
    from huiyuan.platform.access import principal_id

    return f"{principal_id(request.user)}:{idempotency_key(request, required=True, max_length=80)}"


def _order_answer(result: checkout.CheckoutResult) -> Response:
    """201 with the order. A new order is answered from what was written (no read after the
    commit, so a connection dropped after it cannot turn a committed order into an error); a
    replay reads the stored order."""
    if result.created:
        order = result.order
    else:
        order = Order.objects.select_related("store").prefetch_related("lines").get(pk=result.order.pk)
    headers = {} if result.created else {"Idempotent-Replayed": "true"}
    body = {**order_body(order), "benefits": order.benefits}
    return Response(body, status=status.HTTP_201_CREATED, headers=headers)


def _money(value: Any) -> str:
    return str(Decimal(value).quantize(CENT))


def order_body(order: Order) -> dict[str, Any]:
    """What ``OrderSerializer`` renders, as a plain function: the till's hottest answer should not
    build a ModelSerializer's fields on every request (a test keeps the two identical)."""
    return {
        "id": order.pk,
        "order_no": order.order_no,
        "store": order.store.code,
        "member_id": order.member_id,
        "total_amount": _money(order.total_amount),
        "paid_amount": _money(order.paid_amount),
        "refunded_amount": _money(order.refunded_amount),
        "payment_methods": order.payment_methods,
        "status": order.status,
        "source": order.source,
        "paid_at": drf_datetime(order.paid_at),
        "lines": [
            {
                "id": line.pk,
                "sku": line.sku,
                "name": line.name,
                "category": line.category,
                "quantity": str(Decimal(line.quantity).quantize(QUANTITY)),
                "amount": _money(line.amount),
                "refunded_amount": _money(line.refunded_amount),
            }
            for line in order.lines.all()
        ],
        "created_at": drf_datetime(order.created_at),
    }


class OrderListView(TenantAPIView):
    operations = {"GET": "members.member.view", "POST": "loyalty.order.create"}

    @extend_schema(
        operation_id="v1_orders_list",
        responses=paginated(OrderSerializer),
        parameters=[OpenApiParameter("member", int)],
    )
    def get(self, request: Request) -> Response:
        from huiyuan.members.selectors import member_access_by_id
        from huiyuan.platform.access import filter_queryset
        from huiyuan.platform.api.views import paginate

        qs = filter_queryset(request.user, "members.member.view", Order.objects.select_related("store"))
        member = request.query_params.get("member")
        if member:
            if not member.isdecimal():
                raise ValidationFailed(fields={"member": [_("A member id.")]})
            qs = qs.filter(member_id=member_access_by_id(actor=request.user, member_id=int(member)).pk)
        return paginate(self, request, qs.prefetch_related("lines").order_by("-paid_at", "-id"), OrderSerializer)

    @extend_schema(request=OrderInput, responses={201: OrderSerializer})
    @idempotent()
    def post(self, request: Request) -> Response:
        """Record an order the POS priced itself; points, tier, statistics and events follow as for
        checkout. ``order_no`` is the idempotency key: a replay returns the first result (with
        ``Idempotent-Replayed: true``), different content under the same number answers 409."""
        return _order_answer(checkout.order_record(actor=request.user, data=validated(OrderInput, request.data)))


class OrderDetailView(TenantAPIView):
    operation = "members.member.view"

    @extend_schema(responses=OrderSerializer)
    def get(self, request: Request, order_no: str) -> Response:
        from huiyuan.members.orders import order_access

        order = order_access(actor=request.user, order_no=order_no)
        return Response(OrderSerializer(order).data)


class RefundView(TenantAPIView):
    """Refund part or all of an order (``/orders/<no>/refunds`` and ``/checkout/<no>/refunds``,
    the same service): money, statistics, and in proportion the points and stored value."""

    operation = "loyalty.order.create"

    @extend_schema(request=RefundInput, responses={201: RefundSerializer})
    @idempotent()
    def post(self, request: Request, order_no: str) -> Response:
        result = refunds.order_refund(actor=request.user, order_no=order_no, **validated(RefundInput, request.data))
        headers = {} if result.created else {"Idempotent-Replayed": "true"}
        return Response(RefundSerializer(result.refund).data, status=status.HTTP_201_CREATED, headers=headers)


class CheckoutQuoteView(TenantAPIView):
    """What the member would get for this basket: tier and tier discount, every unused coupon
    with what it takes off (or why it cannot be used), points and stored-value options, points
    to earn. Writes nothing."""

    operation = "loyalty.order.create"

    @extend_schema(request=OrderInput, responses={200: OpenApiTypes.OBJECT})
    def post(self, request: Request) -> Response:
        return Response(checkout.checkout_options(actor=request.user, data=validated(OrderInput, request.data)))


class CheckoutMemberLookupView(TenantAPIView):
    """The member at the till by phone, card number, scanned member code, last four digits, name
    or pinyin: exact identifiers find any member of the merchant, partial ones only the
    cashier's own stores' members. At most ten, with tier and balances."""

    operation = "loyalty.order.create"

    @extend_schema(
        parameters=[OpenApiParameter("q", str, description="phone, card number, member code, last 4 digits, name")],
        responses={200: OpenApiTypes.OBJECT},
    )
    def get(self, request: Request) -> Response:
        from .. import till

        query = request.query_params.get("q", "")[:64]
        members = till.till_member_lookup(actor=request.user, query=query)
        return Response({"results": [till.till_member_card(actor=request.user, member=m) for m in members]})


class CheckoutView(TenantAPIView):
    """Commit the order with every discount, redemption and earning in one transaction. A replay
    of the same ``order_no`` (or ``Idempotency-Key``) returns the first result
    (``Idempotent-Replayed: true``)."""

    operation = "loyalty.order.create"

    @extend_schema(request=OrderInput, responses={201: OrderSerializer})
    @idempotent()
    def post(self, request: Request) -> Response:
        return _order_answer(checkout.checkout_commit(actor=request.user, data=validated(OrderInput, request.data)))


class MemberTopUpView(TenantAPIView):
    """Top up a member's stored value by plan (``plan_id``). ``Idempotency-Key`` is required: a
    retried top-up must never credit twice."""

    operation = "loyalty.order.create"

    def post(self, request: Request, member_id: int) -> Response:
        from huiyuan.members.selectors import member_access_by_id

        from ..stored_value import topup_by_plan

        key = _ledger_key(request)
        member = member_access_by_id(actor=request.user, member_id=member_id)
        plan_id = validated(TopUpInput, request.data)["plan_id"]
        result = topup_by_plan(actor=request.user, member_id=member.pk, plan_id=plan_id, idempotency_key=f"topup:{key}")
        headers = {"Idempotent-Replayed": "true"} if result.replayed else {}
        return Response(_sv_entry(result.entry), status=status.HTTP_201_CREATED, headers=headers)


class MemberLedgerView(TenantAPIView):
    """The member's points and stored-value entries, newest first, each with its cause."""

    operation = "members.member.view"

    def get(self, request: Request, member_id: int) -> Response:
        from huiyuan.members.selectors import member_access_by_id

        from ..selectors import member_ledger

        member = member_access_by_id(actor=request.user, member_id=member_id)
        ledger = member_ledger(member=member)
        points = [
            {
                "id": e.pk,
                "kind": e.kind,
                "amount": e.amount,
                "balance_after": e.balance_after,
                "cause": e.cause,
                "cause_id": e.cause_id,
                "reason": e.reason,
                "created_at": e.created_at,
            }
            for e in ledger.points
        ]
        stored = [_sv_entry(e) for e in ledger.stored_value]
        return Response(
            {
                "points_balance": member.points_balance,
                "stored_principal": str(member.stored_principal),
                "stored_bonus": str(member.stored_bonus),
                "points": points,
                "stored_value": stored,
            }
        )


def _sv_entry(entry: Any) -> dict[str, Any]:
    return {
        "id": entry.pk,
        "kind": entry.kind,
        "principal": str(entry.principal),
        "bonus": str(entry.bonus),
        "principal_after": str(entry.principal_after),
        "bonus_after": str(entry.bonus_after),
        "cause": entry.cause,
        "cause_id": entry.cause_id,
        "reason": entry.reason,
        "created_at": entry.created_at,
    }


class StoredValueStatementView(TenantAPIView):
    operation = "reports.report.view"

    def get(self, request: Request) -> Response:
        from django.utils.dateparse import parse_date

        from huiyuan.platform.tenancy import tenant_today

        from ..stored_value import stored_value_statement

        raw = request.query_params.get("date")
        day = parse_date(raw) if raw else tenant_today()
        if day is None:
            raise ValidationFailed(fields={"date": [_("Enter a date such as 2026-03-08.")]})
        return Response(stored_value_statement(day=day))


class OpeningBalancesView(TenantAPIView):
    """Upload opening balances (CSV / XLSX). ``dry_run=1`` validates and shows the totals only."""

    operation = "loyalty.balance.adjust"
    parser_classes = [MultiPartParser]

    @extend_schema(
        request={
            "multipart/form-data": {
                "type": "object",
                "required": ["file"],
                "properties": {
                    "file": {"type": "string", "format": "binary"},
                    "dry_run": {"type": "string", "enum": ["0", "1"]},
                },
            }
        },
        responses=OpenApiTypes.OBJECT,
    )
    def post(self, request: Request) -> Response:
        from huiyuan.members.tables import TableError, read_table

        from ..opening_balances import opening_balances_import, suggest_mapping

        upload = request.FILES.get("file")
        if upload is None:
            raise ValidationFailed(fields={"file": [_("Attach a CSV or Excel file.")]})
        try:
            table = read_table(upload.read(), upload.name or "upload.csv")
        except TableError as exc:
            raise ValidationFailed(fields={"file": [str(exc)]}) from exc
        dry_run = str(request.POST.get("dry_run", "1")).lower() in ("1", "true", "yes", "on")
        outcome = opening_balances_import(
            actor=request.user, table=table, mapping=suggest_mapping(table.headers), dry_run=dry_run
        )
        return Response(outcome.as_dict(), status=status.HTTP_200_OK)
