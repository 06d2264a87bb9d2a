"""Members API: thin views over the members services and selectors."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from huiyuan.platform.api.base import TenantAPIView
from huiyuan.platform.api.views import paginate
from huiyuan.platform.downloads import file_download
from huiyuan.platform.errors import NotFound, ValidationFailed
from huiyuan.platform.idempotency import idempotent

from .. import custom_fields, exports, imports, segments, selectors, services, stats, stores, tags
from ..fields import registry
from ..models import Member, MemberHistory, Order
from .serializers import (
    CustomFieldSerializer,
    CustomFieldWriteSerializer,
    ImportJobSerializer,
    MemberHistorySerializer,
    MemberSerializer,
    MemberWriteSerializer,
    SegmentSerializer,
    StoreSerializer,
    StoreWriteSerializer,
    TagSerializer,
    profile_data,
)


def _body(request: Request) -> dict[str, Any]:
    if not isinstance(request.data, dict):
        raise ValidationFailed(fields={"body": [_("Send a JSON object.")]})
    return request.data


def _validated(serializer_class: type[serializers.Serializer], data: Any, **kwargs: Any) -> dict[str, Any]:
    serializer = serializer_class(data=data, **kwargs)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


class StoreListView(TenantAPIView):
    operations = {"GET": "platform.store.view", "POST": "platform.store.manage"}

    @extend_schema(responses=StoreSerializer(many=True), parameters=[OpenApiParameter("search", str)])
    def get(self, request: Request) -> Response:
        qs = stores.store_list(actor=request.user, search=request.query_params.get("search", ""))
        return paginate(self, request, qs, StoreSerializer)

    @extend_schema(request=StoreWriteSerializer, responses={201: StoreSerializer})
    @idempotent()
    def post(self, request: Request) -> Response:
        store = stores.store_create(actor=request.user, **_validated(StoreWriteSerializer, request.data))
        return Response(StoreSerializer(store).data, status=status.HTTP_201_CREATED)


class StoreDetailView(TenantAPIView):
    operations = {"GET": "platform.store.view", "PATCH": "platform.store.manage"}

    @extend_schema(responses=StoreSerializer)
    def get(self, request: Request, store_id: int) -> Response:
        return Response(StoreSerializer(stores.store_get(actor=request.user, store_id=store_id)).data)

    @extend_schema(request=StoreWriteSerializer, responses=StoreSerializer)
    def patch(self, request: Request, store_id: int) -> Response:
        stores.store_get(actor=request.user, store_id=store_id)  # 404 unless visible
        data = _validated(StoreWriteSerializer, request.data, partial=True)
        return Response(StoreSerializer(stores.store_update(actor=request.user, store_id=store_id, **data)).data)


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
            store_id=int(store) if store and store.isdecimal() else None,
        ).prefetch_related("member_tags__tag")
        return paginate(self, request, qs, MemberSerializer)

    @extend_schema(request=MemberWriteSerializer, responses={201: MemberSerializer})
    @idempotent()
    def post(self, request: Request) -> Response:
        data = _validated(MemberWriteSerializer, request.data)
        channel = Member.Channel.API if request.auth is not None else Member.Channel.STORE
        member = services.member_enroll(actor=request.user, data=data, channel=channel, source=_source(request))
        return Response(MemberSerializer(member, context={"request": request}).data, status=status.HTTP_201_CREATED)


def _source(request: Request) -> str:
    return "api" if request.auth is not None else "console"


class MemberDetailView(TenantAPIView):
    operations = {"GET": "members.member.view", "PATCH": "members.member.update", "DELETE": "members.member.delete"}

    @extend_schema(responses=MemberSerializer)
    def get(self, request: Request, member_id: int) -> Response:
        member = selectors.member_access_by_id(actor=request.user, member_id=member_id)
        return Response(MemberSerializer(member, context={"request": request}).data)

    @extend_schema(request=MemberWriteSerializer, responses=MemberSerializer)
    def patch(self, request: Request, member_id: int) -> Response:
        data = {k: v for k, v in _body(request).items() if k in MemberWriteSerializer().fields}
        _validated(MemberWriteSerializer, data, partial=True)
        member = services.member_update(actor=request.user, member_id=member_id, data=data, source=_source(request))
        return Response(MemberSerializer(member, context={"request": request}).data)

    @extend_schema(responses={204: None})
    def delete(self, request: Request, member_id: int) -> Response:
        services.member_delete(actor=request.user, member_id=member_id, source=_source(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class MemberProfileView(TenantAPIView):
    operation = "members.member.view"

    def get(self, request: Request, member_id: int) -> Response:
        member = selectors.member_access_by_id(actor=request.user, member_id=member_id)
        return Response(
            profile_data(
                member,
                request,
                fields=custom_fields.custom_field_list(),
                orders=Order.objects.filter(member=member).prefetch_related("lines").select_related("store")[:20],
                history=MemberHistory.objects.filter(member_id=member.pk)[:50],
            )
        )


class MemberHistoryView(TenantAPIView):
    operation = "members.member.view"

    @extend_schema(responses=MemberHistorySerializer(many=True))
    def get(self, request: Request, member_id: int) -> Response:
        member = selectors.member_access_by_id(actor=request.user, member_id=member_id)
        return paginate(self, request, MemberHistory.objects.filter(member_id=member.pk), MemberHistorySerializer)


class MemberMergeView(TenantAPIView):
    operation = "members.member.delete"

    class Input(serializers.Serializer):
        keep_id = serializers.IntegerField()
        merge_id = serializers.IntegerField()

    @extend_schema(request=Input, responses=MemberSerializer)
    def post(self, request: Request) -> Response:
        data = _validated(self.Input, request.data)
        member = services.member_merge(actor=request.user, source=_source(request), **data)
        return Response(MemberSerializer(member, context={"request": request}).data)


class MemberTagView(TenantAPIView):
    operation = "members.member.update"

    def put(self, request: Request, member_id: int, tag_id: int) -> Response:
        created = tags.tag_apply(actor=request.user, member_id=member_id, tag_id=tag_id)
        return Response({"applied": created})

    def delete(self, request: Request, member_id: int, tag_id: int) -> Response:
        tags.tag_remove(actor=request.user, member_id=member_id, tag_id=tag_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


# ---- custom fields ----------------------------------------------------------------------------
class CustomFieldListView(TenantAPIView):
    operations = {"GET": "members.member.view", "POST": "members.field.manage"}

    @extend_schema(responses=CustomFieldSerializer(many=True))
    def get(self, request: Request) -> Response:
        include = request.query_params.get("archived") == "1"
        data = CustomFieldSerializer(custom_fields.custom_field_list(include_archived=include), many=True).data
        types = [{"type": k, "label": str(t.label), "operators": t.operators} for k, t in registry.all_types().items()]
        return Response({"results": data, "types": types})

    @extend_schema(request=CustomFieldWriteSerializer, responses={201: CustomFieldSerializer})
    def post(self, request: Request) -> Response:
        data = _validated(CustomFieldWriteSerializer, request.data)
        field = custom_fields.custom_field_create(
            actor=request.user,
            label=data.get("label", ""),
            field_type=data.get("field_type", ""),
            key=data.get("key"),
            required=data.get("required", False),
            unique=data.get("unique", False),
            config=data.get("config"),
            help_text=data.get("help_text", ""),
        )
        return Response(CustomFieldSerializer(field).data, status=status.HTTP_201_CREATED)


class CustomFieldDetailView(TenantAPIView):
    operation = "members.field.manage"

    @extend_schema(request=CustomFieldWriteSerializer, responses=CustomFieldSerializer)
    def patch(self, request: Request, field_id: int) -> Response:
        data = _validated(CustomFieldWriteSerializer, request.data, partial=True)
        if "field_type" in data or "key" in data:
            raise ValidationFailed(fields={"field_type": [_("The key and type of a field cannot change.")]})
        field = custom_fields.custom_field_update(actor=request.user, field_id=field_id, **data)
        if "archived" in _body(request):
            field = custom_fields.custom_field_set_archived(
                actor=request.user, field_id=field_id, archived=bool(_body(request)["archived"])
            )
        return Response(CustomFieldSerializer(field).data)


class CustomFieldOrderView(TenantAPIView):
    operation = "members.field.manage"

    def post(self, request: Request) -> Response:
        ids = _body(request).get("order")
        if not isinstance(ids, list) or not all(isinstance(i, int) for i in ids):
            raise ValidationFailed(fields={"order": [_("A list of field ids.")]})
        custom_fields.custom_field_reorder(actor=request.user, ordered_ids=ids)
        return Response(CustomFieldSerializer(custom_fields.custom_field_list(), many=True).data)


# ---- tags and segments --------------------------------------------------------------------------
class TagListView(TenantAPIView):
    operations = {"GET": "members.member.view", "POST": "members.segment.manage"}

    @extend_schema(responses=TagSerializer(many=True))
    def get(self, request: Request) -> Response:
        return Response(TagSerializer(tags.tag_list(), many=True).data)

    @extend_schema(request=TagSerializer, responses={201: TagSerializer})
    def post(self, request: Request) -> Response:
        tag = tags.tag_create(
            actor=request.user,
            name=str(_body(request).get("name", "")),
            kind=str(_body(request).get("kind", "manual")),
            rule=_body(request).get("rule"),
            color=str(_body(request).get("color", "")),
        )
        return Response(TagSerializer(tag).data, status=status.HTTP_201_CREATED)


class SegmentListView(TenantAPIView):
    operations = {"GET": "members.member.view", "POST": "members.segment.manage"}

    @extend_schema(operation_id="v1_segments_list", responses=SegmentSerializer(many=True))
    def get(self, request: Request) -> Response:
        return Response(SegmentSerializer(segments.segment_list(actor=request.user), many=True).data)

    def post(self, request: Request) -> Response:
        segment = segments.segment_save(
            actor=request.user,
            name=str(_body(request).get("name", "")),
            rule=_body(request).get("rule"),
            description=str(_body(request).get("description", "")),
        )
        return Response(SegmentSerializer(segment).data, status=status.HTTP_201_CREATED)


class SegmentDetailView(TenantAPIView):
    operations = {"GET": "members.member.view", "PUT": "members.segment.manage"}

    def get(self, request: Request, segment_id: int) -> Response:
        return Response(SegmentSerializer(segments.segment_get(actor=request.user, segment_id=segment_id)).data)

    def put(self, request: Request, segment_id: int) -> Response:
        segments.segment_get(actor=request.user, segment_id=segment_id)
        segment = segments.segment_save(
            actor=request.user,
            segment_id=segment_id,
            name=str(_body(request).get("name", "")),
            rule=_body(request).get("rule"),
            description=str(_body(request).get("description", "")),
        )
        return Response(SegmentSerializer(segment).data)


class SegmentPreviewView(TenantAPIView):
    """Live count and a page of members for a rule (saved or not), within the caller's stores."""

    operation = "members.member.view"

    def post(self, request: Request) -> Response:
        rule = _body(request).get("rule")
        if rule is None and _body(request).get("segment_id"):
            rule = segments.segment_get(actor=request.user, segment_id=int(_body(request)["segment_id"])).rule
        qs = segments.segment_members(actor=request.user, rule=rule).prefetch_related("member_tags__tag")
        return paginate(self, request, qs, MemberSerializer)


class SegmentActionView(TenantAPIView):
    """Act on a segment: run a registered action (``add_tag`` now; campaigns and coupons later)."""

    operation = "members.segment.manage"

    def post(self, request: Request, segment_id: int, action: str) -> Response:
        segment = segments.segment_get(actor=request.user, segment_id=segment_id)
        handler = segments.SEGMENT_ACTIONS.get(action)
        if handler is None:
            raise NotFound()
        params = {k: v for k, v in _body(request).items() if k != "rule"}
        return Response({"result": handler(actor=request.user, rule=segment.rule, **params)})


# ---- import and export --------------------------------------------------------------------------
class ImportListView(TenantAPIView):
    operation = "members.member.import"
    parser_classes = [MultiPartParser, FormParser, JSONParser]

    @extend_schema(
        request={
            "multipart/form-data": {"type": "object", "properties": {"file": {"type": "string", "format": "binary"}}}
        },
        responses={201: ImportJobSerializer},
    )
    def post(self, request: Request) -> Response:
        upload = request.FILES.get("file")
        if upload is None:
            raise ValidationFailed(fields={"file": [_("Attach a CSV or Excel file.")]})
        job = imports.import_upload(
            actor=request.user,
            filename=upload.name or "upload.csv",
            content=upload.read(),
            kind=str(request.POST.get("kind") or "members"),
        )
        return Response(ImportJobSerializer(job).data, status=status.HTTP_201_CREATED)


class ImportDetailView(TenantAPIView):
    operation = "members.member.import"

    def get(self, request: Request, job_id: int) -> Response:
        return Response(ImportJobSerializer(imports.import_access(actor=request.user, job_id=job_id)).data)


class ImportPreviewView(TenantAPIView):
    operation = "members.member.import"

    def get(self, request: Request, job_id: int) -> Response:
        return Response(imports.import_preview(actor=request.user, job_id=job_id))


class ImportStartView(TenantAPIView):
    operation = "members.member.import"

    def post(self, request: Request, job_id: int) -> Response:
        mapping = _body(request).get("mapping")
        if not isinstance(mapping, dict):
            raise ValidationFailed(fields={"mapping": [_("An object from column header to field.")]})
        job = imports.import_start(
            actor=request.user,
            job_id=job_id,
            mapping={str(k): str(v or "") for k, v in mapping.items()},
            upsert_by=str(_body(request).get("upsert_by", "phone")),
            update_existing=bool(_body(request).get("update_existing", True)),
            unknown_members=str(_body(request).get("unknown_members", "create")),
        )
        return Response(ImportJobSerializer(job).data, status=status.HTTP_202_ACCEPTED)


class ImportRetryView(TenantAPIView):
    """Send a stalled import (its worker or message was lost) again."""

    operation = "members.member.import"

    @extend_schema(request=None, responses={202: ImportJobSerializer})
    def post(self, request: Request, job_id: int) -> Response:
        job = imports.import_retry(actor=request.user, job_id=job_id)
        return Response(ImportJobSerializer(job).data, status=status.HTTP_202_ACCEPTED)


class ImportErrorsView(TenantAPIView):
    operation = "members.member.import"

    def get(self, request: Request, job_id: int) -> HttpResponse:
        job = imports.import_access(actor=request.user, job_id=job_id)
        return file_download(imports.error_report_csv(job), f"import-{job.pk}-errors.csv")


class MemberExportView(TenantAPIView):
    operation = "members.member.export"

    def post(self, request: Request) -> HttpResponse:
        file_format = "xlsx" if _body(request).get("format") == "xlsx" else "csv"
        rule = _body(request).get("rule")
        if rule is None and _body(request).get("segment_id"):
            rule = segments.segment_get(actor=request.user, segment_id=int(_body(request)["segment_id"])).rule
        content, _count = exports.export_members(actor=request.user, rule=rule, file_format=file_format)
        return file_download(content, f"members.{file_format}")


class MemberSettingsView(TenantAPIView):
    """Lifecycle thresholds in days since the last purchase (new, active, at risk, dormant)."""

    operations = {"GET": "members.member.view", "PUT": "members.field.manage"}

    def get(self, request: Request) -> Response:
        settings = stats.member_settings()
        return Response({name: getattr(settings, name) for name in stats.LIFECYCLE_FIELDS})

    def put(self, request: Request) -> Response:
        settings = stats.member_settings_update(actor=request.user, **_body(request))
        return Response({name: getattr(settings, name) for name in stats.LIFECYCLE_FIELDS})
