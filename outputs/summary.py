"""The short summary a data officer reads after a run: ``python -m outputs.summary``.

After a failed run, ``python -m outputs.summary --failed [--since EPOCH]`` (what ``make run``
prints when the run fails) names each failed task, its source, how often it was tried and the
cause, from the records the DAG's tasks leave in ``runs/<run>/failures/`` (``record_failure``).
"""
from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timezone
from pathlib import Path

from core.manifest import read_manifest
from core.paths import current_release, data_dir, run_dir

FAILURES = "failures"
#: a cause longer than this many lines is cut short in the summary (the task log has it whole)
CAUSE_LINES = 20


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
        *([f"PARTIAL     sources failed: {', '.join(m['failed_sources'])}; their rows are the live release's, "
           "carried unchanged: " + "; ".join(carried_text(source, m.get("carried", {}).get(source))
                                            for source in m["failed_sources"])]
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


def carried_text(source: str, carried: dict | None) -> str:
    """``cbd-chm 412 rows from 20261128T020000Z-1a2b3c4d`` (rows of every table of the source)."""
    if not carried or not carried.get("from_release"):
        return f"{source} none (no release had any)"
    return f"{source} {sum(carried['rows'].values())} rows from {carried['from_release']}"


def record_failure(run_id: str, task_id: str, source: str | None, exc: BaseException, try_number: int,
                   max_tries: int, permanent: bool) -> Path:
    """Note that ``task_id`` of run ``run_id`` failed with ``exc`` on try ``try_number`` (of at most
    ``max_tries`` + 1; none more when ``permanent``), for ``failure_text``. A later try of the same
    task replaces the note."""
    folder = run_dir(run_id) / FAILURES
    folder.mkdir(parents=True, exist_ok=True)
    record = {"run_id": run_id, "task_id": task_id, "source": source, "error": type(exc).__name__,
              "cause": str(exc).strip() or type(exc).__name__, "permanent": permanent,
              "try_number": try_number, "max_tries": max_tries,
              "at": datetime.now(timezone.utc).isoformat(timespec="microseconds")}
    path = folder / f"{task_id}.json"
    path.write_text(json.dumps(record, indent=1))
    return path


def recorded_failures(since: float | None = None) -> list[dict]:
    """The failure records of the latest run that has any written at or after ``since`` (epoch
    seconds), oldest first: the first is usually the cause, the rest what it took down."""
    found = [(p.stat().st_mtime, p) for p in (data_dir() / "runs").glob(f"*/{FAILURES}/*.json")]
    found = [(m, p) for m, p in found if since is None or m >= since]
    if not found:
        return []
    latest_run = max(found, key=lambda f: f[0])[1].parent
    records = [json.loads(p.read_text()) for p in latest_run.glob("*.json")]
    return sorted(records, key=lambda r: r["at"])


def tries(record: dict) -> str:
    """``tried once: no retry can fix this`` or ``tried 3 times (2 retries)``."""
    n = record["try_number"]
    times = "once" if n == 1 else "twice" if n == 2 else f"{n} times"
    if record["permanent"]:
        return f"tried {times}: no retry can fix this, so none was made"
    return f"tried {times} ({n - 1} retr{'y' if n == 2 else 'ies'})" if n > 1 else f"tried {times}"


def failure_text(since: float | None = None) -> str | None:
    """What failed in the latest failed run (``recorded_failures``), or None when nothing did."""
    records = recorded_failures(since)
    if not records:
        return None
    live = current_release()
    lines = [f"FAILED      run {records[0]['run_id']}",
             f"live        {'release ' + live.name if live else 'no release published yet'}"]
    for record in records:
        source = f"source {record['source']}" if record.get("source") else "all sources"
        lines.append(f"task        {record['task_id']} ({source}), {tries(record)}")
        cause = record["cause"].splitlines() or [record["error"]]
        if len(cause) > CAUSE_LINES:
            cause = cause[:CAUSE_LINES] + [f"... {len(cause) - CAUSE_LINES} more lines in the task log"]
        lines += [f"{'cause' if i == 0 else '':<12}{'' if i == 0 else '  '}{line[:400]}" for i, line in enumerate(cause)]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m outputs.summary", description=__doc__.splitlines()[0])
    parser.add_argument("--failed", action="store_true", help="say what failed in the latest failed run")
    parser.add_argument("--since", type=float, help="with --failed: only failures recorded since (epoch seconds)")
    args = parser.parse_args(argv)
    if args.failed:
        print(failure_text(args.since) or f"no failed task recorded in {data_dir() / 'runs'}"
              + (f" since {datetime.fromtimestamp(args.since, timezone.utc):%Y-%m-%d %H:%M:%S} UTC" if args.since else "")
              + "; the cause is in the log above")
        return 1
    print(summary_text())
    return 0 if current_release() else 1


if __name__ == "__main__":
    sys.exit(main())
