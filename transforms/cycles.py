"""Report cycles: which reporting round of its convention a national report belongs to, and
each round's deadline.

The catalogue is ``mappings/report_cycles.yaml``: per convention, title rules and the whole
history of its cycles (deadline, meeting served, submission-date window, where each date comes
from). A report is placed by its title when the title names exactly one catalogued cycle, else
by its submission date when that falls in exactly one window of its convention; otherwise
:class:`NoCycle` says why, and the caller quarantines the report. A catalogue with overlapping
windows, an unparseable date or an unknown key is refused with :class:`CatalogueError` naming
the file and line.
"""
from __future__ import annotations

import re
import string
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from pathlib import Path

import pandas as pd
import yaml

from core.errors import Permanent

RULES = Path(__file__).parent / "mappings" / "report_cycles.yaml"

CYCLE_KEYS = {"id", "deadline", "basis", "meeting", "window", "source"}
BASES = {"decision", "notification", "approximate", "none"}
_LINE, _LINES = "__line__", "__lines__"


class NoCycle(LookupError):
    """No reviewed rule places the report, or two do; the message names the treaty, title, date
    and the candidate cycles."""


class CatalogueError(ValueError, Permanent):
    """The cycle catalogue is not usable; the message starts with ``<file>:<line>:``."""


@dataclass(frozen=True)
class CycleInfo:
    """One reporting cycle of the catalogue."""
    cycle: str
    treaty: str
    deadline: date | None
    basis: str
    meeting: str | None
    window: tuple[date, date] | None
    source: str
    line: int


@dataclass(frozen=True)
class TitleRule:
    regex: re.Pattern
    cycle: str
    line: int


@dataclass(frozen=True)
class Catalogue:
    path: Path
    ordinals: dict[str, int]
    rules: dict[str, tuple[TitleRule, ...]]
    cycles: dict[str, CycleInfo]

    def of(self, treaty: str) -> list[CycleInfo]:
        return [c for c in self.cycles.values() if c.treaty == treaty]


# Loading and validating the catalogue.

class _Loader(yaml.SafeLoader):
    """SafeLoader that records the line of every mapping (``__line__``) and of each of its keys
    (``__lines__``), and reports a malformed date with its line."""
    path = "report_cycles.yaml"


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> dict:
    loader.flatten_mapping(node)
    mapping = {}
    lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in mapping:
            raise CatalogueError(f"{loader.path}:{key_node.start_mark.line + 1}: duplicate key {key!r}")
        mapping[key] = loader.construct_object(value_node, deep=True)
        lines[key] = value_node.start_mark.line + 1
    mapping[_LINE] = node.start_mark.line + 1
    mapping[_LINES] = lines
    return mapping


def _construct_timestamp(loader: _Loader, node: yaml.ScalarNode):
    try:
        return yaml.SafeLoader.construct_yaml_timestamp(loader, node)
    except ValueError as exc:
        raise CatalogueError(f"{loader.path}:{node.start_mark.line + 1}: {node.value!r} is not a date ({exc})") \
            from None


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_Loader.add_constructor("tag:yaml.org,2002:timestamp", _construct_timestamp)


def load_catalogue(path: Path | str = RULES) -> Catalogue:
    """The catalogue in ``path``, validated; CatalogueError (``file:line: problem``) otherwise."""
    path = Path(path)
    loader = _Loader(path.read_text(encoding="utf-8"))
    loader.path = str(path)
    try:
        spec = loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise CatalogueError(f"{path}:{mark.line + 1 if mark else '?'}: not valid YAML: {exc.problem}") from None
    finally:
        loader.dispose()
    fail = _failer(path)
    if not isinstance(spec, dict) or not isinstance(spec.get("treaties"), dict):
        fail(1, "expected a mapping with `ordinals` and `treaties`")
    ordinals = {k: v for k, v in (spec.get("ordinals") or {}).items() if not k.startswith("__")}
    rules, cycles = {}, {}
    for treaty, body in spec["treaties"].items():
        if treaty.startswith("__"):
            continue
        line = spec["treaties"][_LINES][treaty]
        if not isinstance(body, dict):
            fail(line, f"treaty {treaty}: expected a mapping with `rules` and `cycles`")
        unknown = set(body) - {"rules", "cycles", _LINE, _LINES}
        if unknown:
            fail(line, f"treaty {treaty}: unknown keys {sorted(unknown)}")
        rules[treaty] = tuple(_title_rule(treaty, rule, fail) for rule in body.get("rules") or [])
        for raw in body.get("cycles") or []:
            info = _cycle(treaty, raw, fail)
            if info.cycle in cycles:
                fail(info.line, f"cycle {info.cycle} is listed twice (first at line {cycles[info.cycle].line})")
            cycles[info.cycle] = info
        _check_windows([c for c in cycles.values() if c.treaty == treaty], fail)
    return Catalogue(path, ordinals, rules, cycles)


def _failer(path: Path):
    def fail(line: int, problem: str):
        raise CatalogueError(f"{path}:{line}: {problem}")
    return fail


def _title_rule(treaty: str, rule, fail) -> TitleRule:
    line = rule.get(_LINE, 0) if isinstance(rule, dict) else 0
    if not isinstance(rule, dict) or set(rule) - {_LINE, _LINES} != {"pattern", "cycle"}:
        fail(line, f"treaty {treaty}: a rule needs exactly `pattern` and `cycle`")
    try:
        regex = re.compile(rule["pattern"])
    except re.error as exc:
        fail(line, f"treaty {treaty}: pattern {rule['pattern']!r} is not a regex ({exc})")
    template = rule["cycle"]
    if not str(template).startswith(f"{treaty}:"):
        fail(line, f"treaty {treaty}: cycle {template!r} does not start with {treaty + ':'!r}")
    fields = {name for _, name, _, _ in string.Formatter().parse(template) if name}
    if not fields <= set(regex.groupindex):
        fail(line, f"treaty {treaty}: cycle {template!r} uses {sorted(fields - set(regex.groupindex))}, "
                   f"which the pattern does not capture")
    return TitleRule(regex, template, line)


def _cycle(treaty: str, raw, fail) -> CycleInfo:
    if not isinstance(raw, dict):
        fail(0, f"treaty {treaty}: a cycle must be a mapping, got {raw!r}")
    line, lines = raw[_LINE], raw[_LINES]
    unknown = set(raw) - CYCLE_KEYS - {_LINE, _LINES}
    missing = CYCLE_KEYS - set(raw)
    if unknown or missing:
        fail(line, f"treaty {treaty}: cycle {raw.get('id')!r}: unknown keys {sorted(unknown)}, "
                   f"missing keys {sorted(missing)}")
    cycle = raw["id"]
    if not isinstance(cycle, str) or not re.fullmatch(rf"{re.escape(treaty)}:[A-Za-z0-9-]+", cycle):
        fail(lines["id"], f"treaty {treaty}: cycle id {cycle!r} is not {treaty}:<round>")
    deadline = _date_or_none(raw["deadline"], f"{cycle} deadline", lines["deadline"], fail)
    if raw["basis"] not in BASES:
        fail(lines["basis"], f"{cycle}: basis {raw['basis']!r} is not one of {sorted(BASES)}")
    if (deadline is None) != (raw["basis"] == "none"):
        fail(lines["basis"], f"{cycle}: basis `none` goes with a null deadline, and only with one")
    window = raw["window"]
    if window is not None:
        wline = lines["window"]
        if not isinstance(window, dict) or set(window) - {_LINE, _LINES} != {"from", "to"}:
            fail(wline, f"{cycle}: window must be {{from: YYYY-MM-DD, to: YYYY-MM-DD}} or null")
        start = _date_or_none(window["from"], f"{cycle} window from", window[_LINES]["from"], fail)
        end = _date_or_none(window["to"], f"{cycle} window to", window[_LINES]["to"], fail)
        if start is None or end is None or start > end:
            fail(wline, f"{cycle}: window {start}..{end} is empty or open")
        window = (start, end)
    for key in ("meeting", "source"):
        if raw[key] is not None and not isinstance(raw[key], str):
            fail(lines[key], f"{cycle}: {key} must be text")
    if not (raw["source"] or "").strip():
        fail(lines["source"], f"{cycle}: source must say where the dates come from")
    return CycleInfo(cycle, treaty, deadline, raw["basis"], raw["meeting"], window, raw["source"].strip(), line)


def _date_or_none(value, what: str, line: int, fail) -> date | None:
    if value is None:
        return None
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    fail(line, f"{what}: {value!r} is not a date (YYYY-MM-DD) or null")


def _check_windows(cycles: list[CycleInfo], fail) -> None:
    """Windows of one convention must not overlap: a date places a report in at most one cycle."""
    windowed = sorted((c for c in cycles if c.window), key=lambda c: c.window)
    latest = None
    for info in windowed:
        if latest is not None and info.window[0] <= latest.window[1]:
            fail(info.line, f"{info.treaty} window of {info.cycle} ({_span(info.window)}) overlaps the window of "
                            f"{latest.cycle} ({_span(latest.window)}, line {latest.line}): windows of one "
                            f"convention must not overlap")
        if latest is None or info.window[1] > latest.window[1]:
            latest = info


def _span(window: tuple[date, date]) -> str:
    return f"{window[0]}..{window[1]}"


@cache
def catalogue() -> Catalogue:
    """The reviewed catalogue (mappings/report_cycles.yaml), loaded once."""
    return load_catalogue(RULES)


# Placing a report.

def report_cycle(treaty: str, title: str | None, submitted_on: date | None) -> tuple[str, str]:
    """The cycle (e.g. ``cbd:NR6``) and the field that placed it (``title`` or ``submission``);
    NoCycle when no rule places the report, or when two place it in different cycles."""
    cat = catalogue()
    if treaty not in cat.rules:
        raise NoCycle(f"no report-cycle rules for treaty {treaty!r}")
    named = _cycles_named(cat, treaty, title)
    what = f"{treaty} report titled {title!r} submitted {submitted_on}"
    if len(named) > 1:
        raise NoCycle(f"ambiguous {what}: the title names {len(named)} cycles ({', '.join(named)}); "
                      f"quarantined rather than guessed")
    if named:
        if named[0] not in cat.cycles:
            raise NoCycle(f"no {treaty} report-cycle rule matches title {title!r} submitted {submitted_on}: the "
                          f"title names {named[0]}, which transforms/mappings/report_cycles.yaml does not list")
        return named[0], "title"
    windows = [c for c in cat.of(treaty) if c.window]
    if submitted_on is not None:
        day = _as_date(submitted_on)
        hits = [c for c in windows if c.window[0] <= day <= c.window[1]]
        if len(hits) == 1:
            return hits[0].cycle, "submission"
        if hits:
            raise NoCycle(f"ambiguous {what}: the date is in {len(hits)} windows "
                          f"({', '.join(f'{c.cycle} {_span(c.window)}' for c in hits)})")
        near = _neighbours(windows, day)
        where = (f"the date is in no {treaty} window (nearest: "
                 f"{', '.join(f'{c.cycle} {_span(c.window)}' for c in near)})") if near \
            else f"{treaty} cycles have no date windows (title only)"
    else:
        where = "there is no submission date"
    raise NoCycle(f"no {treaty} report-cycle rule matches title {title!r} submitted {submitted_on}: the title "
                  f"names no cycle and {where}")


def _cycles_named(cat: Catalogue, treaty: str, title: str | None) -> list[str]:
    """Every distinct cycle the title rules read in ``title``, in order of appearance."""
    named = []
    for rule in cat.rules[treaty] if title else ():
        for match in rule.regex.finditer(title):
            cycle = rule.cycle.format(**_normalise_groups(match.groupdict(), cat.ordinals))
            if cycle not in named:
                named.append(cycle)
    return named


def _neighbours(windows: list[CycleInfo], day: date) -> list[CycleInfo]:
    """The windows just before and just after ``day``."""
    before = [c for c in windows if c.window[1] < day]
    after = [c for c in windows if c.window[0] > day]
    near = [max(before, key=lambda c: c.window[1])] if before else []
    return near + ([min(after, key=lambda c: c.window[0])] if after else [])


def _normalise_groups(groups: dict, ordinals: dict) -> dict:
    out = {k: v for k, v in groups.items() if v is not None}
    if "ordinal" in out:
        out["ordinal"] = ordinals[out["ordinal"].lower()]
    if "n" in out:
        out["n"] = int(out["n"])
    return out


# Deadlines.

def cycle_info(cycle_id: str | None) -> CycleInfo | None:
    """The catalogue entry of ``cycle_id`` (e.g. ``cms:COP13``), or None when it has none
    (national-plan cycles such as ``cbd:NBSAP``, rounds not catalogued)."""
    return catalogue().cycles.get(cycle_id) if isinstance(cycle_id, str) else None


def deadline(cycle_id: str | None) -> date | None:
    """The (final) reporting deadline of ``cycle_id``; None when the cycle has no single one or
    is not catalogued."""
    info = cycle_info(cycle_id)
    return info.deadline if info else None


def with_deadlines(submissions: pd.DataFrame) -> pd.DataFrame:
    """``report_submissions`` with ``deadline`` (of its cycle) and ``on_time`` (submitted on or
    before the deadline) right after ``submitted_on``; both null when either date is unknown.
    Existing ``deadline``/``on_time`` columns are recomputed, so calling it twice is harmless."""
    out = submissions.drop(columns=["deadline", "on_time"], errors="ignore").copy()
    deadlines = [deadline(c) for c in out["report_cycle"]]
    submitted = [_as_date(v) for v in out["submitted_on"]] if "submitted_on" in out else [None] * len(out)
    on_time = [None if s is None or d is None else s <= d for s, d in zip(submitted, deadlines)]
    at = list(out.columns).index("submitted_on") + 1 if "submitted_on" in out else len(out.columns)
    out.insert(at, "deadline", pd.Series(deadlines, index=out.index, dtype=object))
    out.insert(at + 1, "on_time", pd.Series(on_time, index=out.index, dtype=object))
    return out


def _as_date(value) -> date | None:
    """A calendar date from a date, datetime, Timestamp or ISO text; None for every missing marker."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])
