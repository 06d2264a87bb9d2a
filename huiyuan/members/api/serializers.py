from __future__ import annotations

from rest_framework import serializers

from ..models import Member, Store
from ..selectors import visible_phone


class StoreSerializer(serializers.ModelSerializer):
    class Meta:
        model = Store
        fields = ["id", "code", "name", "region", "address", "status", "created_at", "updated_at"]
        read_only_fields = ["id", "created_at", "updated_at"]


class StoreWriteSerializer(serializers.Serializer):
    """Types only: the service validates content, so every bad field is reported at once."""

    code = serializers.CharField(required=False, allow_blank=True)
    name = serializers.CharField(required=False, allow_blank=True)
    region = serializers.CharField(required=False, allow_blank=True)
    address = serializers.CharField(required=False, allow_blank=True)
    status = serializers.CharField(required=False)


class MemberSerializer(serializers.ModelSerializer):
    phone = serializers.SerializerMethodField()
    home_store: serializers.SlugRelatedField[Store] = serializers.SlugRelatedField(slug_field="code", read_only=True)

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
            "status",
            "consent_sms",
            "consent_wechat",
            "consent_email",
            "created_at",
        ]

    def get_phone(self, obj: Member) -> str:
        return visible_phone(self.context["request"].user, obj)


class MemberEnrollSerializer(serializers.Serializer):
    phone = serializers.CharField(max_length=40)
    name = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    gender = serializers.ChoiceField(choices=Member.Gender.choices, required=False, default=Member.Gender.UNKNOWN)
    birthday = serializers.DateField(required=False, allow_null=True, default=None)
    home_store_id = serializers.IntegerField(required=False, allow_null=True, default=None)
    consent_sms = serializers.BooleanField(required=False, default=False)
