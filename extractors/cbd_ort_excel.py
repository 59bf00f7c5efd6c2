"""CBD ORT indicator-data workbooks from the inbox to raw landing.

Data officers save the workbooks Parties e-mail in ``$MEA_DATA_DIR/inbox/cbd-ort-excel/``; every
file is landed by content hash (``extractors.inbox.pick_up``), so a renamed copy is not new and a
changed file is. Oversized files are refused. Reading and checking the layout is staging's job.
"""
from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import yaml

from extractors.inbox import pick_up

SOURCE = "cbd-ort-excel"
LAYOUT = Path(__file__).with_name("cbd_ort_excel.layout.yaml")


@cache
def layout() -> dict:
    """The declared workbook layout (sheet, header row, columns, country rule, size limit)."""
    return yaml.safe_load(LAYOUT.read_text(encoding="utf-8"))


def extract(data_dir: Path, run_dir: Path, session=None, url=None) -> Path:
    """Land every inbox workbook; return the fetch log path (one page per file, ``new`` marks first sight)."""
    data_dir = Path(data_dir)
    pages = [{"url": f.landed.url, "first_url": f.landed.url, "raw_path": str(f.landed.path.relative_to(data_dir)),
              "sha256": f.landed.sha256, "retrieved_at": f.landed.retrieved_at, "status": None, "name": f.name,
              "new": f.new}
             for f in pick_up(data_dir, SOURCE, max_bytes=layout()["max_bytes"])]
    out = Path(run_dir) / SOURCE / "fetch.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"source_system": SOURCE, "base_url": f"inbox/{SOURCE}",
                               "entities": {"inbox": {"pages": pages, "deferred": {}}}}, indent=1, sort_keys=True))
    return out
