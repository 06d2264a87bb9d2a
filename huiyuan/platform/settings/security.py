"""Refuse to start a production deployment with settings that would expose merchants' data."""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured

from .environment import DEV_SECRET_KEY

MIN_SECRET_LENGTH = 40


def check_production_settings(*, secret_key: str, debug: bool) -> None:
    problems = []
    if secret_key == DEV_SECRET_KEY or len(secret_key) < MIN_SECRET_LENGTH or len(set(secret_key)) < 10:
        problems.append(
            f"SECRET_KEY must be a random string of at least {MIN_SECRET_LENGTH} characters "
            "(python -c 'import secrets; print(secrets.token_urlsafe(50))')"
        )
    if debug:
        problems.append("DEBUG must be off (unset DEBUG or set DEBUG=false)")
    if problems:
        raise ImproperlyConfigured("HUIYUAN_ENV=production refuses to start: " + "; ".join(problems))
