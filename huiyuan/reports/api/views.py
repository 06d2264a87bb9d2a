"""Reports over the API: the same registry and scoping as the console, as JSON."""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from huiyuan.platform.api.base import TenantAPIView

from ..engine import REPORT_TYPES, clean_params, report_run


class ReportListView(TenantAPIView):
    operation = "reports.report.view"

    @extend_schema(
        operation_id="v1_reports_list",
        responses={200: {"type": "array", "items": {"type": "object", "additionalProperties": True}}},
    )
    def get(self, request: Request) -> Response:
        return Response(
            [
                {"key": t.key, "label": str(t.label), "description": str(t.description), "params": list(t.extra_params)}
                for t in REPORT_TYPES.values()
            ]
        )


class ReportRunView(TenantAPIView):
    operation = "reports.report.view"

    @extend_schema(
        operation_id="v1_reports_run",
        parameters=[
            OpenApiParameter("start", str, description="YYYY-MM-DD"),
            OpenApiParameter("end", str, description="YYYY-MM-DD"),
            OpenApiParameter("granularity", str, enum=["day", "week", "month"]),
            OpenApiParameter("stores", int, many=True),
            OpenApiParameter("tiers", str, many=True),
        ],
        responses={200: OpenApiTypes.OBJECT},
    )
    def get(self, request: Request, key: str) -> Response:
        query = request.query_params
        raw: dict[str, Any] = {k: v for k, v in query.items() if k not in ("stores", "tiers")}
        raw["stores"], raw["tiers"] = query.getlist("stores"), query.getlist("tiers")
        result = report_run(actor=request.user, key=key, params=clean_params(raw))
        return Response(
            {
                "title": result.title,
                "columns": [{"key": k, "label": str(label)} for k, label in result.columns],
                "rows": result.plain_rows(),
                "chart": result.chart,
                "note": result.note,
            }
        )
