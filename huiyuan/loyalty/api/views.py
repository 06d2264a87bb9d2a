"""Checkout API for the POS: quote, commit, refund. Thin views over ``loyalty.checkout``."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from huiyuan.members.api.serializers import OrderSerializer, RefundSerializer
from huiyuan.members.models import Order
from huiyuan.members.orders import find_store
from huiyuan.platform.access import in_scope
from huiyuan.platform.api.base import TenantAPIView
from huiyuan.platform.errors import ValidationFailed

from .. import checkout


def _body(request: Request) -> dict[str, Any]:
    if not isinstance(request.data, dict):
        raise ValidationFailed(fields={"body": [_("Send a JSON object.")]})
    return dict(request.data)


class CheckoutQuoteView(TenantAPIView):
    """What the member would get for this basket: tier discount, coupon, points and stored-value
    options, points to earn. Writes nothing."""

    operation = "loyalty.order.create"

    def post(self, request: Request) -> Response:
        data = _body(request)
        store = find_store(data.get("store"))
        if store is None or not in_scope(request.user, store):
            raise ValidationFailed(fields={"store": [_("Unknown store.")]})
        return Response(checkout.checkout_quote(data=data, store_id=store.pk).as_dict())


class CheckoutView(TenantAPIView):
    """Commit the order with every discount, redemption and earning in one transaction. A replay
    of the same ``order_no`` returns the first result (``Idempotent-Replayed: true``)."""

    operation = "loyalty.order.create"

    def post(self, request: Request) -> Response:
        result = checkout.checkout_commit(actor=request.user, data=_body(request))
        order = Order.objects.select_related("store").prefetch_related("lines").get(pk=result.order.pk)
        body = {**OrderSerializer(order).data, "benefits": order.benefits}
        headers = {} if result.created else {"Idempotent-Replayed": "true"}
        return Response(body, status=status.HTTP_201_CREATED, headers=headers)


class CheckoutRefundView(TenantAPIView):
    operation = "loyalty.order.create"

    def post(self, request: Request, order_no: str) -> Response:
        data = _body(request)
        result = checkout.checkout_refund(
            actor=request.user,
            order_no=order_no,
            refund_no=str(data.get("refund_no") or ""),
            amount=data.get("amount"),
            reason=str(data.get("reason") or ""),
            lines=data.get("lines") or None,
        )
        headers = {} if result.created else {"Idempotent-Replayed": "true"}
        return Response(RefundSerializer(result.refund).data, status=status.HTTP_201_CREATED, headers=headers)
