"""Shared benchmark plumbing: services, a fresh database, timing and the one-line JSON result."""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
from typing import Any

from huiyuan.embedded import EmbeddedServices


def parse_args(description: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="small scale, under a minute")
    return parser.parse_args()


def start(db_name: str) -> EmbeddedServices:
    """Start embedded services if nothing is configured, then point Django at a fresh database."""
    services = EmbeddedServices(private=True)
    if not os.environ.get("REDIS_URL"):
        # A Redis database of its own: tasks the benchmark queues must never reach a real worker.
        os.environ["REDIS_URL"] = services.start_redis().rsplit("/", 1)[0] + "/14"
    services.configure_environment()
    import redis

    redis.Redis.from_url(os.environ["REDIS_URL"]).flushdb()
    import psycopg

    base = os.environ["DATABASE_URL"].rsplit("/", 1)[0]
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{db_name}"')
    os.environ["DATABASE_URL"] = f"{base}/{db_name}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "huiyuan.platform.settings")
    os.environ.setdefault("HUIYUAN_LOG_LEVEL", "WARNING")
    # Benchmarks measure the work, not the per-IP signup limit that protects the public site.
    os.environ["HUIYUAN_THROTTLE_ANON"] = "1000000/minute"
    import django

    django.setup()
    return services


def p95(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[max(0, int(round(0.95 * len(ordered))) - 1)]


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def report(
    *,
    bench: str,
    value: float,
    unit: str,
    baseline: float,
    baseline_label: str,
    ratio: float,
    scale: dict[str, Any],
    peak_rss: float | None = None,
    **extra: Any,
) -> None:
    """``peak_rss`` is the peak of the measured work when the same run also hosts a baseline."""
    result = {
        "bench": bench,
        "value": round(value, 4),
        "unit": unit,
        "baseline": round(baseline, 4),
        "baseline_label": baseline_label,
        "ratio": round(ratio, 2),
        "peak_rss_mb": round(peak_rss, 1) if peak_rss is not None else peak_rss_mb(),
        "scale": scale,
        **extra,
    }
    sys.stdout.flush()
    print(json.dumps(result, ensure_ascii=False), flush=True)


median = statistics.median
