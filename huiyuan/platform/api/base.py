"""The base of every tenant API view: ``HasOperation`` checks the named operation before the
handler runs."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _
from rest_framework import views
from rest_framework.request import Request

from ..errors import ValidationFailed


class TenantAPIView(views.APIView):
    operation: str | None = None
    operations: dict[str, str] | None = None

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        # PostgreSQL cannot hold NUL; a search for one is malformed input, not a server error.
        bad = sorted({name for name, value in request.query_params.lists() if any("\x00" in v for v in value)})
        if bad:
            raise ValidationFailed(fields={name: [_("Contains a NUL character.")] for name in bad})


def query_int(request: Request, name: str) -> int | None:
    """An optional whole-number query parameter, or a field error naming it. Present but empty
    (``?store=``) is an error too: it must not silently mean "every store"."""
    raw = request.query_params.get(name)
    if raw is None:
        return None
    if not raw.isdecimal() or len(raw) > 18:
        raise ValidationFailed(fields={name: [_("A whole number.")]})
    return int(raw)


def query_choice(request: Request, name: str, choices: tuple[str, ...]) -> str:
    """An optional query parameter from a fixed set ("" when absent), or a field error naming it."""
    raw = request.query_params.get(name)
    if raw is None:
        return ""
    if raw not in choices:
        raise ValidationFailed(fields={name: [_("One of: %(c)s") % {"c": ", ".join(choices)}]})
    return raw
