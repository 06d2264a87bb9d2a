"""What an on-premise install relies on, checked without Docker or Kubernetes: the container's
entry point runs the right process per role, the image is built in stages and runs unprivileged,
and the schema layout stays shardable by schema (the Citus path of docs/scale-out.md)."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
from django.apps import apps
from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent
ENTRYPOINT = ROOT / "deploy" / "entrypoint.sh"


def _entry(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own script
        ["/bin/sh", str(ENTRYPOINT), *args],
        capture_output=True,
        text=True,
        env={"PATH": os.environ["PATH"], "HUIYUAN_ENTRYPOINT_DRY_RUN": "1", **env},
        check=False,
    )


def test_the_entrypoint_is_valid_posix_shell() -> None:
    assert subprocess.run(["/bin/sh", "-n", str(ENTRYPOINT)], check=False).returncode == 0  # noqa: S603, S607
    assert os.access(ENTRYPOINT, os.X_OK)


@pytest.mark.parametrize(
    ("role", "env", "expected"),
    [
        ("web", {}, "gunicorn huiyuan.platform.wsgi:application --bind 0.0.0.0:8000 --workers 2"),
        ("web", {"HUIYUAN_PORT": "9000", "HUIYUAN_WEB_WORKERS": "5"}, "--bind 0.0.0.0:9000 --workers 5"),
        ("worker", {}, "celery -A huiyuan worker --queues celery,automation,integrations --concurrency 2"),
        ("worker", {"HUIYUAN_WORKER_QUEUES": "automation"}, "--queues automation "),
        ("beat", {}, "celery -A huiyuan beat --schedule /tmp/celerybeat-schedule"),
        ("migrate", {"HUIYUAN_MIGRATE_PROCESSES": "8"}, "python -m huiyuan migrate --processes 8"),
        ("manage", {}, "python -m django check --deploy"),
    ],
)
def test_each_role_runs_its_process(role: str, env: dict[str, str], expected: str) -> None:
    args = ["check", "--deploy"] if role == "manage" else []
    result = _entry(role, *args, **env)
    assert result.returncode == 0 and expected in result.stdout, result.stdout + result.stderr


def test_an_unknown_role_fails_with_a_message() -> None:
    result = _entry("webserver")
    assert result.returncode == 64 and "unknown role 'webserver'" in result.stderr


def test_the_image_is_multi_stage_unprivileged_and_without_build_tools() -> None:
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text()
    stages = re.split(r"^FROM ", dockerfile, flags=re.MULTILINE)[1:]
    assert len(stages) >= 3
    final = stages[-1]
    assert re.search(r"^USER 10001$", final, flags=re.MULTILINE)
    assert "build-essential" not in final and "nodejs" not in final and "npm " not in final
    assert "collectstatic" in final and 'ENTRYPOINT ["/usr/bin/tini"' in final


def test_tenant_tables_reference_only_tenant_tables_or_shared_reference_data() -> None:
    """Citus distributes each merchant's schema as a unit: a tenant table may point at tables of its
    own schema and at shared reference data (content types), never at a merchant-specific row of
    the public schema (tenants, domains, the outbox)."""
    shared_only = set(settings.SHARED_APPS) - set(settings.TENANT_APPS)
    reference_data = {"contenttypes.contenttype"}
    offending = []
    for model in apps.get_models():
        if model._meta.app_config.name in shared_only:
            continue  # a public table itself
        for field in model._meta.get_fields():
            target = getattr(field, "related_model", None)
            if not getattr(field, "concrete", False) or target is None:
                continue
            if target._meta.app_config.name in shared_only and target._meta.label_lower not in reference_data:
                offending.append(f"{model._meta.label}.{field.name} -> {target._meta.label}")
    assert offending == []


@pytest.mark.django_db
def test_no_foreign_key_in_the_template_schema_leaves_it_except_to_reference_data() -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT c.conname, tn.nspname || '.' || tt.relname
              FROM pg_constraint c
              JOIN pg_class sc ON sc.oid = c.conrelid JOIN pg_namespace sn ON sn.oid = sc.relnamespace
              JOIN pg_class tt ON tt.oid = c.confrelid JOIN pg_namespace tn ON tn.oid = tt.relnamespace
             WHERE c.contype = 'f' AND sn.nspname = %s AND tn.nspname <> sn.nspname
            """,
            [settings.TENANT_BASE_SCHEMA],
        )
        leaving = {target for _name, target in cursor.fetchall()}
    assert leaving <= {"public.django_content_type"}
