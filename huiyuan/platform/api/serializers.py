from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from ..access import can
from ..models import ApiKey, AuditEntry, User
from ..phones import mask_phone
from ..roles import OPERATIONS, ROLE_OPERATIONS, Role
from .inputs import CountField, StrictSerializer, TextField


class StoreRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    code = serializers.CharField()
    name = serializers.CharField()


class StaffSerializer(serializers.ModelSerializer):
    stores = StoreRefSerializer(many=True, read_only=True)
    role_label = serializers.CharField(source="get_role_display", read_only=True)
    phone = serializers.SerializerMethodField()

    class Meta:
        model = User
        fields = [
            "id",
            "username",
            "name",
            "phone",
            "email",
            "role",
            "role_label",
            "stores",
            "is_active",
            "date_joined",
            "last_login",
        ]

    def get_phone(self, obj: User) -> str:
        actor = self.context["request"].user
        if actor.pk == obj.pk or can(actor, "platform.staff.manage"):
            return obj.phone or ""
        return mask_phone(obj.phone)


class StaffInviteSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    role = serializers.ChoiceField(choices=Role.choices)
    phone = serializers.CharField(required=False, allow_blank=True, default="")
    email = serializers.CharField(required=False, allow_blank=True, default="")
    store_ids = serializers.ListField(child=serializers.IntegerField(), required=False, default=list)


class StaffUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100, required=False)
    role = serializers.ChoiceField(choices=Role.choices, required=False)
    store_ids = serializers.ListField(child=serializers.IntegerField(), required=False)
    is_active = serializers.BooleanField(required=False)


class InvitationSerializer(serializers.Serializer):
    staff = StaffSerializer()
    invite_token = serializers.CharField()
    invite_path = serializers.CharField()


class RoleSerializer(serializers.Serializer):
    code = serializers.CharField()
    label = serializers.CharField()  # type: ignore[assignment]  # a field named like Field.label
    operations = serializers.ListField(child=serializers.CharField())

    @staticmethod
    def all_roles() -> list[dict[str, Any]]:
        return [
            {"code": role.value, "label": str(role.label), "operations": sorted(ROLE_OPERATIONS[role])} for role in Role
        ]


class OperationSerializer(serializers.Serializer):
    code = serializers.CharField()
    label = serializers.CharField()  # type: ignore[assignment]  # a field named like Field.label
    api_key_allowed = serializers.BooleanField()

    @staticmethod
    def all_operations() -> list[dict[str, Any]]:
        return [
            {"code": o.code, "label": str(o.label), "api_key_allowed": o.api_key_allowed} for o in OPERATIONS.values()
        ]


class ApiKeySerializer(serializers.ModelSerializer):
    created_by = serializers.CharField(source="created_by.display_name", default="", read_only=True)
    is_active = serializers.BooleanField(read_only=True)

    class Meta:
        model = ApiKey
        fields = [
            "id",
            "name",
            "prefix",
            "scopes",
            "store",
            "created_by",
            "created_at",
            "last_used_at",
            "revoked_at",
            "is_active",
        ]


class ApiKeyCreateSerializer(StrictSerializer):
    """``store`` (the name answers use) or ``store_id``: a key bound to one store. Unknown fields
    are refused, so a misspelt store never silently makes an all-stores key."""

    name = TextField(max_length=100)
    scopes = serializers.ListField(child=TextField(max_length=64), allow_empty=False, max_length=50)
    store_id = CountField(required=False, allow_null=True, min_value=1)
    store = CountField(required=False, allow_null=True, min_value=1, write_only=True)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        store, store_id = attrs.pop("store", None), attrs.get("store_id")
        if store is not None and store_id is not None and store != store_id:
            raise serializers.ValidationError({"store": [_("store and store_id name different stores.")]})
        attrs["store_id"] = store_id if store_id is not None else store
        return attrs


class ApiKeyIssuedSerializer(serializers.Serializer):
    api_key = ApiKeySerializer()
    token = serializers.CharField(help_text="Shown once. Send as `Authorization: Api-Key <token>`.")


class AuditEntrySerializer(serializers.ModelSerializer):
    class Meta:
        model = AuditEntry
        fields = [
            "id",
            "created_at",
            "actor",
            "actor_label",
            "api_key",
            "action",
            "object_type",
            "object_id",
            "object_repr",
            "changes",
            "ip_address",
            "user_agent",
        ]


class MeSerializer(serializers.Serializer):
    id = serializers.IntegerField(allow_null=True)
    name = serializers.CharField()
    role = serializers.CharField(allow_null=True)
    operations = serializers.ListField(child=serializers.CharField())
    store_ids = serializers.ListField(child=serializers.IntegerField(), allow_null=True)
    tenant = serializers.CharField()


class EventDeliverySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    event_id = serializers.IntegerField()
    event_type = serializers.CharField(source="event.event_type")
    event_created_at = serializers.DateTimeField(source="event.created_at")
    subscriber = serializers.CharField()
    status = serializers.CharField()
    attempts = serializers.IntegerField()
    dispatches = serializers.IntegerField()
    next_attempt_at = serializers.DateTimeField()
    handled_at = serializers.DateTimeField(allow_null=True)
    last_error = serializers.CharField()


class DeliveryRetrySerializer(serializers.Serializer):
    ids = serializers.ListField(child=serializers.IntegerField(min_value=1), required=False, max_length=1000)


class DeliveryRetriedSerializer(serializers.Serializer):
    revived = serializers.IntegerField()
