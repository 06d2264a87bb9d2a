from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from huiyuan.platform.api.base import TenantAPIView
from huiyuan.platform.api.views import paginate
from huiyuan.platform.idempotency import idempotent

from .. import selectors, services, stores
from ..models import Member
from .serializers import MemberEnrollSerializer, MemberSerializer, StoreSerializer, StoreWriteSerializer


class StoreListView(TenantAPIView):
    operations = {"GET": "platform.store.view", "POST": "platform.store.manage"}

    @extend_schema(responses=StoreSerializer(many=True), parameters=[OpenApiParameter("search", str)])
    def get(self, request: Request) -> Response:
        qs = stores.store_list(actor=request.user, search=request.query_params.get("search", ""))
        return paginate(self, request, qs, StoreSerializer)

    @extend_schema(request=StoreWriteSerializer, responses={201: StoreSerializer})
    @idempotent()
    def post(self, request: Request) -> Response:
        data = StoreWriteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        store = stores.store_create(actor=request.user, **data.validated_data)
        return Response(StoreSerializer(store).data, status=status.HTTP_201_CREATED)


class StoreDetailView(TenantAPIView):
    operations = {"GET": "platform.store.view", "PATCH": "platform.store.manage"}

    @extend_schema(responses=StoreSerializer)
    def get(self, request: Request, store_id: int) -> Response:
        return Response(StoreSerializer(stores.store_get(actor=request.user, store_id=store_id)).data)

    @extend_schema(request=StoreWriteSerializer, responses=StoreSerializer)
    def patch(self, request: Request, store_id: int) -> Response:
        stores.store_get(actor=request.user, store_id=store_id)  # 404 unless visible
        data = StoreWriteSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        store = stores.store_update(actor=request.user, store_id=store_id, **data.validated_data)
        return Response(StoreSerializer(store).data)


class MemberListView(TenantAPIView):
    operations = {"GET": "members.member.view", "POST": "members.member.create"}

    @extend_schema(
        responses=MemberSerializer(many=True),
        parameters=[
            OpenApiParameter("search", str, description="phone, card number or name"),
            OpenApiParameter("store", int),
        ],
    )
    def get(self, request: Request) -> Response:
        store = request.query_params.get("store")
        qs = selectors.member_list(
            actor=request.user,
            search=request.query_params.get("search", ""),
            store_id=int(store) if store and store.isdigit() else None,
        )
        return paginate(self, request, qs, MemberSerializer)

    @extend_schema(request=MemberEnrollSerializer, responses={201: MemberSerializer})
    @idempotent()
    def post(self, request: Request) -> Response:
        data = MemberEnrollSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        channel = Member.Channel.API if request.auth is not None else Member.Channel.STORE
        member = services.member_enroll(actor=request.user, channel=channel, **data.validated_data)
        return Response(MemberSerializer(member, context={"request": request}).data, status=status.HTTP_201_CREATED)


class MemberDetailView(TenantAPIView):
    operation = "members.member.view"

    @extend_schema(responses=MemberSerializer)
    def get(self, request: Request, member_id: int) -> Response:
        member = selectors.member_access_by_id(actor=request.user, member_id=member_id)
        return Response(MemberSerializer(member, context={"request": request}).data)
