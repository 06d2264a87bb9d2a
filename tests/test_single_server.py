"""The single-server install script, run for real against this machine's PostgreSQL (a database of
its own, dropped afterwards) with the distribution packages and systemctl left out: it writes the
settings with fresh secrets, creates the role and database, migrates, writes the three units, and
a second run changes nothing it should keep."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
import pytest
from django.conf import settings

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "deploy" / "single-server" / "install.sh"


def _admin_url() -> str:
    db = settings.DATABASES["default"]
    auth = f"{db['USER']}:{db['PASSWORD']}@" if db.get("PASSWORD") else f"{db['USER']}@"
    return f"postgres://{auth}{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/postgres"


def _run(tmp: Path, name: str) -> subprocess.CompletedProcess[str]:
    db = settings.DATABASES["default"]
    env = {
        **os.environ,
        "HUIYUAN_SKIP_APT": "1",
        "HUIYUAN_NO_SYSTEMCTL": "1",
        "HUIYUAN_PREFIX": str(tmp / "opt"),
        "HUIYUAN_CONF_DIR": str(tmp / "etc"),
        "HUIYUAN_SYSTEMD_DIR": str(tmp / "systemd"),
        "HUIYUAN_DB_NAME": name,
        "HUIYUAN_PG_ADMIN_URL": _admin_url(),
        "HUIYUAN_DB_HOST": str(db["HOST"] or "127.0.0.1"),
        "HUIYUAN_DB_PORT": str(db["PORT"] or 5432),
        "HUIYUAN_DOMAIN": "vip.shop.test",
        "HUIYUAN_VENV": str(Path(sys.executable).parent.parent),
    }
    for key in ("DATABASE_URL", "DJANGO_SETTINGS_MODULE", "SECRET_KEY"):
        env.pop(key, None)
    return subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True, check=False, timeout=600)  # noqa: S603, S607


@pytest.mark.skipif(os.geteuid() != 0, reason="the installer creates a system user: run as root")
def test_install_then_reinstall(tmp_path: Path) -> None:
    name = f"hy_single_{uuid.uuid4().hex[:8]}"
    try:
        first = _run(tmp_path, name)
        assert first.returncode == 0, first.stdout + first.stderr
        env_file = tmp_path / "etc" / "huiyuan.env"
        settings_text = env_file.read_text()
        assert stat.S_IMODE(env_file.stat().st_mode) == 0o640
        assert "HUIYUAN_ENV=production" in settings_text and "HUIYUAN_BASE_DOMAIN=vip.shop.test" in settings_text
        secret = next(line for line in settings_text.splitlines() if line.startswith("SECRET_KEY="))
        units = {p.name: p.read_text() for p in (tmp_path / "systemd").iterdir()}
        assert set(units) == {"huiyuan-web.service", "huiyuan-worker.service", "huiyuan-beat.service"}
        assert f"EnvironmentFile={tmp_path}/etc/huiyuan.env" in units["huiyuan-web.service"]
        assert "User=huiyuan" in units["huiyuan-beat.service"] and "@PREFIX@" not in units["huiyuan-worker.service"]
        with psycopg.connect(_admin_url().rsplit("/", 1)[0] + f"/{name}") as conn:
            tables = conn.execute(
                "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'tenant_template'"
            ).fetchone()
            assert tables and tables[0] > 50  # the template schema exists, fully migrated

        second = _run(tmp_path, name)
        assert second.returncode == 0, second.stdout + second.stderr
        assert secret in env_file.read_text()  # secrets are kept, not regenerated
        assert "creating the database" not in second.stdout and "0 to migrate" in second.stdout
    finally:
        with psycopg.connect(_admin_url(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'DROP ROLE IF EXISTS "{name}"')
