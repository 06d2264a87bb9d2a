from __future__ import annotations

from . import environment as E

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "huiyuan.platform.auth.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["huiyuan.platform.api.permissions.HasOperation"],
    "DEFAULT_PAGINATION_CLASS": "huiyuan.platform.api.pagination.StandardPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_THROTTLE_CLASSES": [
        "huiyuan.platform.api.throttling.ActorRateThrottle",
        "huiyuan.platform.api.throttling.AnonymousRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {"anon": E.THROTTLE_ANON, "actor": E.THROTTLE_ACTOR},
    "EXCEPTION_HANDLER": "huiyuan.platform.api.exceptions.api_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "huiyuan.platform.api.schema.HuiyuanAutoSchema",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # JSON bodies only: a form-encoded body silently turns lists and objects into something else.
    # Uploads (imports, opening balances) declare multipart on their own views.
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Huiyuan API",
    "DESCRIPTION": "Membership and loyalty platform. Authenticate POS / ERP calls with "
    "`Authorization: Api-Key <key>`; write endpoints accept an `Idempotency-Key` header.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "huiyuan.platform.api.schema.document_errors",
    ],
}
# Swagger UI and ReDoc are served from the installed sidecar package: no CDN at run time.
SPECTACULAR_SETTINGS.update(
    {"SWAGGER_UI_DIST": "SIDECAR", "SWAGGER_UI_FAVICON_HREF": "SIDECAR", "REDOC_DIST": "SIDECAR"}
)
