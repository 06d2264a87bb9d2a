"""Vendor callbacks (no login: the vendor's signature is the credential)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from huiyuan.platform.api.base import TenantAPIView, query_choice
from huiyuan.platform.api.inputs import StrictSerializer, TextField, validated
from huiyuan.platform.api.pagination import paginated
from huiyuan.platform.api.views import paginate

from .. import services
from ..callbacks import dingtalk_event, wecom_event, wecom_verify
from ..models import Connection, VendorCall
from ..signup import member_from_token, mini_program_signup
from ..wecom_crypto import CallbackRejected


@csrf_exempt
def wecom_callback(request: HttpRequest, connection_id: int) -> HttpResponse:
    params = {k: request.GET.get(k, "") for k in ("msg_signature", "timestamp", "nonce", "echostr")}
    try:
        if request.method == "GET":
            return HttpResponse(wecom_verify(connection_id, params), content_type="text/plain")
        if request.method == "POST":
            wecom_event(connection_id, params, request.body)
            return HttpResponse("", content_type="text/plain")  # acknowledged; no passive reply
    except CallbackRejected as exc:
        return HttpResponse(f"rejected: {exc}", status=403, content_type="text/plain")
    return HttpResponse(status=405)


@csrf_exempt
def dingtalk_callback(request: HttpRequest, connection_id: int) -> HttpResponse:
    if request.method != "POST":
        return HttpResponse(status=405)
    params = {k: request.GET.get(k, "") for k in ("msg_signature", "signature", "timestamp", "timeStamp", "nonce")}
    try:
        return JsonResponse(dingtalk_event(connection_id, params, request.body))
    except CallbackRejected as exc:
        return HttpResponse(f"rejected: {exc}", status=403, content_type="text/plain")


class MiniProgramSignupInput(StrictSerializer):
    code = TextField(max_length=128, help_text="wx.login() code")
    phone_code = TextField(
        max_length=128,
        required=False,
        allow_blank=True,
        default="",
        help_text="getPhoneNumber code; needed the first time",
    )
    name = TextField(max_length=100, required=False, allow_blank=True, default="")


class MiniProgramSignupView(APIView):
    """The merchant's mini program signs a person up (or in): no API key, WeChat vouches for them."""

    authentication_classes: list[type] = []
    permission_classes = [AllowAny]

    @extend_schema(
        request=MiniProgramSignupInput,
        responses={
            200: {
                "type": "object",
                "properties": {
                    "created": {"type": "boolean"},
                    "member": {"type": "object"},
                    "token": {"type": "string"},
                },
            }
        },
    )
    def post(self, request: Request) -> Response:
        return Response(mini_program_signup(**validated(MiniProgramSignupInput, request.data)))


class MiniProgramMeView(APIView):
    """The signed-in member's card, balances and unread inbox messages (``X-Member-Token``)."""

    authentication_classes: list[type] = []
    permission_classes = [AllowAny]

    @extend_schema(
        parameters=[OpenApiParameter("X-Member-Token", str, OpenApiParameter.HEADER, required=True)],
        responses={200: {"type": "object"}, 401: {"type": "object"}},
    )
    def get(self, request: Request) -> Response:
        from huiyuan.automation.models import Message
        from huiyuan.members.codes import member_code_for

        member = member_from_token(request.headers.get("X-Member-Token", ""))
        if member is None:
            message = _("Sign in again from the mini program.")
            return Response({"error": {"code": "NOT_AUTHENTICATED", "message": message, "fields": {}}}, status=401)
        return Response(
            {
                "card_no": member.card_no,
                "member_code": member_code_for(member.pk),
                "name": member.name,
                "points": member.points_balance,
                "stored_value": str(member.stored_principal + member.stored_bonus),
                "tier": member.tier.name if member.tier else "",
                "unread_messages": Message.objects.filter(member=member, channel="inbox", read_at__isnull=True).count(),
            }
        )


# ---- managing integrations over the API (HQ / owner sessions; API keys never get this) ---------------
class ConnectionSerializer(serializers.ModelSerializer):
    class Meta:
        model = Connection
        fields = ["id", "provider", "name", "enabled", "settings", "last_test_at", "last_test_ok", "last_test_message"]


class ConnectionInput(StrictSerializer):
    provider = TextField(max_length=40)
    name = TextField(max_length=100)
    credentials = serializers.DictField(
        child=serializers.CharField(allow_blank=True),
        required=False,
        default=dict,
        help_text="secret fields left empty keep their stored value",
    )
    settings = serializers.DictField(child=serializers.CharField(allow_blank=True), required=False, default=dict)


class VendorCallSerializer(serializers.ModelSerializer):
    class Meta:
        model = VendorCall
        fields = [
            "id",
            "connection_id",
            "provider",
            "operation",
            "recipient",
            "status",
            "vendor_message_id",
            "error_code",
            "error_message",
            "duration_ms",
            "reference",
            "created_at",
        ]


class ConnectionListView(TenantAPIView):
    operation = "platform.integrations.manage"

    @extend_schema(operation_id="v1_integrations_connections_list", responses=ConnectionSerializer(many=True))
    def get(self, request: Request) -> Response:
        return Response(ConnectionSerializer(services.connection_list(actor=request.user), many=True).data)

    @extend_schema(
        request=ConnectionInput,
        responses={201: ConnectionSerializer},
        description="Saves, then tests the connection with the vendor at once.",
    )
    def post(self, request: Request) -> Response:
        saved = services.connection_save(actor=request.user, **validated(ConnectionInput, request.data))
        tested = services.connection_test(actor=request.user, connection_id=saved.pk)
        return Response(ConnectionSerializer(tested).data, status=status.HTTP_201_CREATED)


class ConnectionTestView(TenantAPIView):
    operation = "platform.integrations.manage"

    @extend_schema(request=None, responses=ConnectionSerializer)
    def post(self, request: Request, connection_id: int) -> Response:
        return Response(
            ConnectionSerializer(services.connection_test(actor=request.user, connection_id=connection_id)).data
        )


class VendorCallListView(TenantAPIView):
    operation = "platform.integrations.manage"

    @extend_schema(
        parameters=[OpenApiParameter("status", str, enum=list(VendorCall.Status.values))],
        responses=paginated(VendorCallSerializer),
    )
    def get(self, request: Request) -> Response:
        wanted = query_choice(request, "status", tuple(VendorCall.Status.values))
        return paginate(self, request, services.call_log(actor=request.user, status=wanted), VendorCallSerializer)
