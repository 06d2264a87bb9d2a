"""The OpenAPI schema and Swagger UI: open in development; in production they need a staff login
on a merchant's site (``HUIYUAN_PUBLIC_API_DOCS`` opens them) and are absent from the public site."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpRequest
from django.http.response import HttpResponseBase
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.permissions import AllowAny, BasePermission, IsAuthenticated


class SchemaView(SpectacularAPIView):
    def get_permissions(self) -> list[BasePermission]:
        return [AllowAny()] if settings.HUIYUAN_PUBLIC_API_DOCS else [IsAuthenticated()]


class DocsView(SpectacularSwaggerView):
    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not settings.HUIYUAN_PUBLIC_API_DOCS and not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        return super().dispatch(request, *args, **kwargs)


class PublicSchemaView(SpectacularAPIView):
    authentication_classes: list[Any] = []

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not settings.HUIYUAN_PUBLIC_API_DOCS:
            raise Http404
        return super().dispatch(request, *args, **kwargs)


class PublicDocsView(SpectacularSwaggerView):
    authentication_classes: list[Any] = []

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not settings.HUIYUAN_PUBLIC_API_DOCS:
            raise Http404
        return super().dispatch(request, *args, **kwargs)
