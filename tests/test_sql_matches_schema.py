"""Hand-written SQL names its columns; a column added later with NOT NULL and no default would
break it at run time, in production, not in a test. This compares every INSERT and COPY column
list of the hand-written statements with the migrated schema."""

from __future__ import annotations

import inspect
import re

import pytest
from django.db import connection

from huiyuan.loyalty import checkout, ledger, reminders
from huiyuan.members.imports import members as member_rows
from huiyuan.members.imports import orders as order_rows

from .conftest import World

WRITES = re.compile(r"(?:INSERT INTO|COPY)\s+(\{?\w+\}?)\s*\(([^)]*)\)", re.IGNORECASE)
PLACEHOLDERS = {"{order_table}": "members_order", "{line_table}": "members_orderline", "{table}": "members_member"}


def written_columns() -> dict[str, set[str]]:
    """Table -> the columns some statement of ours writes, from the source of the modules that write."""
    found: dict[str, list[set[str]]] = {}
    for module in (checkout, ledger, reminders, order_rows, member_rows):
        source = inspect.getsource(module).replace("{NEW_MEMBER_COLUMNS}", member_rows.NEW_MEMBER_COLUMNS)
        for table, columns in WRITES.findall(source):
            table = PLACEHOLDERS.get(table, table)
            names = {c.strip().strip('"') for c in columns.replace('"\n', " ").split(",")}
            names = {re.sub(r"[^\w].*$", "", n) for n in names if n and not n.startswith("{")}
            if table.startswith(("import_", "{")):
                continue  # temporary tables of the statement's own
            found.setdefault(table, []).append(names)
    return {table: set.intersection(*lists) for table, lists in found.items()}


def required_columns(table: str) -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() "
            "AND table_name = %s AND is_nullable = 'NO' AND column_default IS NULL AND is_identity = 'NO'",
            [table],
        )
        return {row[0] for row in cursor.fetchall()}


def test_the_parser_finds_the_statements() -> None:
    tables = written_columns()
    assert {"members_order", "members_orderline", "loyalty_pointsentry", "events_outboxevent"} <= set(tables)
    assert "order_no" in tables["members_order"] and "request_hash" in tables["members_order"]


@pytest.mark.parametrize("table", sorted(written_columns()))
def test_every_required_column_is_written(in_alpha: World, table: str) -> None:
    if table == "events_outboxevent":
        connection.set_schema_to_public()
    missing = required_columns(table) - written_columns()[table] - {"id"}
    assert required_columns(table), f"{table} not found in the migrated schema"
    assert not missing, f"{table}: hand-written SQL leaves out NOT NULL columns without a default: {missing}"
