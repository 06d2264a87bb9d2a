"""The console language follows the person, not the browser: choosing one saves it on the staff
member, and every later request of theirs (any device) is answered in it."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import translation
from django.views.decorators.http import require_POST
from django.views.i18n import set_language

KNOWN = {code for code, _name in settings.LANGUAGES}


@require_POST
def language_set(request: HttpRequest) -> HttpResponse:
    """Django's ``set_language`` (cookie, redirect back), plus the choice saved on the user."""
    code = request.POST.get("language", "")
    user = getattr(request, "user", None)
    if code in KNOWN and user is not None and user.is_authenticated and getattr(user, "language", None) != code:
        from .models import User

        User.objects.filter(pk=user.pk).update(language=code)
    return set_language(request)


class UserLanguageMiddleware:
    """After authentication: a signed-in user's saved language wins over the browser's."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        code = getattr(user, "language", "") if user is not None and user.is_authenticated else ""
        if code in KNOWN:
            translation.activate(code)
            request.LANGUAGE_CODE = code  # type: ignore[attr-defined]
        return self.get_response(request)
