"""Production mode refuses to start with an insecure secret or DEBUG on."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import pytest

KEY = "qPn5rVn9l5Yb0lJ0bqV7dS8kK2m4F0oQxWq3x3zZr1E="  # a Fernet key for the tests only
STRONG = "p7Qm2vX9sLr4Tz8Wc1Nd6Hy3Jk5Bf0GaEu-RiOoPq_Ws"


def start_settings(**env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "DEBUG", "HUIYUAN_ENV")}
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); from django.conf import settings as s; print(s.DEBUG)"],
        env={**clean, "DJANGO_SETTINGS_MODULE": "huiyuan.platform.settings", **env},
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.parametrize(
    ("env", "complaint"),
    [
        ({}, "SECRET_KEY"),
        ({"SECRET_KEY": "short"}, "SECRET_KEY"),
        ({"SECRET_KEY": "a" * 60}, "SECRET_KEY"),
        ({"SECRET_KEY": STRONG, "DEBUG": "true", "HUIYUAN_CREDENTIALS_KEYS": KEY}, "DEBUG"),
        ({"SECRET_KEY": STRONG}, "HUIYUAN_CREDENTIALS_KEYS"),
        ({"SECRET_KEY": STRONG, "HUIYUAN_CREDENTIALS_KEYS": "not-a-key"}, "HUIYUAN_CREDENTIALS_KEYS"),
    ],
)
def test_production_refuses_insecure_settings(env: dict[str, str], complaint: str) -> None:
    result = start_settings(HUIYUAN_ENV="production", **env)
    assert result.returncode != 0
    assert "refuses to start" in result.stderr and complaint in result.stderr


def test_production_starts_with_a_strong_secret_and_debug_off() -> None:
    result = start_settings(HUIYUAN_ENV="production", SECRET_KEY=STRONG, HUIYUAN_CREDENTIALS_KEYS=KEY)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_development_defaults_start() -> None:
    result = start_settings()
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True"


@pytest.mark.parametrize("name", ["Production", "prod", "staging", " production"])
def test_an_unknown_environment_refuses_to_start(name: str) -> None:
    result = start_settings(HUIYUAN_ENV=name, SECRET_KEY=STRONG)
    assert result.returncode != 0 and "is not one of development, test, production" in result.stderr


def test_production_turns_on_https_hsts_secure_cookies_and_closes_the_docs() -> None:
    probe = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.SECURE_SSL_REDIRECT, s.SECURE_HSTS_SECONDS > 0, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, "
        "s.SECURE_PROXY_SSL_HEADER is not None, s.HUIYUAN_PUBLIC_API_DOCS)"
    )
    clean = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "DEBUG", "HUIYUAN_ENV")}
    result = subprocess.run(
        [sys.executable, "-c", probe],
        env={
            **clean,
            "DJANGO_SETTINGS_MODULE": "huiyuan.platform.settings",
            "HUIYUAN_ENV": "production",
            "SECRET_KEY": STRONG,
            "HUIYUAN_CREDENTIALS_KEYS": KEY,
        },
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.stdout.split() == ["True", "True", "True", "True", "True", "False"], result.stderr


def test_api_docs_need_a_login_unless_opened(alpha: Any, settings: Any) -> None:
    from rest_framework.test import APIClient

    from .conftest import api

    settings.HUIYUAN_PUBLIC_API_DOCS = False
    anonymous = APIClient(HTTP_HOST=alpha.host)
    assert anonymous.get("/api/v1/schema").status_code == 401
    assert anonymous.get("/api/docs").status_code in (302, 401, 403)
    assert api(alpha, "hq").get("/api/v1/schema").status_code == 200
    assert APIClient(HTTP_HOST="localhost").get("/api/v1/schema").status_code == 404  # the public site
    settings.HUIYUAN_PUBLIC_API_DOCS = True
    assert anonymous.get("/api/v1/schema").status_code == 200
