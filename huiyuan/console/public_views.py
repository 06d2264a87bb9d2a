"""The public site's signup page (the API at /api/v1/signup does the same for integrations)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from huiyuan.platform.errors import ValidationFailed
from huiyuan.tenants.services import tenant_signup

from .forms import error_context, form_values


def signup_page(request: HttpRequest) -> HttpResponse:
    context: dict[str, Any] = {"values": {}}
    if request.method == "POST":
        values = form_values(request, "name", "subdomain", "owner_phone", "owner_email")
        context["values"] = values
        try:
            result = tenant_signup(password=request.POST.get("password", ""), **values)
        except ValidationFailed as exc:
            context.update(error_context(exc))
        else:
            return render(request, "console/signup_done.html", {"result": result})
    return render(request, "console/signup.html", context)
