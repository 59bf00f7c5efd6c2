"""Report cycles: which reporting round of its convention a national report belongs to."""
from __future__ import annotations

import re
from datetime import date
from functools import cache
from pathlib import Path

import yaml

RULES = Path(__file__).parent / "mappings" / "report_cycles.yaml"


class NoCycle(LookupError):
    """No reviewed rule places the report; the message says which field was tried."""


@cache
def _rules() -> dict:
    spec = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    for rules in spec["treaties"].values():
        for rule in rules:
            if "pattern" in rule:
                rule["regex"] = re.compile(rule["pattern"])
    return spec


def report_cycle(treaty: str, title: str | None, submitted_on: date | None) -> tuple[str, str]:
    """The cycle (e.g. ``cbd:NR6``) and the field that placed it; NoCycle when no rule does."""
    spec = _rules()
    rules = spec["treaties"].get(treaty)
    if not rules:
        raise NoCycle(f"no report-cycle rules for treaty {treaty!r}")
    for rule in rules:
        if rule["field"] == "title" and title:
            match = rule["regex"].search(title)
            if match:
                return rule["cycle"].format(**_normalise_groups(match.groupdict(), spec["ordinals"])), "title"
        elif rule["field"] == "submission" and submitted_on:
            for window in rule["windows"]:
                if window["from"] <= submitted_on <= window["to"]:
                    return window["cycle"], "submission"
    raise NoCycle(f"no {treaty} report-cycle rule matches title {title!r} submitted {submitted_on}")


def _normalise_groups(groups: dict, ordinals: dict) -> dict:
    out = {k: v for k, v in groups.items() if v is not None}
    if "ordinal" in out:
        out["ordinal"] = ordinals[out["ordinal"].lower()]
    if "n" in out:
        out["n"] = int(out["n"])
    return out
