from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from ..services import tenant_signup


class SignupSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100, help_text="Merchant name, e.g. 好味道餐饮")
    subdomain = serializers.CharField(max_length=63, help_text="The console address: <subdomain>.<base domain>")
    owner_phone = serializers.CharField(max_length=40, required=False, allow_blank=True, default="")
    owner_email = serializers.CharField(max_length=254, required=False, allow_blank=True, default="")
    password = serializers.CharField(max_length=128, write_only=True, style={"input_type": "password"})


class SignupResultSerializer(serializers.Serializer):
    tenant_id = serializers.IntegerField()
    name = serializers.CharField()
    domain = serializers.CharField()
    console_url = serializers.CharField()
    owner_login = serializers.CharField()


class SignupView(APIView):
    """Public site: a merchant signs up and gets its own space at once."""

    authentication_classes: list[type] = []
    permission_classes = [AllowAny]

    @extend_schema(request=SignupSerializer, responses={201: SignupResultSerializer})
    def post(self, request: Request) -> Response:
        data = SignupSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        result = tenant_signup(**data.validated_data)
        return Response(
            SignupResultSerializer(
                {
                    "tenant_id": result.tenant.pk,
                    "name": result.tenant.name,
                    "domain": result.domain,
                    "console_url": result.console_url,
                    "owner_login": result.owner_login,
                }
            ).data,
            status=status.HTTP_201_CREATED,
        )
