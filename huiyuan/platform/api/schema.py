"""OpenAPI generation for our views. Most tenant endpoints are plain ``APIView``s whose bodies
are JSON objects described in their docstrings; drf-spectacular would leave those bodies out
(with an error per view), so they are documented as JSON objects instead, and views with a
serializer are introspected as usual."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.types import OpenApiTypes
from rest_framework.generics import GenericAPIView


def _has_serializer(view: Any) -> bool:
    return isinstance(view, GenericAPIView) or any(
        hasattr(view, name) for name in ("get_serializer", "get_serializer_class", "serializer_class")
    )


class HuiyuanAutoSchema(AutoSchema):
    def get_request_serializer(self) -> Any:
        if _has_serializer(self.view):
            return super().get_request_serializer()
        return OpenApiTypes.OBJECT if self.method in ("POST", "PUT", "PATCH") else None

    def get_response_serializers(self) -> Any:
        if _has_serializer(self.view):
            return super().get_response_serializers()
        return OpenApiTypes.OBJECT


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    """POS and ERP systems send ``Authorization: Api-Key <key>`` (see ``platform/apikeys.py``)."""

    target_class = "huiyuan.platform.auth.ApiKeyAuthentication"
    name = "ApiKey"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Api-Key <key>`, issued to a POS or ERP by HQ in the console.",
        }


ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "fields"],
            "properties": {
                "code": {"type": "string", "example": "VALIDATION_FAILED"},
                "message": {"type": "string"},
                "fields": {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}}},
            },
        }
    },
}
ERROR_RESPONSES = {
    "400": "Invalid input; ``fields`` names each field and why",
    "401": "Not logged in and no API key",
    "403": "The role or key may not do this",
    "404": "No such object (or not in the caller's stores)",
    "405": "Method not allowed",
    "409": "Conflicts with what is recorded (order number, idempotency key, ...)",
    "413": "Body too large",
    "429": "Rate limit; see Retry-After",
    "503": "Briefly unavailable (database connection lost); retry after Retry-After seconds",
}


def document_errors(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """drf-spectacular postprocessing hook: every operation can answer with the one error format."""
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    for path in result.get("paths", {}).values():
        for method, operation in path.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            responses = operation.setdefault("responses", {})
            for status, description in ERROR_RESPONSES.items():
                responses.setdefault(
                    status,
                    {
                        "description": description,
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
                    },
                )
    return result
