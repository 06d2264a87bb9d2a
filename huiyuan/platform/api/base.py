"""The base of every tenant API view: ``HasOperation`` checks the named operation before the
handler runs."""

from __future__ import annotations

from rest_framework import views


class TenantAPIView(views.APIView):
    operation: str | None = None
    operations: dict[str, str] | None = None
