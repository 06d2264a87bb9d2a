"""Hot-path SQL: statements prepared once per database connection.

Django binds parameters on the client, so PostgreSQL parses and plans every statement again.
For the few statements that carry a request (checkout's read and write), planning costs more than
running them; a server-side prepared statement is planned once per connection and re-planned by
PostgreSQL by itself when the tenant's ``search_path`` differs from the one it was planned for.
"""

from __future__ import annotations

from typing import Any

import psycopg
from django.db import connection


def fetch_one_prepared(sql: str, params: dict[str, Any]) -> tuple[Any, ...] | None:
    with connection.cursor():  # connects and applies the tenant's search_path
        pass
    raw = connection.connection
    cursor = getattr(raw, "_huiyuan_prepared_cursor", None)
    if cursor is None or cursor.closed:
        cursor = raw._huiyuan_prepared_cursor = psycopg.Cursor(raw)  # type: ignore[union-attr]
    cursor.execute(sql, params, prepare=True)
    return cursor.fetchone()


def analyze(tables: list[str]) -> None:
    """Refresh the planner's statistics of the current tenant's ``tables`` after a bulk load."""
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f"ANALYZE {connection.ops.quote_name(table)}")
