"""Plain helpers for console forms: services validate; pages only echo input and show errors."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest


def form_values(request: HttpRequest, *names: str) -> dict[str, str]:
    return {name: request.POST.get(name, "").strip() for name in names}


def int_list(request: HttpRequest, name: str) -> list[int]:
    return [int(v) for v in request.POST.getlist(name) if v.isdecimal()]


def error_context(exc: Any) -> dict[str, Any]:
    return {"errors": exc.fields, "error_message": str(exc.message)}
