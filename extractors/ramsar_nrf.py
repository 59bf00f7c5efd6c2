"""Ramsar National Report Format answer workbooks from the inbox to raw landing.

Data officers save the workbooks the Secretariat sends in ``$MEA_DATA_DIR/inbox/ramsar-nrf/``;
every file is landed by content hash (``extractors.inbox.pick_up``); files over the declared size
limit are refused. Checking the declared layout (``ramsar_nrf.yaml``) is staging's job.
"""
from __future__ import annotations

from pathlib import Path

from extractors.inbox import declared_layout, land_inbox

SOURCE = "ramsar-nrf"
LAYOUT = Path(__file__).with_name("ramsar_nrf.yaml")


def layout() -> dict:
    """The declared workbook layout (``ramsar_nrf.yaml``)."""
    return declared_layout(LAYOUT)


def extract(data_dir: Path, run_dir: Path, session=None, url=None) -> Path:
    """Land every inbox workbook; return the fetch log path (one page per file, ``new`` marks first sight)."""
    return land_inbox(SOURCE, data_dir, run_dir, max_bytes=layout()["max_bytes"])
