"""The short summary a data officer reads after a run: ``python -m outputs.summary``."""
from __future__ import annotations

import sys

from outputs.paths import current_release, data_dir
from outputs.release import read_manifest


def summary_text() -> str:
    """Release id, rows per table, audit, quarantine and where the files are."""
    folder = current_release()
    if folder is None:
        return f"no release published yet in {data_dir()}"
    m = read_manifest(folder)
    audit, run = m.get("audit", {}), m.get("run_summary", {})
    lines = [
        f"release     {m['release_id']}  (run {m['run_id']}, code {m['code_version']['git'] or m['code_version']['package']})",
        f"audit       {'passed' if audit.get('success') else 'FAILED'}: {audit.get('expectations')} expectations "
        f"in {audit.get('suites')} suites",
        f"change      {'changed' if m['diff']['changed'] else 'no change'} against {m['diff']['previous_release']}",
        *([f"PARTIAL     published without the failed sources: {', '.join(m['failed_sources'])}"]
          if m.get("partial") else []),
        "rows        " + ", ".join(f"{name} {t['rows']}" for name, t in m["tables"].items()),
        f"growth      quarantine {run.get('quarantine_growth', 0):+d} rows, {run.get('new_revisions', 0)} new revisions",
        f"slice       " + "; ".join(f"{k} {', '.join(v) or 'all'}" for k, v in m.get("slice", {}).items()),
        f"quarantine  {m['quarantine']['rows']} rows: " + ", ".join(
            f"{k} {n}" for k, n in sorted(m["quarantine"]["by_source_and_field"].items())),
        f"files       {folder}",
        f"duckdb      {data_dir() / 'mea.duckdb'}",
        *([f"report      {folder / 'report' / 'index.html'}"] if (folder / "report" / "index.html").exists() else []),
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    text = summary_text()
    print(text)
    sys.exit(0 if current_release() else 1)
