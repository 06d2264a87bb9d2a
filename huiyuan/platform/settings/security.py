"""Refuse to start a production deployment with settings that would expose merchants' data."""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured

from .environment import DEV_SECRET_KEY

MIN_SECRET_LENGTH = 40


def check_production_settings(*, secret_key: str, debug: bool, credentials_keys: list[str]) -> None:
    problems = []
    if secret_key == DEV_SECRET_KEY or len(secret_key) < MIN_SECRET_LENGTH or len(set(secret_key)) < 10:
        problems.append(
            f"SECRET_KEY must be a random string of at least {MIN_SECRET_LENGTH} characters "
            "(python -c 'import secrets; print(secrets.token_urlsafe(50))')"
        )
    if debug:
        problems.append("DEBUG must be off (unset DEBUG or set DEBUG=false)")
    if not credentials_keys or not all(_is_fernet_key(key) for key in credentials_keys):
        problems.append(
            "HUIYUAN_CREDENTIALS_KEYS must hold the key(s) that encrypt vendor credentials "
            "(python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')"
        )
    if problems:
        raise ImproperlyConfigured("HUIYUAN_ENV=production refuses to start: " + "; ".join(problems))


def _is_fernet_key(key: str) -> bool:
    from cryptography.fernet import Fernet

    try:
        Fernet(key.strip())
    except ValueError:
        return False
    return True
