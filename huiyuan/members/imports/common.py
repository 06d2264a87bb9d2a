"""What member and order imports share: header normalisation, cell text, row errors."""

from __future__ import annotations

import logging
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

logger = logging.getLogger(__name__)


MAX_UPLOAD_BYTES = 50 * 1024 * 1024


PREVIEW_ROWS = 10


IGNORE = ""


def norm_header(text: str) -> str:
    text = unicodedata.normalize("NFKC", str(text)).lower()
    return re.sub(r"[\s_\-:：()（）\[\]【】*#.。/]", "", text)


def cell_text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime | date):
        return value.isoformat()
    return "" if value is None else str(value)


@dataclass
class RowError:
    row: int
    column: str
    value: str
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {"row": self.row, "column": self.column, "value": self.value, "reason": self.reason}


@dataclass
class PreparedRow:
    values: dict[str, Any]
    custom: dict[str, Any]
    row: int


@dataclass
class ImportOutcome:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[RowError] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage
