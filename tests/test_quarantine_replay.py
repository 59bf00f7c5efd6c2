"""Quarantine that can be replayed: a mapping gap quarantines rows; once the mapping is fixed, a
re-processing run (``make reprocess``) reads them again from raw landing and publishes them, and
the manifest lists every quarantine row that left."""
import pandas as pd

from core.manifest import read_manifest
import transforms.cms_ors
from pipeline_helpers import ALL, run_pipeline

SOURCE = "cms-ors"
#: the crosswalk rows a reviewer "forgot": every answer to this question has no mapping
GAP = "question:1301"


def test_rows_quarantined_by_a_mapping_gap_are_published_by_a_reprocess_after_the_fix(data_dir, upstream,
                                                                                       monkeypatch):
    complete = transforms.cms_ors.load_crosswalk()
    gap = {key: row for key, row in complete.items() if key[0] != GAP}
    monkeypatch.setattr(transforms.cms_ors, "load_crosswalk", lambda: gap)
    broken = run_pipeline("night", {**ALL, "sources": ["informea", SOURCE]})  # InforMEA: the conventions
    held = pd.read_parquet(broken / "quarantine.parquet").query("field == @GAP")
    assert len(held) > 0 and "no row in the cms-ors crosswalk" in held["reason"].iloc[0]
    assert (held["first_seen"] <= held["last_seen"]).all()
    assert not (pd.read_parquet(broken / "observations.parquet")["source_field"] == GAP).any()

    monkeypatch.setattr(transforms.cms_ors, "load_crosswalk", lambda: complete)  # the mapping fix
    requests_before = upstream.stats.count()
    fixed = run_pipeline("reprocess", {**ALL, "sources": [SOURCE], "reprocess": True})
    assert upstream.stats.count() == requests_before  # read again from raw landing, not downloaded

    published = pd.read_parquet(fixed / "observations.parquet")
    replayed = published[published["source_field"] == GAP]
    assert set(replayed["source_record_id"]) >= set(held["source_record_id"])
    assert not (pd.read_parquet(fixed / "quarantine.parquet")["field"] == GAP).any()
    resolved = read_manifest(fixed)["quarantine"]["resolved"]
    keys = ["source_system", "source_record_id", "field", "reason"]
    assert sorted(tuple(r[k] for k in keys) for r in resolved if r["field"] == GAP) == \
        sorted(held[keys].itertuples(index=False, name=None))
    assert all(r["first_seen"] and r["last_seen"] for r in resolved)
