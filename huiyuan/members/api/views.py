"""Members API: thin views over the members services and selectors."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from huiyuan.platform.api.base import TenantAPIView, query_choice, query_int
from huiyuan.platform.api.inputs import validated
from huiyuan.platform.api.pagination import paginated
from huiyuan.platform.api.views import paginate
from huiyuan.platform.downloads import file_download
from huiyuan.platform.errors import NotFound, ValidationFailed
from huiyuan.platform.idempotency import idempotent

from .. import custom_fields, exports, imports, segments, selectors, services, stats, stores, tags
from ..fields import registry
from ..models import Member, Order
from .serializers import (
    CustomFieldPatchInput,
    CustomFieldSerializer,
    CustomFieldWriteSerializer,
    ExportInput,
    FieldOrderInput,
    ImportEncodingInput,
    ImportJobSerializer,
    ImportStartInput,
    MemberHistorySerializer,
    MemberSerializer,
    MemberSettingsInput,
    MemberWriteSerializer,
    SegmentInput,
    SegmentQueryInput,
    SegmentSerializer,
    StoreSerializer,
    StoreWriteSerializer,
    TagInput,
    TagSerializer,
    profile_data,
)


def _body(request: Request) -> dict[str, Any]:
    if not isinstance(request.data, dict):
        raise ValidationFailed(fields={"body": [_("Send a JSON object.")]})
    return request.data


class StoreListView(TenantAPIView):
    operations = {"GET": "platform.store.view", "POST": "platform.store.manage"}

    @extend_schema(
        operation_id="v1_stores_list",
        responses=paginated(StoreSerializer),
        parameters=[OpenApiParameter("search", str)],
    )
    def get(self, request: Request) -> Response:
        qs = stores.store_list(actor=request.user, search=request.query_params.get("search", ""))
        return paginate(self, request, qs, StoreSerializer)

    @extend_schema(request=StoreWriteSerializer, responses={201: StoreSerializer})
    @idempotent()
    def post(self, request: Request) -> Response:
        store = stores.store_create(actor=request.user, **validated(StoreWriteSerializer, request.data))
        return Response(StoreSerializer(store).data, status=status.HTTP_201_CREATED)


class StoreDetailView(TenantAPIView):
    operations = {"GET": "platform.store.view", "PATCH": "platform.store.manage"}

    @extend_schema(responses=StoreSerializer)
    def get(self, request: Request, store_id: int) -> Response:
        return Response(StoreSerializer(stores.store_get(actor=request.user, store_id=store_id)).data)

    @extend_schema(request=StoreWriteSerializer, responses=StoreSerializer)
    def patch(self, request: Request, store_id: int) -> Response:
        stores.store_get(actor=request.user, store_id=store_id)  # 404 unless visible
        data = validated(StoreWriteSerializer, request.data, partial=True)
        return Response(StoreSerializer(stores.store_update(actor=request.user, store_id=store_id, **data)).data)


class MemberListView(TenantAPIView):
    operations = {"GET": "members.member.view", "POST": "members.member.create"}

    @extend_schema(
        operation_id="v1_members_list",
        responses=paginated(MemberSerializer),
        parameters=[
            OpenApiParameter("search", str, description="phone, card number or name"),
            OpenApiParameter("store", int),
        ],
    )
    def get(self, request: Request) -> Response:
        qs = selectors.member_list(
            actor=request.user,
            search=request.query_params.get("search", ""),
            store_id=query_int(request, "store"),
        ).prefetch_related("member_tags__tag")
        return paginate(self, request, qs, MemberSerializer)

    @extend_schema(request=MemberWriteSerializer, responses={201: MemberSerializer})
    @idempotent()
    def post(self, request: Request) -> Response:
        data = validated(MemberWriteSerializer, request.data)
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
        data = validated(MemberWriteSerializer, request.data, partial=True)
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
                history=selectors.member_history(actor=request.user, member=member, limit=50),
            )
        )


class MemberHistoryView(TenantAPIView):
    operation = "members.member.view"

    @extend_schema(responses=paginated(MemberHistorySerializer))
    def get(self, request: Request, member_id: int) -> Response:
        member = selectors.member_access_by_id(actor=request.user, member_id=member_id)
        return paginate(
            self, request, selectors.member_history(actor=request.user, member=member), MemberHistorySerializer
        )


class MemberMergeView(TenantAPIView):
    operation = "members.member.delete"

    class Input(serializers.Serializer):
        keep_id = serializers.IntegerField()
        merge_id = serializers.IntegerField()

    @extend_schema(request=Input, responses=MemberSerializer)
    @idempotent()
    def post(self, request: Request) -> Response:
        data = validated(self.Input, request.data)
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

    @extend_schema(
        responses=inline_serializer(
            "CustomFieldList",
            fields={
                "results": CustomFieldSerializer(many=True),
                "types": serializers.ListField(child=serializers.DictField()),
            },
        ),
        parameters=[OpenApiParameter("archived", str, enum=["0", "1"])],
    )
    def get(self, request: Request) -> Response:
        include = query_choice(request, "archived", ("0", "1")) == "1"
        data = CustomFieldSerializer(custom_fields.custom_field_list(include_archived=include), many=True).data
        types = [{"type": k, "label": str(t.label), "operators": t.operators} for k, t in registry.all_types().items()]
        return Response({"results": data, "types": types})

    @extend_schema(request=CustomFieldWriteSerializer, responses={201: CustomFieldSerializer})
    @idempotent()
    def post(self, request: Request) -> Response:
        data = validated(CustomFieldWriteSerializer, request.data)
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

    @extend_schema(request=CustomFieldPatchInput, responses=CustomFieldSerializer)
    def patch(self, request: Request, field_id: int) -> Response:
        data = validated(CustomFieldPatchInput, request.data, partial=True)
        archived = data.pop("archived", None)
        if "field_type" in data or "key" in data:
            raise ValidationFailed(fields={"field_type": [_("The key and type of a field cannot change.")]})
        field = custom_fields.custom_field_update(actor=request.user, field_id=field_id, **data)
        if archived is not None:
            field = custom_fields.custom_field_set_archived(actor=request.user, field_id=field_id, archived=archived)
        return Response(CustomFieldSerializer(field).data)


class CustomFieldOrderView(TenantAPIView):
    operation = "members.field.manage"

    @extend_schema(request=FieldOrderInput, responses=CustomFieldSerializer(many=True))
    def post(self, request: Request) -> Response:
        ids = validated(FieldOrderInput, request.data)["order"]
        custom_fields.custom_field_reorder(actor=request.user, ordered_ids=ids)
        return Response(CustomFieldSerializer(custom_fields.custom_field_list(), many=True).data)


# ---- tags and segments --------------------------------------------------------------------------
class TagListView(TenantAPIView):
    operations = {"GET": "members.member.view", "POST": "members.segment.manage"}

    @extend_schema(responses=TagSerializer(many=True))
    def get(self, request: Request) -> Response:
        return Response(TagSerializer(tags.tag_list(), many=True).data)

    @extend_schema(request=TagInput, responses={201: TagSerializer})
    @idempotent()
    def post(self, request: Request) -> Response:
        tag = tags.tag_create(actor=request.user, **validated(TagInput, request.data))
        return Response(TagSerializer(tag).data, status=status.HTTP_201_CREATED)


class SegmentListView(TenantAPIView):
    operations = {"GET": "members.segment.view", "POST": "members.segment.manage"}

    @extend_schema(operation_id="v1_segments_list", responses=SegmentSerializer(many=True))
    def get(self, request: Request) -> Response:
        return Response(SegmentSerializer(segments.segment_list(actor=request.user), many=True).data)

    @extend_schema(request=SegmentInput, responses={201: SegmentSerializer})
    @idempotent()
    def post(self, request: Request) -> Response:
        segment = segments.segment_save(actor=request.user, **validated(SegmentInput, request.data))
        return Response(SegmentSerializer(segment).data, status=status.HTTP_201_CREATED)


class SegmentDetailView(TenantAPIView):
    operations = {"GET": "members.segment.view", "PUT": "members.segment.manage"}

    @extend_schema(responses=SegmentSerializer)
    def get(self, request: Request, segment_id: int) -> Response:
        return Response(SegmentSerializer(segments.segment_get(actor=request.user, segment_id=segment_id)).data)

    @extend_schema(request=SegmentInput, responses=SegmentSerializer)
    def put(self, request: Request, segment_id: int) -> Response:
        data = validated(SegmentInput, request.data)
        segments.segment_get(actor=request.user, segment_id=segment_id)
        segment = segments.segment_save(actor=request.user, segment_id=segment_id, **data)
        return Response(SegmentSerializer(segment).data)


def _segment_rule(request: Request, data: dict[str, Any]) -> Any:
    """The rule a request names: given inline, or a saved segment's (within the caller's reach)."""
    if data.get("rule") is None and data.get("segment_id"):
        return segments.segment_get(actor=request.user, segment_id=data["segment_id"]).rule
    return data.get("rule")


class SegmentPreviewView(TenantAPIView):
    """Live count and a page of members for a rule (saved or not), within the caller's stores."""

    operation = "members.segment.view"

    @extend_schema(request=SegmentQueryInput, responses=paginated(MemberSerializer))
    def post(self, request: Request) -> Response:
        rule = _segment_rule(request, validated(SegmentQueryInput, request.data))
        qs = segments.segment_members(actor=request.user, rule=rule).prefetch_related("member_tags__tag")
        return paginate(self, request, qs, MemberSerializer)


class SegmentActionView(TenantAPIView):
    """Act on a segment: run a registered action (``add_tag`` now; campaigns and coupons later)."""

    operation = "members.segment.manage"

    @extend_schema(
        request={"application/json": {"type": "object", "additionalProperties": {"type": "integer"}}},
        responses=inline_serializer("SegmentActionResult", fields={"result": serializers.JSONField()}),
    )
    @idempotent()
    def post(self, request: Request, segment_id: int, action: str) -> Response:
        segment = segments.segment_get(actor=request.user, segment_id=segment_id)
        handler = segments.SEGMENT_ACTIONS.get(action)
        if handler is None:
            raise NotFound()
        params = _action_params(segments.SEGMENT_ACTION_PARAMS[action], request.data)
        return Response({"result": handler(actor=request.user, rule=segment.rule, **params)})


def _action_params(names: tuple[str, ...], body: Any) -> dict[str, int]:
    """The action's parameters are ids: every one present, a whole number, and nothing else."""
    if not isinstance(body, dict):
        raise ValidationFailed(fields={"body": [_("Send a JSON object.")]})
    errors = {str(k): [_("Unknown field.")] for k in body if k not in names}
    for name in names:
        value = body.get(name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            errors[name] = [_("Give the id (a whole number).")]
    if errors:
        raise ValidationFailed(fields=errors)
    return {name: body[name] for name in names}


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

    @extend_schema(request=ImportStartInput, responses={202: ImportJobSerializer})
    def post(self, request: Request, job_id: int) -> Response:
        data = validated(ImportStartInput, request.data)
        job = imports.import_start(actor=request.user, job_id=job_id, **data)
        return Response(ImportJobSerializer(job).data, status=status.HTTP_202_ACCEPTED)


class ImportEncodingView(TenantAPIView):
    """Read an uploaded CSV again in another encoding (the preview names the one detected)."""

    operation = "members.member.import"

    @extend_schema(request=ImportEncodingInput, responses=ImportJobSerializer)
    def post(self, request: Request, job_id: int) -> Response:
        encoding = validated(ImportEncodingInput, request.data)["encoding"]
        job = imports.import_set_encoding(actor=request.user, job_id=job_id, encoding=encoding)
        return Response(ImportJobSerializer(job).data)


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

    @extend_schema(
        request=ExportInput,
        responses={
            (200, "text/csv"): OpenApiTypes.BINARY,
            (200, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"): OpenApiTypes.BINARY,
        },
    )
    def post(self, request: Request) -> HttpResponse:
        data = validated(ExportInput, request.data)
        rule = _segment_rule(request, data)
        content, _count = exports.export_members(actor=request.user, rule=rule, file_format=data["format"])
        return file_download(content, f"members.{data['format']}")


class MemberSettingsView(TenantAPIView):
    """Lifecycle thresholds in days since the last purchase (new, active, at risk, dormant)."""

    operations = {"GET": "members.member.view", "PUT": "members.field.manage"}

    @extend_schema(responses=MemberSettingsInput)
    def get(self, request: Request) -> Response:
        settings = stats.member_settings()
        return Response({name: getattr(settings, name) for name in stats.LIFECYCLE_FIELDS})

    @extend_schema(request=MemberSettingsInput, responses=MemberSettingsInput)
    def put(self, request: Request) -> Response:
        settings = stats.member_settings_update(actor=request.user, **validated(MemberSettingsInput, request.data))
        return Response({name: getattr(settings, name) for name in stats.LIFECYCLE_FIELDS})
