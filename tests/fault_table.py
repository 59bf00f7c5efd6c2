"""Render the outcomes tests/test_faults.py appended to $FAULT_MATRIX as a markdown table.

    FAULT_MATRIX=m.jsonl pytest tests/test_faults.py; python tests/fault_table.py m.jsonl

A cell whose outcome is not the one its fault calls for (``expected``: a short-lived fault must give
the same rows, retried) is marked ``(expected ...)``; older files without ``expected``/``kind`` render
as before.
"""
import json
import sys
from pathlib import Path

SHORT = {"same rows": "same rows", "failed cleanly": "failed cleanly", "DIFFERENT rows": "LOST/DUPLICATED"}


def cell(c: dict) -> str:
    text = SHORT[c["outcome"]]
    return text if c.get("expected") in (None, c["outcome"]) else f"{text} (expected {SHORT[c['expected']]})"


def table(cells: list[dict]) -> str:
    """Faults as rows (with whether a retry gets past them), sources as columns, each cell the
    outcome; then the totals."""
    sources = list(dict.fromkeys(c["source"] for c in cells))
    faults = list(dict.fromkeys(c["fault"] for c in cells))
    kinds = {c["fault"]: c["kind"] for c in cells if c.get("kind")}
    outcome = {(c["source"], c["fault"]): cell(c) for c in cells}
    lines = ["| fault | " + ("kind | " if kinds else "") + " | ".join(sources) + " |",
             "|---|" + ("---|" if kinds else "") + "---|" * len(sources)]
    lines += [f"| {f} | " + (f"{kinds.get(f, '')} | " if kinds else "")
              + " | ".join(outcome.get((s, f), "-") for s in sources) + " |" for f in faults]
    bad = [c for c in cells if c["lost"] or c["duplicated"]]
    tally = {name: sum(SHORT[c["outcome"]] == name for c in cells) for name in SHORT.values()}
    lines += ["", f"{len(cells)} runs: " + ", ".join(f"{n} {name}" for name, n in tally.items()) + "."]
    if kinds:
        short = [c for c in cells if c.get("kind") == "short-lived"]
        lasting = [c for c in cells if c.get("kind") != "short-lived"]
        count = lambda group, name: sum(c["outcome"] == name for c in group)  # noqa: E731
        lines.append(f"Short-lived faults (a retry gets past them): {len(short)} runs, "
                     f"{count(short, 'same rows')} same rows (retried); lasting faults: {len(lasting)} runs, "
                     f"{count(lasting, 'same rows')} same rows, {count(lasting, 'failed cleanly')} failed cleanly.")
    unexpected = [c for c in cells if c.get("expected") not in (None, c["outcome"])]
    if any("expected" in c for c in cells):
        lines.append(f"Runs not as their fault calls for: {len(unexpected)}"
                     + "".join(f"; {c['source']} x {c['fault']}" for c in unexpected) + ".")
    lines.append(f"Runs that lost or duplicated anything: {len(bad)}"
                 + "".join(f"; {c['source']} x {c['fault']} (lost {c['lost']}, duplicated {c['duplicated']})"
                           for c in bad) + ".")
    return "\n".join(lines)


if __name__ == "__main__":
    print(table([json.loads(line) for line in Path(sys.argv[1]).read_text().splitlines() if line.strip()]))
