"""API keys for POS / ERP: hashed at rest, scoped to operations and optionally one store, revocable."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from .access import Actor, ApiKeyPrincipal, check_permission
from .audit import audit_record
from .errors import NotFound, ValidationFailed
from .models import ApiKey, Store
from .roles import OPERATIONS
from .tenancy import current_schema

KEY_PREFIX = "hy"


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class IssuedKey:
    api_key: ApiKey
    token: str  # shown once; only its digest is stored


def api_key_create(*, actor: Actor, name: str, scopes: list[str], store_id: int | None = None) -> IssuedKey:

    check_permission(actor, "platform.apikey.manage")
    errors: dict[str, list[str]] = {}
    if not name.strip():
        errors["name"] = [_("Give the key a name, e.g. the POS it is for.")]
    bad = [s for s in scopes if s not in OPERATIONS or not OPERATIONS[s].api_key_allowed]
    if bad:
        errors["scopes"] = [_("Not allowed for API keys: %(scopes)s") % {"scopes": ", ".join(bad)}]
    elif not scopes:
        errors["scopes"] = [_("Choose at least one scope.")]
    if store_id is not None and not Store.objects.filter(pk=store_id).exists():
        errors["store"] = [_("Unknown store.")]
    if errors:
        raise ValidationFailed(fields=errors)

    prefix = secrets.token_hex(4)
    secret = secrets.token_urlsafe(32)
    with transaction.atomic():
        key = ApiKey.objects.create(
            name=name.strip(),
            prefix=prefix,
            secret_hash=_digest(secret),
            scopes=sorted(set(scopes)),
            store_id=store_id,
            created_by=actor,
        )
        audit_record(actor=actor, action="platform.apikey.create", obj=key, changes={"scopes": key.scopes})
    return IssuedKey(api_key=key, token=f"{KEY_PREFIX}_{prefix}_{secret}")


def api_key_revoke(*, actor: Actor, key_id: int) -> ApiKey:
    check_permission(actor, "platform.apikey.manage")
    with transaction.atomic():
        key = ApiKey.objects.select_for_update().filter(pk=key_id).first()
        if key is None:
            raise NotFound()
        if key.revoked_at is None:
            key.revoked_at = timezone.now()
            key.save(update_fields=["revoked_at"])
            _forget_verified(key)
            audit_record(actor=actor, action="platform.apikey.revoke", obj=key)
    return key


def api_key_list(*, actor: Actor) -> QuerySet[ApiKey]:
    check_permission(actor, "platform.apikey.manage")
    return ApiKey.objects.select_related("store", "created_by")


# A till calls many times a second: a verified key is remembered per process for a few seconds
# (per schema and token digest). Revoking clears it here at once and elsewhere within the TTL.
KEY_CACHE_SECONDS = 5.0
_verified: dict[tuple[str, str], tuple[float, ApiKey]] = {}


def _forget_verified(key: ApiKey) -> None:
    for cache_key in [k for k, (_expires, cached) in _verified.items() if cached.pk == key.pk]:
        _verified.pop(cache_key, None)


def api_key_authenticate(token: str) -> ApiKeyPrincipal | None:
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_PREFIX:
        return None
    digest = _digest(parts[2])
    cache_key = (current_schema(), f"{parts[1]}:{digest}")
    now_mono = time.monotonic()
    cached = _verified.get(cache_key)
    if cached is not None and cached[0] > now_mono:
        key = cached[1]
    else:
        found = ApiKey.objects.filter(prefix=parts[1], revoked_at__isnull=True).first()
        if found is None or not hmac.compare_digest(found.secret_hash, digest):
            return None
        key = found
        if len(_verified) > 10_000:
            _verified.clear()
        _verified[cache_key] = (now_mono + KEY_CACHE_SECONDS, key)
    now = timezone.now()
    # Touch last_used_at at most once a minute: a busy POS must not write on every call.
    if key.last_used_at is None or (now - key.last_used_at).total_seconds() > 60:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now
    return ApiKeyPrincipal(api_key=key, scopes=frozenset(key.scopes))
