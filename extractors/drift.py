"""Schema drift: upstream records checked against the fields the pipeline relies on (fields.yaml).

A used field that no record of a page carries (renamed or dropped upstream) fails the source naming
the field and the URL: the pipeline would otherwise publish the page's records as blanks or lose
them. A field that some records lack is a record problem, which staging quarantines. A field
neither used nor known is drift in an unused field: it is returned, so the fetch log and then the
release manifest record it (``schema_drift``) instead of letting it pass silently.
"""
from __future__ import annotations

from functools import cache
from pathlib import Path

import yaml

from core.errors import Permanent
from extractors.http import UpstreamError

FIELDS_FILE = Path(__file__).with_name("fields.yaml")


class SchemaDrift(UpstreamError, Permanent):
    """A field the pipeline uses is on no record of a page: the upstream changed its schema, and
    fetching the page again will not bring the field back (core.errors: no retries)."""


@cache
def declared_fields() -> dict:
    """source -> entity -> {"used": [...], "known": [...]} from fields.yaml."""
    return yaml.safe_load(FIELDS_FILE.read_text(encoding="utf-8"))


def check_page(source: str, entity: str, records: list, page: dict) -> None:
    """Note the undeclared fields of one page's records in its fetch-log entry (``schema_drift``);
    raise SchemaDrift (an UpstreamError) when a used field is on none of them."""
    drift = undeclared_fields(source, entity, records, page["url"])
    if drift:
        page["schema_drift"] = drift


def undeclared_fields(source: str, entity: str, records: list, url: str) -> list[str]:
    """The fields of ``records`` neither used nor known (sorted); SchemaDrift when a used field is
    on none of them. Entities fields.yaml does not declare are not checked."""
    declared = declared_fields().get(source, {}).get(entity)
    rows = [r for r in records if isinstance(r, dict)]
    if declared is None or not rows:
        return []
    seen = set().union(*rows)
    lost = [name for name in declared["used"] if name not in seen]
    if lost:
        raise SchemaDrift(source, url, f"schema drift: used field(s) {lost} missing from every record of "
                                        f"{entity}; the records have {sorted(seen)}")
    return sorted(seen - set(declared["used"]) - set(declared["known"]))
