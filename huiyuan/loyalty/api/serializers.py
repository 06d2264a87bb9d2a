"""Input serializers of the order path: what ``/orders``, ``/checkout`` (and its quote) and the
refund endpoints accept, typed and bounded. The services re-check business rules (store scope,
totals that add up, balances)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.utils.translation import gettext as _
from rest_framework import serializers

from huiyuan.platform.api.inputs import AmountField, CountField, StrictSerializer, TextField

MAX_LINES = 500


class MemberRefInput(StrictSerializer):
    id = CountField(required=False, min_value=1)
    phone = TextField(required=False, allow_blank=True, max_length=32)
    card_no = TextField(required=False, allow_blank=True, max_length=32)


class OrderLineInput(StrictSerializer):
    sku = TextField(required=False, allow_blank=True, max_length=64)
    name = TextField(required=False, allow_blank=True, max_length=200)
    category = TextField(required=False, allow_blank=True, max_length=64)
    quantity = serializers.DecimalField(required=False, max_digits=12, decimal_places=3, min_value=Decimal("0.001"))
    amount = AmountField()


class PaymentInput(StrictSerializer):
    method = TextField(max_length=32)
    amount = AmountField()


class OrderInput(StrictSerializer):
    """An order as the POS sends it to ``/orders`` (priced by the POS) or ``/checkout``."""

    order_no = TextField(max_length=64)
    store = serializers.CharField(max_length=64, help_text="Store code (or id).")
    member = MemberRefInput(required=False, allow_null=True)
    lines = serializers.ListField(child=OrderLineInput(), required=False, max_length=MAX_LINES)
    total_amount = AmountField(required=False, allow_null=True)
    paid_amount = AmountField(required=False)
    payment_methods = serializers.ListField(child=PaymentInput(), required=False, max_length=20)
    paid_at = TextField(required=False, allow_blank=True, max_length=40, help_text="e.g. 2026-03-08 14:30 or ISO 8601")
    coupon_code = TextField(required=False, allow_blank=True, max_length=32)
    points = CountField(required=False, min_value=0, max_value=10**9)
    stored_value = AmountField(required=False, allow_null=True)
    payment_password = TextField(required=False, allow_blank=True, max_length=12, write_only=True)

    def validate_store(self, value: Any) -> str:
        if "\x00" in value:
            raise serializers.ValidationError(_("Contains a NUL character."))
        return str(value)


class RefundLineInput(StrictSerializer):
    line_id = CountField(min_value=1)
    amount = AmountField(positive=True)


class RefundInput(StrictSerializer):
    refund_no = TextField(max_length=64)
    amount = AmountField(positive=True)
    reason = TextField(required=False, allow_blank=True, max_length=255)
    lines = serializers.ListField(child=RefundLineInput(), required=False, max_length=MAX_LINES)
    refunded_at = TextField(required=False, allow_blank=True, allow_null=True, max_length=40)


class TopUpInput(StrictSerializer):
    plan_id = CountField(min_value=1)
