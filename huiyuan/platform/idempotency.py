"""``Idempotency-Key`` for write endpoints: a retried request gets the first response, never a
second effect.

The key row is inserted in the same transaction as the write. A concurrent duplicate blocks on the
unique index until the first commits, then replays its stored response; if the first fails, its
row rolls back with it and the retry runs for real.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.db import connection, transaction
from django.http import HttpResponse
from django.http.response import HttpResponseBase
from django.utils.translation import gettext_lazy as _
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from .access import principal_id
from .errors import Conflict, ValidationFailed
from .models import IdempotencyRecord

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 200


def _request_hash(request: Request) -> str:
    body = json.dumps(request.data, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(f"{request.method} {request.path}\n{body}".encode()).hexdigest()


def _claim(*, principal: str, key: str, request: Request, request_hash: str) -> bool:
    """Insert the key row; False when another request already holds (and has committed) it."""
    table = connection.ops.quote_name(IdempotencyRecord._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (key, principal, method, path, request_hash, created_at) "  # noqa: S608
            "VALUES (%s, %s, %s, %s, %s, now()) ON CONFLICT (principal, key) DO NOTHING RETURNING id",
            [key, principal, request.method, request.path[:300], request_hash],
        )
        return cursor.fetchone() is not None


def idempotency_key(request: Request, *, required: bool = False, max_length: int = MAX_KEY_LENGTH) -> str:
    """The request's ``Idempotency-Key`` ("" when absent and not required), checked."""
    key = request.headers.get(HEADER, "").strip()
    if not key and required:
        raise ValidationFailed(fields={HEADER: [str(_("This header is required for this endpoint."))]})
    if len(key) > max_length:
        raise ValidationFailed(fields={HEADER: [str(_("At most %(n)d characters.") % {"n": max_length})]})
    return key


def run_idempotently(request: Request, handler: Callable[[], Response], *, required: bool = False) -> HttpResponseBase:
    key = idempotency_key(request, required=required)
    if not key:
        return handler()
    principal = principal_id(request.user)
    request_hash = _request_hash(request)
    with transaction.atomic():
        if not _claim(principal=principal, key=key, request=request, request_hash=request_hash):
            record = IdempotencyRecord.objects.get(principal=principal, key=key)
            if record.request_hash != request_hash:
                raise Conflict(
                    _("This Idempotency-Key was already used for a different request."),
                    code="IDEMPOTENCY_KEY_REUSED",
                )
            return HttpResponse(
                record.response_body,
                status=record.status_code,
                content_type="application/json",
                headers={"Idempotent-Replayed": "true"},
            )
        response = handler()
        if 200 <= response.status_code < 300:
            IdempotencyRecord.objects.filter(principal=principal, key=key).update(
                status_code=response.status_code, response_body=JSONRenderer().render(response.data).decode()
            )
        else:
            # Failed requests are not remembered: the client may fix the problem and retry the key.
            transaction.set_rollback(True)
        return response


def idempotent(*, required: bool = False) -> Callable[[Callable[..., Response]], Callable[..., HttpResponseBase]]:
    def decorator(method: Callable[..., Response]) -> Callable[..., HttpResponseBase]:
        @wraps(method)
        def wrapper(self: Any, request: Request, *args: Any, **kwargs: Any) -> HttpResponseBase:
            return run_idempotently(request, lambda: method(self, request, *args, **kwargs), required=required)

        return wrapper

    return decorator
