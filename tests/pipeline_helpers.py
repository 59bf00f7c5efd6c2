"""Run the pipeline's task functions directly, as the DAG's tasks call them."""
from contextlib import contextmanager
from pathlib import Path

from core.sources import SOURCES
from extractors.pipeline import extract_source
from outputs.audit import audit_release
from outputs.publish import publish
from outputs.release import build_release
from replica.server import Replica
from transforms.pipeline import harmonize_source, stage_source

ALL = {"sources": list(SOURCES), "countries": [], "cycles": [], "allow_partial": False}
#: everything rebuilt from raw landing: a new release even when nothing changed upstream
REBUILD = {**ALL, "reprocess": True}


def harmonized_parts(run_id: str, params: dict = ALL) -> list[str]:
    parts = []
    for source in params["sources"]:
        staging = stage_source(source, extract_source(source, run_id, params))
        parts.append(harmonize_source(source, staging))
    return parts


def run_pipeline(run_id: str, params: dict = ALL) -> Path:
    """Extract, stage, harmonize, build, audit and publish; the published release folder."""
    release = build_release(harmonized_parts(run_id, params), params, run_id)
    audit_release(release)
    publish(release)
    return release


@contextmanager
def serving(snapshot: Path, monkeypatch, port: int = 0):
    """The replica on ``snapshot`` with every source pointed at it; at ``port`` to keep the source
    URLs, and with them the upstreams (core.sources.upstream_id), the same across a change."""
    server = Replica(snapshot_dir=snapshot, port=port).start()
    for variable, value in server.client_env().items():
        monkeypatch.setenv(variable, value)
    try:
        yield server
    finally:
        server.stop()
