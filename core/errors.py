"""Failures that no retry can fix: the DAG fails their task at once instead of retrying it.

A retry helps when the cause may go away by itself (a timeout, a dropped connection, a 5xx, a
429). It cannot help when the data or the request is wrong: a failed audit, a workbook or export
that does not match its declared layout, schema drift in a field the pipeline uses, or an upstream
that answers 4xx (other than 408 and 429) to the request the code makes. Those errors inherit
``Permanent``, or carry ``permanent = True`` (an UpstreamError decides from its HTTP status), and
``is_permanent`` says which is which. Nothing here imports Airflow; the DAG maps permanent errors
to ``AirflowFailException``.
"""
from __future__ import annotations

#: 4xx answers a retry may still get past: Request Timeout and Too Many Requests
TRANSIENT_CLIENT_STATUSES = frozenset({408, 429})


class Permanent(Exception):
    """Marker base class: this error fails the same way however often the task is retried."""

    permanent = True


def permanent_status(status: int | None) -> bool:
    """True for an HTTP status no retry can fix: a 4xx other than 408 and 429."""
    return status is not None and 400 <= status < 500 and status not in TRANSIENT_CLIENT_STATUSES


def is_permanent(exc: BaseException) -> bool:
    """True when ``exc`` says no retry can fix it (a ``Permanent`` or ``permanent = True``)."""
    return isinstance(exc, Permanent) or getattr(exc, "permanent", False) is True
