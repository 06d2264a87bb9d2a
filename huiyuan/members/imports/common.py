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


# Headers from Hong Kong and Taiwan (手機號, 門市, 會員卡號) are matched like simplified ones: the
# traditional forms of the characters our column names use.
_TRADITIONAL = str.maketrans(
    "機號碼電話門會員郵區縣別點額單間時費銷類數稱備註積儲級貴賓實際額購買錢貨號價務態標籤證銀鑽變",
    "机号码电话门会员邮区县别点额单间时费销类数称备注积储级贵宾实际额购买钱货号价务态标签证银钻变",
)


def norm_header(text: str) -> str:
    text = unicodedata.normalize("NFKC", str(text)).lower().translate(_TRADITIONAL)
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
