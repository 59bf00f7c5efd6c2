"""Run a command and measure it: wall seconds and peak RSS (of it and its waited-for descendants)."""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def run_measured(command: list[str], env: dict[str, str], log: Path) -> tuple[float, float, str]:
    """(wall seconds, peak RSS in MB, last stdout line) of ``command``; its output goes to ``log``.
    Fails naming the log when the command fails."""
    started = time.perf_counter()
    with log.open("w") as out:
        child = subprocess.Popen(command, env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=out, text=True)
        stdout = child.stdout.read()
        _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - started
    with log.open("a") as out:
        out.write(stdout)
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(command[:6])} failed (exit {os.waitstatus_to_exitcode(status)}); see {log}")
    lines = stdout.strip().splitlines()
    return seconds, usage.ru_maxrss / 1024, lines[-1] if lines else ""


def run_json(command: list[str], env: dict[str, str], log: Path) -> tuple[dict, float]:
    """The JSON object a bench child prints last, and the child's peak RSS in MB: its own
    ``peak_rss_mb`` when it printed one (see own_peak_rss_mb), else wait4's."""
    _, peak_mb, last = run_measured(command, env, log)
    out = json.loads(last)
    return out, out.get("peak_rss_mb", peak_mb)


def own_peak_rss_mb() -> float:
    """This process's peak RSS since it exec'd (VmHWM). wait4's ru_maxrss also counts the moments
    between fork and exec, when the child still shares the parent's pages: a bench process serving
    the SCALE=1 replica in-process holds 1.2 GB, which every child would otherwise report."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    raise RuntimeError("no VmHWM in /proc/self/status")


def median(values) -> float | None:
    """Median of the values that are not None; None when there are none."""
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None
