"""Tenant API for the platform: me, roles, staff, API keys, audit log. Thin: validate, call one
service or selector, serialize."""

from __future__ import annotations

from typing import Any

from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response

from .. import apikeys, audit, staff
from ..access import actor_operations, sees_all_stores, store_ids_subquery
from ..errors import ValidationFailed
from ..idempotency import idempotent
from .base import TenantAPIView, query_choice, query_int
from .pagination import StandardPagination, paginated
from .serializers import (
    ApiKeyCreateSerializer,
    ApiKeyIssuedSerializer,
    ApiKeySerializer,
    AuditEntrySerializer,
    DeliveryRetriedSerializer,
    DeliveryRetrySerializer,
    EventDeliverySerializer,
    InvitationSerializer,
    MeSerializer,
    OperationSerializer,
    RoleSerializer,
    StaffInviteSerializer,
    StaffSerializer,
    StaffUpdateSerializer,
)


def paginate(view: TenantAPIView, request: Request, qs: Any, serializer_class: Any) -> Response:
    paginator: StandardPagination = StandardPagination()
    page: Any = paginator.paginate_queryset(qs, request, view=view)
    data = serializer_class(page, many=True, context={"request": request}).data
    return paginator.get_paginated_response(data)


class MeView(TenantAPIView):
    operation = "platform.store.view"

    @extend_schema(responses=MeSerializer)
    def get(self, request: Request) -> Response:
        actor: Any = request.user
        store_ids = None if sees_all_stores(actor) else sorted(store_ids_subquery(actor).values_list(flat=True))
        return Response(
            MeSerializer(
                {
                    "id": actor.pk,
                    "name": str(actor),
                    "role": actor.role,
                    "operations": sorted(actor_operations(actor)),
                    "store_ids": store_ids,
                    "tenant": request.tenant.name,  # type: ignore[attr-defined]
                }
            ).data
        )


class RoleListView(TenantAPIView):
    operation = "platform.staff.view"

    @extend_schema(
        responses=inline_serializer(
            "RoleTable", fields={"roles": RoleSerializer(many=True), "operations": OperationSerializer(many=True)}
        )
    )
    def get(self, request: Request) -> Response:
        return Response({"roles": RoleSerializer.all_roles(), "operations": OperationSerializer.all_operations()})


class StaffListView(TenantAPIView):
    operations = {"GET": "platform.staff.view", "POST": "platform.staff.manage"}

    @extend_schema(
        operation_id="v1_staff_list", responses=paginated(StaffSerializer), parameters=[OpenApiParameter("search", str)]
    )
    def get(self, request: Request) -> Response:
        qs = staff.staff_list(actor=request.user, search=request.query_params.get("search", ""))
        return paginate(self, request, qs, StaffSerializer)

    @extend_schema(request=StaffInviteSerializer, responses={201: InvitationSerializer})
    @idempotent()
    def post(self, request: Request) -> Response:
        data = StaffInviteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        invitation = staff.staff_invite(actor=request.user, **data.validated_data)
        body = InvitationSerializer(
            {"staff": invitation.staff, "invite_token": invitation.token, "invite_path": f"/invite/{invitation.token}"},
            context={"request": request},
        ).data
        return Response(body, status=status.HTTP_201_CREATED)


class StaffDetailView(TenantAPIView):
    operations = {"GET": "platform.staff.view", "PATCH": "platform.staff.manage"}

    @extend_schema(responses=StaffSerializer)
    def get(self, request: Request, staff_id: int) -> Response:
        member = staff.staff_get(actor=request.user, staff_id=staff_id)
        return Response(StaffSerializer(member, context={"request": request}).data)

    @extend_schema(request=StaffUpdateSerializer, responses=StaffSerializer)
    def patch(self, request: Request, staff_id: int) -> Response:
        data = StaffUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        updated = staff.staff_update(actor=request.user, staff_id=staff_id, **data.validated_data)
        return Response(StaffSerializer(updated, context={"request": request}).data)


class ApiKeyListView(TenantAPIView):
    operation = "platform.apikey.manage"

    @extend_schema(responses=paginated(ApiKeySerializer))
    def get(self, request: Request) -> Response:
        return paginate(self, request, apikeys.api_key_list(actor=request.user), ApiKeySerializer)

    @extend_schema(request=ApiKeyCreateSerializer, responses={201: ApiKeyIssuedSerializer})
    def post(self, request: Request) -> Response:
        data = ApiKeyCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        issued = apikeys.api_key_create(actor=request.user, **data.validated_data)
        return Response(
            ApiKeyIssuedSerializer({"api_key": issued.api_key, "token": issued.token}).data,
            status=status.HTTP_201_CREATED,
        )


class ApiKeyRevokeView(TenantAPIView):
    operation = "platform.apikey.manage"

    @extend_schema(request=None, responses=ApiKeySerializer)
    def post(self, request: Request, key_id: int) -> Response:
        return Response(ApiKeySerializer(apikeys.api_key_revoke(actor=request.user, key_id=key_id)).data)


class AuditListView(TenantAPIView):
    operation = "platform.audit.view"

    @extend_schema(
        responses=paginated(AuditEntrySerializer),
        parameters=[
            OpenApiParameter("action", str),
            OpenApiParameter("actor", int),
            OpenApiParameter("object_type", str),
            OpenApiParameter("object_id", str),
            OpenApiParameter("since", str),
            OpenApiParameter("until", str),
        ],
    )
    def get(self, request: Request) -> Response:
        p = request.query_params
        qs = audit.audit_list(
            actor=request.user,
            action=p.get("action", ""),
            actor_id=query_int(request, "actor"),
            object_type=p.get("object_type", ""),
            object_id=p.get("object_id", ""),
            since=_query_time(request, "since"),
            until=_query_time(request, "until"),
        )
        return paginate(self, request, qs, AuditEntrySerializer)


def _query_time(request: Request, name: str) -> Any:
    raw = request.query_params.get(name)
    if not raw:
        return None
    try:
        value = parse_datetime(raw)
    except ValueError:
        value = None
    if value is None:
        raise ValidationFailed(fields={name: [_("A time such as 2026-03-08T14:30:00+08:00.")]})
    return value


class EventDeliveryListView(TenantAPIView):
    """Deliveries of this merchant's events to subscribers (automation, integrations, tags):
    ``?status=dead`` lists those that failed for good and wait for a retry."""

    operation = "platform.events.manage"

    @extend_schema(
        responses=paginated(EventDeliverySerializer),
        parameters=[OpenApiParameter("status", str, enum=["pending", "handled", "dead"])],
    )
    def get(self, request: Request) -> Response:
        from ..events.models import Delivery
        from ..events.selectors import delivery_list

        wanted = query_choice(request, "status", tuple(Delivery.Status.values))
        return paginate(self, request, delivery_list(status=wanted), EventDeliverySerializer)


class EventDeliveryRetryView(TenantAPIView):
    """Send dead deliveries again: the given ``ids``, or all of them when none are given."""

    operation = "platform.events.manage"

    @extend_schema(request=DeliveryRetrySerializer, responses=DeliveryRetriedSerializer)
    def post(self, request: Request) -> Response:
        from ..events.services import deliveries_retry

        serializer = DeliveryRetrySerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        ids = serializer.validated_data.get("ids")
        revived = deliveries_retry(delivery_ids=ids)
        audit.audit_record(actor=request.user, action="platform.events.retry", changes={"ids": ids, "revived": revived})
        return Response({"revived": revived})
