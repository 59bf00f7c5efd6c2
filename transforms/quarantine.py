"""Quarantine: rejected input rows with the source, record, field, value and reason."""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

COLUMNS = ["source_system", "entity", "source_record_id", "field", "value", "reason", "raw_sha256",
           "source_url", "first_seen", "last_seen"]


@dataclass(frozen=True)
class Origin:
    """Where a row was seen: its raw landing file, the request, and when the file was retrieved."""

    raw_sha256: str
    source_url: str | None
    seen_at: str


class Quarantine:
    """Collects rejections while a source is staged or harmonized."""

    def __init__(self, source_system: str):
        self.source_system = source_system
        self.rows: list[dict] = []

    def reject(self, entity: str, record_id: str, field: str, value, reason: str, origin: Origin) -> None:
        """Record one rejected row; ``value`` is kept as text, as received."""
        self.rows.append({
            "source_system": self.source_system, "entity": entity, "source_record_id": str(record_id),
            "field": field, "value": None if value is None else str(value), "reason": reason,
            "raw_sha256": origin.raw_sha256, "source_url": origin.source_url,
            "first_seen": origin.seen_at, "last_seen": origin.seen_at,
        })

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows, columns=COLUMNS)
