"""Alerts: a failure callback and the end-of-run summary, in the log and through Airflow notifiers.

Which notifiers run is configuration, not code: ``MEA_ALERTS`` names a YAML file listing Airflow
notifier classes (an SMTP or Slack provider's notifier, for example), the events each one wants
(``failure``, ``summary``) and its arguments; templated arguments can use ``{{ mea_alert }}``,
the alert text. Without ``MEA_ALERTS`` alerts go to the task log only.

    - notifier: airflow.providers.smtp.notifications.smtp.SmtpNotifier
      events: [failure, summary]
      kwargs: {to: data-officers@example.org, subject: "mea-reporting {{ dag_run.run_id }}",
               html_content: "<pre>{{ mea_alert }}</pre>"}
"""
from __future__ import annotations

import importlib
import logging
from pathlib import Path

import yaml

from core import settings

log = logging.getLogger(__name__)
EVENTS = ("failure", "summary")


def configured_notifiers(event: str) -> list:
    """Fresh notifier instances configured for ``event`` (notifiers render their fields in place)."""
    path = settings.text("MEA_ALERTS")
    if not path:
        return []
    entries = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or []
    notifiers = []
    for entry in entries:
        unknown = set(entry.get("events", EVENTS)) - set(EVENTS)
        if unknown:
            raise ValueError(f"{path}: unknown alert events {sorted(unknown)}; known: {list(EVENTS)}")
        if event in entry.get("events", EVENTS):
            module, _, name = entry["notifier"].rpartition(".")
            notifiers.append(getattr(importlib.import_module(module), name)(**entry.get("kwargs", {})))
    return notifiers


def send(event: str, context: dict, text: str) -> None:
    """Log ``text`` and hand it to every notifier configured for ``event``; a notifier that fails
    is logged, never allowed to hide the run's own outcome."""
    (log.error if event == "failure" else log.info)("%s\n%s", event, text)
    for notifier in configured_notifiers(event):
        try:
            notifier({**context, "mea_alert": text})
        except Exception:  # an alert channel being down must not fail or mask the run
            log.exception("notifier %s failed", type(notifier).__name__)


def on_failure(context: dict) -> None:
    """Airflow ``on_failure_callback``: which task of which run failed, and why."""
    ti, run = context.get("task_instance") or context.get("ti"), context.get("dag_run")
    text = (f"mea-reporting: task {getattr(ti, 'task_id', '?')} of run {getattr(run, 'run_id', '?')} failed "
            f"(try {getattr(ti, 'try_number', '?')}): {context.get('exception')!r}\n"
            "the live release is unchanged; see the task log")
    send("failure", context, text)
