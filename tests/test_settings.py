"""Production mode refuses to start with an insecure secret or DEBUG on."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

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
        ({"SECRET_KEY": STRONG, "DEBUG": "true"}, "DEBUG"),
    ],
)
def test_production_refuses_insecure_settings(env: dict[str, str], complaint: str) -> None:
    result = start_settings(HUIYUAN_ENV="production", **env)
    assert result.returncode != 0
    assert "refuses to start" in result.stderr and complaint in result.stderr


def test_production_starts_with_a_strong_secret_and_debug_off() -> None:
    result = start_settings(HUIYUAN_ENV="production", SECRET_KEY=STRONG)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_development_defaults_start() -> None:
    result = start_settings()
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True"
