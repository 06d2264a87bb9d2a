from __future__ import annotations

from typing import Any

from rest_framework import serializers

from huiyuan.platform.api.inputs import CountField, StrictSerializer, TextField

from ..custom_fields import display_custom_values
from ..models import CustomField, ImportJob, Member, MemberHistory, Order, OrderLine, Refund, Segment, Store, Tag
from ..selectors import visible_phone
from ..tables import ENCODINGS


class StoreSerializer(serializers.ModelSerializer):
    class Meta:
        model = Store
        fields = ["id", "code", "name", "region", "address", "status", "created_at", "updated_at"]
        read_only_fields = ["id", "created_at", "updated_at"]


class StoreWriteSerializer(StrictSerializer):
    """Types only: the service validates content, so every bad field is reported at once."""

    code = TextField(required=False, allow_blank=True, max_length=32)
    name = TextField(required=False, allow_blank=True, max_length=100)
    region = TextField(required=False, allow_blank=True, max_length=100)
    address = TextField(required=False, allow_blank=True, max_length=255)
    status = TextField(required=False, max_length=16)


class TagRefSerializer(serializers.ModelSerializer):
    class Meta:
        model = Tag
        fields = ["id", "name", "kind", "color"]


class MemberSerializer(serializers.ModelSerializer):
    phone = serializers.SerializerMethodField()
    home_store: serializers.SlugRelatedField[Store] = serializers.SlugRelatedField(slug_field="code", read_only=True)
    tags = serializers.SerializerMethodField()
    average_spend = serializers.DecimalField(max_digits=14, decimal_places=2, read_only=True)

    class Meta:
        model = Member
        fields = [
            "id",
            "card_no",
            "name",
            "phone",
            "gender",
            "birthday",
            "province",
            "city",
            "channel",
            "home_store",
            "home_store_id",
            "status",
            "email",
            "consent_sms",
            "consent_wechat",
            "consent_email",
            "custom_fields",
            "created_at",
            "updated_at",
            "first_purchase_at",
            "last_purchase_at",
            "order_count",
            "total_spend",
            "average_spend",
            "r_score",
            "f_score",
            "m_score",
            "lifecycle",
            "points_balance",
            "stored_principal",
            "stored_bonus",
            "tags",
        ]

    def get_phone(self, obj: Member) -> str:
        return visible_phone(self.context["request"].user, obj)

    def get_tags(self, obj: Member) -> list[dict[str, Any]]:
        return [TagRefSerializer(mt.tag).data for mt in obj.member_tags.all()]


class MemberWriteSerializer(StrictSerializer):
    """Types only; ``services.clean_core`` and the form engine validate content and report every
    field at once."""

    phone = TextField(required=False, allow_blank=True, max_length=32)
    name = TextField(required=False, allow_blank=True, max_length=100)
    gender = TextField(required=False, allow_blank=True, max_length=16)
    birthday = TextField(required=False, allow_blank=True, allow_null=True, max_length=32)
    province = TextField(required=False, allow_blank=True, max_length=50)
    city = TextField(required=False, allow_blank=True, max_length=50)
    home_store_id = CountField(required=False, allow_null=True, min_value=1)
    status = TextField(required=False, max_length=16)
    email = TextField(required=False, allow_blank=True, max_length=254)
    consent_sms = serializers.BooleanField(required=False)
    consent_wechat = serializers.BooleanField(required=False)
    consent_email = serializers.BooleanField(required=False)
    custom_fields = serializers.DictField(required=False)


class MemberHistorySerializer(serializers.ModelSerializer):
    class Meta:
        model = MemberHistory
        fields = ["id", "action", "changes", "actor_label", "source", "created_at"]


class OrderLineSerializer(serializers.ModelSerializer):
    class Meta:
        model = OrderLine
        fields = ["id", "sku", "name", "category", "quantity", "amount", "refunded_amount"]


class OrderSerializer(serializers.ModelSerializer):
    store = serializers.CharField(source="store.code", read_only=True)
    lines = OrderLineSerializer(many=True, read_only=True)

    class Meta:
        model = Order
        fields = [
            "id",
            "order_no",
            "store",
            "member_id",
            "total_amount",
            "paid_amount",
            "refunded_amount",
            "payment_methods",
            "status",
            "source",
            "paid_at",
            "lines",
            "created_at",
        ]


class RefundSerializer(serializers.ModelSerializer):
    order_no = serializers.CharField(source="order.order_no", read_only=True)

    class Meta:
        model = Refund
        fields = ["id", "refund_no", "order_no", "amount", "reason", "lines", "refunded_at", "created_at"]


class RefundWriteSerializer(serializers.Serializer):
    refund_no = serializers.CharField()
    amount = serializers.CharField()
    reason = serializers.CharField(required=False, allow_blank=True, default="")
    lines = serializers.ListField(child=serializers.DictField(), required=False, default=list)
    refunded_at = serializers.CharField(required=False, allow_null=True, default=None)


class CustomFieldSerializer(serializers.ModelSerializer):
    archived = serializers.SerializerMethodField()

    class Meta:
        model = CustomField
        fields = [
            "id",
            "key",
            "label",
            "field_type",
            "required",
            "unique",
            "config",
            "help_text",
            "position",
            "archived",
            "created_at",
        ]

    def get_archived(self, obj: CustomField) -> bool:
        return obj.archived_at is not None


class CustomFieldWriteSerializer(StrictSerializer):
    # DRF's Field has attributes named label, required and help_text; these fields shadow them.
    label = TextField(required=False, allow_blank=True, max_length=100)  # type: ignore[assignment]
    field_type = TextField(required=False, max_length=32)
    key = TextField(required=False, allow_blank=True, allow_null=True, max_length=64)
    required = serializers.BooleanField(required=False)  # type: ignore[assignment]
    unique = serializers.BooleanField(required=False)
    config = serializers.DictField(required=False)
    help_text = TextField(required=False, allow_blank=True, max_length=500)  # type: ignore[assignment]


class TagSerializer(serializers.ModelSerializer):
    member_count = serializers.IntegerField(read_only=True, default=0)

    class Meta:
        model = Tag
        fields = ["id", "name", "kind", "color", "rule", "evaluated_at", "created_at", "member_count"]


class SegmentSerializer(serializers.ModelSerializer):
    class Meta:
        model = Segment
        fields = ["id", "name", "description", "rule", "created_at", "updated_at"]


class ImportJobSerializer(serializers.ModelSerializer):
    stalled = serializers.SerializerMethodField(help_text="queued or running with no progress for a while: retry it")
    error_rows = serializers.IntegerField(read_only=True, help_text="rows with errors; error_count counts the errors")

    class Meta:
        model = ImportJob
        fields = [
            "id",
            "kind",
            "status",
            "stalled",
            "attempts",
            "original_name",
            "mapping",
            "options",
            "total_rows",
            "processed_rows",
            "created_count",
            "updated_count",
            "unchanged_count",
            "error_count",
            "error_rows",
            "message",
            "created_at",
            "started_at",
            "finished_at",
        ]

    def get_stalled(self, job: ImportJob) -> bool:
        from ..imports import job_stalled

        return job_stalled(job)


def profile_data(member: Member, request: Any, *, fields: Any, orders: Any, history: Any) -> dict[str, Any]:
    """The 360° view: basic info, purchase statistics, recent purchases, tags, custom fields,
    recent history. Points, tier, stored value and coupons join when the loyalty ledgers exist."""
    context = {"request": request}
    return {
        "member": MemberSerializer(member, context=context).data,
        "custom_fields": display_custom_values(member, fields),
        "recent_orders": OrderSerializer(orders, many=True).data,
        "history": MemberHistorySerializer(history, many=True).data,
    }


class TagInput(StrictSerializer):
    name = TextField(max_length=50)
    kind = serializers.ChoiceField(choices=["manual", "auto"], required=False, default="manual")
    rule = serializers.JSONField(required=False, allow_null=True, help_text="segment rule, for automatic tags")
    color = TextField(required=False, allow_blank=True, max_length=16, default="")


class SegmentInput(StrictSerializer):
    name = TextField(max_length=100)
    rule = serializers.JSONField(help_text="and / or / not groups of {field, op, value}")
    description = TextField(required=False, allow_blank=True, max_length=500, default="")


class SegmentQueryInput(StrictSerializer):
    """Which members: a rule, or a saved segment by id (none: every member in the caller's stores)."""

    rule = serializers.JSONField(required=False, allow_null=True)
    segment_id = CountField(required=False, min_value=1)


class ExportInput(SegmentQueryInput):
    format = serializers.ChoiceField(choices=["csv", "xlsx"], required=False, default="csv")


class FieldOrderInput(StrictSerializer):
    order = serializers.ListField(child=CountField(min_value=1), max_length=500)


class CustomFieldPatchInput(CustomFieldWriteSerializer):
    archived = serializers.BooleanField(required=False)


class ImportStartInput(StrictSerializer):
    mapping = serializers.DictField(child=TextField(allow_blank=True, max_length=100), help_text="column -> field")
    upsert_by = serializers.ChoiceField(choices=["phone", "card_no"], required=False, default="phone")
    update_existing = serializers.BooleanField(required=False, default=True)
    unknown_members = serializers.ChoiceField(choices=["create", "report"], required=False, default="create")


class MemberSettingsInput(StrictSerializer):
    new_days = CountField(required=False, min_value=1, max_value=3650)
    active_days = CountField(required=False, min_value=1, max_value=3650)
    at_risk_days = CountField(required=False, min_value=1, max_value=3650)
    dormant_days = CountField(required=False, min_value=1, max_value=3650)


class ImportEncodingInput(StrictSerializer):
    encoding = serializers.ChoiceField(choices=list(ENCODINGS))
