"""Credentials at rest: Fernet (AES-128-CBC + HMAC-SHA256) under keys from the environment.

``HUIYUAN_CREDENTIALS_KEYS`` holds one or more urlsafe-base64 Fernet keys, comma-separated; the first
encrypts, all decrypt, so a key is rotated by putting the new one first, running
``manage.py tenant_command rotate_credentials`` (or ``all_tenants_command``) and then dropping the old
one. Outside production a key derived from SECRET_KEY is used when none is set; production refuses
to start without one (``settings/security.py``)."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings


class CredentialsUnreadable(Exception):
    """Stored credentials no key can open: the key was changed without rotating them."""


def _fernet() -> MultiFernet:
    keys = [k.strip() for k in settings.HUIYUAN_CREDENTIALS_KEYS if k.strip()]
    if not keys:
        derived = base64.urlsafe_b64encode(hashlib.sha256(f"credentials:{settings.SECRET_KEY}".encode()).digest())
        keys = [derived.decode()]
    return MultiFernet([Fernet(key) for key in keys])


def credentials_encrypt(values: dict[str, Any]) -> str:
    return _fernet().encrypt(json.dumps(values, ensure_ascii=False).encode()).decode()


def credentials_decrypt(token: str) -> dict[str, Any]:
    if not token:
        return {}
    try:
        return json.loads(_fernet().decrypt(token.encode()))  # type: ignore[no-any-return]
    except InvalidToken as exc:
        raise CredentialsUnreadable("stored credentials cannot be decrypted with the configured keys") from exc


def credentials_rotate(token: str) -> str:
    """Re-encrypt under the first (newest) key."""
    return _fernet().rotate(token.encode()).decode() if token else token
