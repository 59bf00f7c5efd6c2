"""Run one pipeline task (what one Airflow task of the nightly DAG calls) in this process and print
``{"result": ..., "seconds": ..., "peak_rss_mb": ...}`` as the last line (its own peak RSS, VmHWM).

``python -m bench.task extract cites-trade RUN_ID`` / ``stage SOURCE FETCH_LOG`` /
``harmonize SOURCE STAGING_DIR`` / ``build RUN_ID PARTS_JSON`` / ``audit RELEASE_DIR`` /
``publish RELEASE_DIR``. Imports happen before the clock starts, as in a warm Airflow worker.
"""
from __future__ import annotations

import json
import sys
import time

from bench.measure import own_peak_rss_mb
from extractors.pipeline import extract_source
from outputs.audit import audit_release
from outputs.publish import publish
from outputs.release import build_release
from transforms.pipeline import harmonize_source, stage_source

#: the params of a plain nightly run (the DAG's defaults), every source selected
PARAMS = {"sources": [], "countries": [], "cycles": [], "allow_partial": False, "reprocess": False,
          "full_refresh": False, "until": None}

def audit(folder: str) -> str:
    """The audit task: raises when the release fails its expectations."""
    audit_release(folder)
    return folder


TASKS = {
    "extract": lambda source, run_id: extract_source(source, run_id, PARAMS),
    "stage": stage_source,
    "harmonize": harmonize_source,
    "build": lambda run_id, parts: str(build_release(json.loads(parts), PARAMS, run_id)),
    "audit": audit,
    "publish": publish,
}


def main(argv: list[str]) -> int:
    name, *args = argv
    started = time.perf_counter()
    result = TASKS[name](*args)
    seconds = time.perf_counter() - started
    print(json.dumps({"result": result, "seconds": seconds, "peak_rss_mb": own_peak_rss_mb()}, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
