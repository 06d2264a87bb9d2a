from __future__ import annotations

from typing import Any

from rest_framework import permissions
from rest_framework.request import Request

from ..access import has_operation
from ..errors import PermissionDenied


class HasOperation(permissions.BasePermission):
    """Views declare ``operation`` (one for all methods) or ``operations`` (per HTTP method).
    A view that declares neither is closed, so forgetting a declaration fails safe."""

    def has_permission(self, request: Request, view: Any) -> bool:
        if not request.user or not request.user.is_authenticated:
            return False
        ops = getattr(view, "operations", None)
        op = ops.get(request.method) if ops else getattr(view, "operation", None)
        if op is None:
            return False
        if not has_operation(request.user, op):
            raise PermissionDenied(operation=op)
        return True
