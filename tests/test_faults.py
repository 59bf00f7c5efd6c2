"""Fault injection: a few sources x what flaky upstreams do (replica.faults), extract -> stage ->
harmonize per cell. A transient fault must give exactly the fault-free observations; a lasting one
must fail cleanly, naming the source, the URL and what was wrong, before anything is published."""
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pytest

from extractors.http import UpstreamError
from replica.faults import FAULTS, FaultyReplica
from replica.server import Replica
from transforms.observations import NATURAL_KEY

from pipeline_helpers import ALL, harmonized_parts

#: source -> the endpoint (path prefix) its faults hit: a paged listing each
ENDPOINTS = {"informea": "/informea.svc/CountryReports", "cms-ors": "/cms-ors/api/v1/questionnaires/",
             "sdg-api": "/sdg/v1/sdg/Series/Data"}
#: lasting fault -> what the error says about it
FAILS_WITH = {
    "truncated-body": r"request failed after retries: .*(IncompleteRead|ChunkedEncodingError|ProtocolError)",
    "malformed-json": r"response is not JSON",
    "html-error-200": r"response is not JSON .*body starts [\"']<!DOCTYPE html>",
    "empty-page": r"response is not JSON .*body starts ''",
}
SEED = 20261128


@contextmanager
def pointed_at(server: Replica, data_dir: Path):
    """Every source's URL and credentials from ``server``, and ``data_dir`` as MEA_DATA_DIR."""
    with pytest.MonkeyPatch.context() as env:
        for variable, value in server.client_env().items():
            env.setenv(variable, value)
        env.setenv("MEA_DATA_DIR", str(data_dir))
        yield


def observation_keys(source: str) -> set[tuple]:
    """The natural keys and values of the source's harmonized observations."""
    parts = Path(harmonized_parts(f"faults-{source}", {**ALL, "sources": [source]})[0])
    obs = pd.read_parquet(parts / "observations.parquet")
    columns = NATURAL_KEY + ["value_num", "value_code"]
    return set(obs[columns].astype(str).itertuples(index=False, name=None))


@pytest.fixture(scope="module")
def fault_free(tmp_path_factory) -> dict[str, set[tuple]]:
    with Replica() as server, pointed_at(server, tmp_path_factory.mktemp("fault-free")):
        return {source: observation_keys(source) for source in ENDPOINTS}


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("source", ENDPOINTS)
def test_a_fault_gives_the_same_observations_or_a_clean_failure(tmp_path, fault_free, source, fault):
    data_dir = tmp_path / "var"
    with FaultyReplica(fault, ENDPOINTS[source], SEED) as server, pointed_at(server, data_dir):
        if fault not in FAILS_WITH:
            assert observation_keys(source) == fault_free[source]
        else:
            with pytest.raises(UpstreamError, match=FAILS_WITH[fault]) as failure:
                observation_keys(source)
            assert str(failure.value).startswith(f"[{source}] {server.url}{ENDPOINTS[source]}")
            assert "?" in failure.value.url or source == "cms-ors"  # the page asked for, not only the endpoint
    assert server.injected > 0  # the seeded request was asked for, and faulted
    assert not (data_dir / "current").exists() and not (data_dir / "releases").exists()
