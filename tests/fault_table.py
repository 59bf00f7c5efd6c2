"""Render the outcomes tests/test_faults.py appended to $FAULT_MATRIX as a markdown table.

    FAULT_MATRIX=m.jsonl pytest tests/test_faults.py; python tests/fault_table.py m.jsonl
"""
import json
import sys
from pathlib import Path

SHORT = {"same rows": "same rows", "failed cleanly": "failed cleanly", "DIFFERENT rows": "LOST/DUPLICATED"}


def table(cells: list[dict]) -> str:
    """Faults as rows, sources as columns, each cell the outcome; then the totals."""
    sources = list(dict.fromkeys(c["source"] for c in cells))
    faults = list(dict.fromkeys(c["fault"] for c in cells))
    outcome = {(c["source"], c["fault"]): SHORT[c["outcome"]] for c in cells}
    lines = ["| fault | " + " | ".join(sources) + " |", "|---|" + "---|" * len(sources)]
    lines += [f"| {f} | " + " | ".join(outcome.get((s, f), "-") for s in sources) + " |" for f in faults]
    bad = [c for c in cells if c["lost"] or c["duplicated"]]
    tally = {name: sum(o == name for o in outcome.values()) for name in SHORT.values()}
    lines += ["", f"{len(cells)} runs: " + ", ".join(f"{n} {name}" for name, n in tally.items()) + ".",
              f"Runs that lost or duplicated anything: {len(bad)}"
              + "".join(f"; {c['source']} x {c['fault']} (lost {c['lost']}, duplicated {c['duplicated']})"
                        for c in bad) + "."]
    return "\n".join(lines)


if __name__ == "__main__":
    print(table([json.loads(line) for line in Path(sys.argv[1]).read_text().splitlines() if line.strip()]))
