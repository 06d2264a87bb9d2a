"""Authentication: staff log in with username, phone or e-mail; POS / ERP use API keys."""

from __future__ import annotations

import contextlib
from typing import Any

from django.contrib.auth.backends import ModelBackend
from django.db.models import Q
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from .access import ApiKeyPrincipal
from .phones import InvalidPhone, normalize_phone


class StaffLoginBackend(ModelBackend):
    def authenticate(  # type: ignore[override]
        self, request: HttpRequest | None, username: str | None = None, password: str | None = None, **kwargs: Any
    ) -> Any:
        from .models import User

        if not username or not password:
            return None
        login = username.strip()
        match = Q(username__iexact=login) | Q(email__iexact=login)
        with contextlib.suppress(InvalidPhone):
            match |= Q(phone=normalize_phone(login))
        users = list(User.objects.filter(match)[:2])
        if len(users) != 1:
            User().set_password(password)  # same work as a real check, so timing reveals nothing
            return None
        user = users[0]
        if user.check_password(password) and self.user_can_authenticate(user):
            return user
        return None


def login_identity(request: HttpRequest | None, credentials: dict[str, Any] | None) -> str:
    """What login lockout counts failures against: the account the login names (phone, e-mail and
    username of one person are one account, so switching between them buys no extra tries), or
    the text as typed when it names nobody."""
    from .models import User

    login = str((credentials or {}).get("username") or "").strip()
    if not login:
        return ""
    match = Q(username__iexact=login) | Q(email__iexact=login)
    with contextlib.suppress(InvalidPhone):
        match |= Q(phone=normalize_phone(login))
    users = list(User.objects.filter(match).values_list("pk", flat=True)[:2])
    return f"user:{users[0]}" if len(users) == 1 else login.lower()[:150]


class ApiKeyAuthentication(authentication.BaseAuthentication):
    """``Authorization: Api-Key hy_<prefix>_<secret>`` (``Bearer`` is accepted too)."""

    keywords = ("api-key", "bearer")

    def authenticate(self, request: Request) -> tuple[ApiKeyPrincipal, Any] | None:
        from .apikeys import api_key_authenticate

        header = request.META.get("HTTP_AUTHORIZATION", "")
        if not header:
            return None
        keyword, _sep, token = header.partition(" ")
        if keyword.lower() not in self.keywords:
            return None
        principal = api_key_authenticate(token.strip())
        if principal is None:
            raise exceptions.AuthenticationFailed(_("Invalid or revoked API key."))
        return principal, principal.api_key

    def authenticate_header(self, request: Request) -> str:
        return "Api-Key"
