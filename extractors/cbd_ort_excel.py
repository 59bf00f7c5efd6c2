"""CBD ORT indicator-data workbooks from the inbox to raw landing.

Data officers save the workbooks Parties e-mail in ``$MEA_DATA_DIR/inbox/cbd-ort-excel/``; every
file is landed by content hash (``extractors.inbox.pick_up``), so a renamed copy is not new and a
changed file is. Oversized files are refused. Reading and checking the layout is staging's job.
"""
from __future__ import annotations

from pathlib import Path

from extractors.inbox import declared_layout, land_inbox

SOURCE = "cbd-ort-excel"
LAYOUT = Path(__file__).with_name("cbd_ort_excel.layout.yaml")


def layout() -> dict:
    """The declared workbook layout (``cbd_ort_excel.layout.yaml``)."""
    return declared_layout(LAYOUT)


def extract(data_dir: Path, run_dir: Path, session=None, url=None) -> Path:
    """Land every inbox workbook; return the fetch log path (one page per file, ``new`` marks first sight)."""
    return land_inbox(SOURCE, data_dir, run_dir, max_bytes=layout()["max_bytes"])
