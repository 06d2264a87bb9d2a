"""Member and order-history imports from CSV / Excel.

``common`` holds what both share; ``members`` turns rows into members, ``orders`` into orders;
``jobs`` runs either as an uploaded, mapped, previewed job in a Celery task. Dependencies point
one way: common <- members <- orders <- jobs.
"""

from .common import ImportOutcome, PreparedRow, RowError, cell_text, norm_header
from .jobs import (
    MAX_JOB_ATTEMPTS,
    error_report_csv,
    import_access,
    import_claim,
    import_list,
    import_preview,
    import_retry,
    import_run,
    import_set_encoding,
    import_start,
    import_upload,
    job_stalled,
)
from .members import CORE_TARGETS, import_members, insert_new_members, suggest_mapping, target_choices
from .orders import import_orders, order_target_choices, suggest_order_mapping

__all__ = [
    "CORE_TARGETS",
    "MAX_JOB_ATTEMPTS",
    "ImportOutcome",
    "PreparedRow",
    "RowError",
    "cell_text",
    "error_report_csv",
    "import_access",
    "import_claim",
    "import_list",
    "import_members",
    "import_orders",
    "import_preview",
    "import_retry",
    "import_run",
    "import_set_encoding",
    "import_start",
    "import_upload",
    "insert_new_members",
    "job_stalled",
    "norm_header",
    "order_target_choices",
    "suggest_mapping",
    "suggest_order_mapping",
    "target_choices",
]
