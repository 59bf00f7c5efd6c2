"""``make bench``: the nightly at real-world scale, its stages, a no-change night and the baselines,
medians over RUNS, as a table and bench/results/latest.json (bench/README.md says what each figure is).

``python -m bench.run --scale 0.05 --runs 3 [--concurrency 8] [--latency-ms 50]``; run it through
``make bench`` (Airflow's environment and the ``bench`` dependency group, which holds dlt).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

from bench import airflow_runs
from bench.generate import generate
from bench.measure import median, run_json
from core.sources import SOURCES
from replica.server import Replica, seed_inbox

HERE = Path(__file__).parent
RESULTS = HERE / "results"
WORK = HERE / "cache" / "work"
STAGES = ("extract", "stage", "harmonize")
FINAL_TASKS = ("build_release", "audit_release", "publish_release")
BASELINES = ("informea-sequential", "informea-dlt", "cites-pandas", "cites-copy-floor")
LATEST_KEYS = ("scale", "concurrency", "informea_vs_sequential", "informea_vs_dlt", "informea_over_floor",
               "cites_over_copy_floor", "cites_vs_pandas", "cites_peak_rss_mb", "nochange_share",
               "nochange_bulk_bytes", "full_run_s", "airflow_floor_s", "dag_parse_s", "cores", "memory")


def slug(source: str) -> str:
    return source.replace("-", "_")


def base_env(concurrency: int) -> dict[str, str]:
    """This environment (Airflow's, from the Makefile) with the bench's concurrency per host."""
    return {**os.environ, "MEA_HTTP_CONCURRENCY": str(concurrency), "TQDM_DISABLE": "1"}


def fresh(folder: Path) -> Path:
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


def airflow_nights(data: Path, env: dict, latency_ms: float, work: Path) -> dict:
    """A first night on an empty data folder, then a night with nothing changed upstream."""
    env = {**env, "MEA_DATA_DIR": str(fresh(work / "data"))}
    replica_args = ["--data", str(data), "--latency-ms", str(latency_ms)]
    full = airflow_runs.dags_test(airflow_runs.DAG_ID, env, replica_args, work)
    nochange = airflow_runs.dags_test(airflow_runs.DAG_ID, env, replica_args, work)
    return {"full": full.__dict__, "nochange": nochange.__dict__}


def task_in_process(name: str, args: list[str], env: dict, work: Path) -> tuple[str, float, float]:
    """(result, seconds, peak RSS MB) of one pipeline task run alone by bench/task.py."""
    out, peak = run_json([sys.executable, "-m", "bench.task", name, *args], env, work / f"{name}-{time.time_ns()}.log")
    return out["result"], out["seconds"], peak


def stage_by_stage(data: Path, env: dict, latency_ms: float, work: Path) -> dict:
    """Every task of the nightly in its own process, in DAG order, against an in-process replica:
    seconds and peak RSS per task, and requests and bytes per source."""
    data_dir = fresh(work / "data")
    run_id = f"bench_stages_{time.time_ns()}"
    tasks, parts = {}, {}
    with Replica(snapshot_dir=data, latency_ms=latency_ms) as replica:
        env = {**env, **replica.client_env(), "MEA_DATA_DIR": str(data_dir)}
        seed_inbox(replica.snapshot_root, data_dir / "inbox")
        for source in SOURCES:
            fetch_log, seconds, peak = task_in_process("extract", [source, run_id], env, work)
            tasks[f"extract_{slug(source)}"] = {"seconds": seconds, "peak_rss_mb": peak}
            staging, seconds, peak = task_in_process("stage", [source, fetch_log], env, work)
            tasks[f"stage_{slug(source)}"] = {"seconds": seconds, "peak_rss_mb": peak}
            result, seconds, peak = task_in_process("harmonize", [source, staging], env, work)
            tasks[f"harmonize_{slug(source)}"] = {"seconds": seconds, "peak_rss_mb": peak}
            parts[source] = result
        traffic = replica.traffic()
    release, seconds, peak = task_in_process("build", [run_id, json.dumps(list(parts.values()))], env, work)
    tasks["build_release"] = {"seconds": seconds, "peak_rss_mb": peak}
    for task, name in (("audit_release", "audit"), ("publish_release", "publish")):
        _, seconds, peak = task_in_process(name, [release], env, work)
        tasks[task] = {"seconds": seconds, "peak_rss_mb": peak}
    return {"tasks": tasks, "traffic": traffic, "informea_parse_s": informea_parse_seconds(data_dir)}


def informea_parse_seconds(data_dir: Path) -> float:
    from bench.baselines import json_parse_seconds
    return json_parse_seconds(data_dir / "raw" / "informea")


def baselines(data: Path, env: dict, latency_ms: float, work: Path) -> dict:
    """Each baseline in its own process; None for one that cannot run (e.g. dlt not installed)."""
    results = {}
    # public_url=None: __next links name the port the client used, so off-the-shelf clients follow them
    with Replica(snapshot_dir=data, latency_ms=latency_ms, public_url=None) as replica:
        targets = {"informea": replica.source_urls()["informea"],
                   "cites": str(data / "cites-trade" / "trade_db.zip")}
        for name in BASELINES:
            out = fresh(work / name)
            command = [sys.executable, "-m", "bench.baselines", name, targets[name.split("-")[0]], str(out)]
            try:
                measured, peak = run_json(command, env, work / f"{name}.log")
                results[name] = {**measured, "peak_rss_mb": peak}
            except RuntimeError as error:
                print(f"bench: baseline {name} did not run: {error}", file=sys.stderr)
                results[name] = None
            shutil.rmtree(out, ignore_errors=True)
    return results


def memory_gib() -> float:
    """Total memory of the machine in GiB (from /proc/meminfo)."""
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return round(int(line.split()[1]) / 2**20, 1)
    return float("nan")


def collect(scale: float, runs: int, concurrency: int, latency_ms: float, details: Path) -> dict:
    """Generate (or reuse) the scaled data and measure everything ``runs`` times; after each run the
    measurements so far go to ``details``, so a long SCALE=1 bench that is stopped keeps them."""
    data = generate(scale)
    env = base_env(concurrency)
    work = fresh(WORK / f"scale-{scale:g}")
    iterations = []
    for n in range(runs):
        print(f"bench: run {n + 1}/{runs}", file=sys.stderr, flush=True)
        iterations.append({
            "airflow": airflow_nights(data, env, latency_ms, fresh(work / f"airflow-{n}")),
            "stages": stage_by_stage(data, env, latency_ms, fresh(work / f"stages-{n}")),
            "baselines": baselines(data, env, latency_ms, fresh(work / f"baselines-{n}")),
            "floor": airflow_runs.floor_run(env, fresh(work / f"floor-{n}")).__dict__,
        })
        details.write_text(json.dumps({"scale": scale, "runs_done": n + 1, "iterations": iterations}, indent=1,
                                      default=str))
    parse = [airflow_runs.dag_parse_seconds(env) for _ in range(max(5, runs))]
    manifest = json.loads((data / "manifest.json").read_text())
    return {"scale": scale, "runs": runs, "concurrency": concurrency, "latency_ms": latency_ms,
            "counts": manifest["counts"], "iterations": iterations, "dag_parse": parse}


def summarise(raw: dict) -> dict:
    """Medians of every figure, and the latest.json ratios."""
    its = raw["iterations"]
    m = lambda get: median(get(it) for it in its)  # noqa: E731
    task = lambda name, key="seconds": m(lambda it: it["stages"]["tasks"][name][key])  # noqa: E731
    base = lambda name: m(lambda it: (it["baselines"][name] or {}).get("seconds"))  # noqa: E731
    informea_s = task("extract_informea")
    informea_requests = m(lambda it: it["stages"]["traffic"]["informea"]["requests"])
    informea_floor = (informea_requests * raw["latency_ms"] / 1000 / raw["concurrency"]
                      + m(lambda it: it["stages"]["informea_parse_s"]))
    cites_tasks = [f"{stage}_cites_trade" for stage in STAGES]
    cites_s = m(lambda it: sum(it["stages"]["tasks"][t]["seconds"] for t in cites_tasks))
    full_s = m(lambda it: it["airflow"]["full"]["seconds"])
    nochange_s = m(lambda it: it["airflow"]["nochange"]["seconds"])
    floor_s = m(lambda it: it["floor"]["seconds"])
    ratio = lambda a, b: round(a / b, 3) if a is not None and b else None  # noqa: E731
    latest = {
        "scale": raw["scale"], "concurrency": raw["concurrency"],
        "informea_vs_sequential": ratio(base("informea-sequential"), informea_s),
        "informea_vs_dlt": ratio(base("informea-dlt"), informea_s),
        "informea_over_floor": ratio(informea_s, informea_floor),
        "cites_over_copy_floor": ratio(cites_s, base("cites-copy-floor")),
        "cites_vs_pandas": ratio(base("cites-pandas"), cites_s),
        "cites_peak_rss_mb": round(max(task(t, "peak_rss_mb") for t in cites_tasks)),
        "nochange_share": ratio(nochange_s - floor_s, full_s - floor_s),
        "nochange_bulk_bytes": m(lambda it: it["airflow"]["nochange"]["traffic"].get("cites-trade", {})
                                 .get("bytes", 0)),
        "full_run_s": round(full_s, 1), "airflow_floor_s": round(floor_s, 1),
        "dag_parse_s": round(median(raw["dag_parse"]), 3), "cores": os.cpu_count(), "memory": f"{memory_gib()} GiB",
    }
    assert tuple(latest) == LATEST_KEYS
    details = {"informea_s": informea_s, "informea_floor_s": informea_floor, "informea_requests": informea_requests,
               "cites_s": cites_s, "nochange_s": nochange_s,
               "audit_share": ratio(m(lambda it: it["airflow"]["full"]["tasks"].get("audit_release")), full_s),
               "baselines": {name: base(name) for name in BASELINES}}
    return {"latest": latest, "details": details}


def task_rows(raw: dict) -> list[tuple]:
    """(task, own-process s, Airflow task s, peak RSS MB, requests, MB downloaded, no-change Airflow s)."""
    its = raw["iterations"]
    rows = []
    for source in SOURCES:
        traffic = lambda key: median(it["stages"]["traffic"].get(source, {}).get(key) for it in its)  # noqa: E731
        for n, stage in enumerate(STAGES):
            name = f"{stage}_{slug(source)}"
            rows.append((name, *task_figures(its, name), traffic("requests") if n == 0 else None,
                         (traffic("bytes") or 0) / 1e6 if n == 0 and source in its[0]["stages"]["traffic"] else None))
    for name in FINAL_TASKS:
        rows.append((name, *task_figures(its, name), None, None))
    return rows


def task_figures(its: list[dict], name: str) -> tuple:
    return (median(it["stages"]["tasks"][name]["seconds"] for it in its),
            median(it["airflow"]["full"]["tasks"].get(name) for it in its),
            median(it["airflow"]["nochange"]["tasks"].get(name) for it in its),
            median(it["stages"]["tasks"][name]["peak_rss_mb"] for it in its))


def fmt(value, spec: str = ".1f") -> str:
    return "-" if value is None else format(value, spec)


def table(raw: dict, summary: dict) -> str:
    """The printed report."""
    latest, details = summary["latest"], summary["details"]
    its = raw["iterations"]
    total = lambda night, key: median(  # noqa: E731
        it["airflow"][night]["traffic"].get("total", {}).get(key) for it in its)
    lines = [
        f"mea-reporting bench: scale {raw['scale']:g} {raw['counts']}",
        f"concurrency {raw['concurrency']}, replica latency {raw['latency_ms']:g} ms, medians of {raw['runs']} runs; "
        f"{latest['cores']} cores, {latest['memory']} (shared with other work: figures are contended)",
        "",
        "Nightly through Airflow (airflow dags test)              seconds  requests      MB",
        f"  full run                                              {fmt(latest['full_run_s']):>8}  "
        f"{fmt(total('full', 'requests'), '.0f'):>8}  {fmt((total('full', 'bytes') or 0) / 1e6):>6}",
        f"  no-change night                                       {fmt(details['nochange_s']):>8}  "
        f"{fmt(total('nochange', 'requests'), '.0f'):>8}  {fmt((total('nochange', 'bytes') or 0) / 1e6):>6}",
        f"  Airflow floor (no-op DAG, same shape)                 {fmt(latest['airflow_floor_s']):>8}",
        f"  nochange_share {fmt(latest['nochange_share'], '.3f')}, bulk bytes on the no-change night "
        f"{latest['nochange_bulk_bytes']}, GX audit share of the full run {fmt(details['audit_share'], '.1%')}, "
        f"DAG parse {fmt(latest['dag_parse_s'], '.3f')} s",
        "",
        "Per task: own process s | Airflow task s (full / no-change) | peak RSS MB | requests | MB downloaded",
    ]
    for name, own, full, nochange, rss, requests, mb in task_rows(raw):
        lines.append(f"  {name:<26} {fmt(own):>8} | {fmt(full):>7} / {fmt(nochange):>6} | {fmt(rss, '.0f'):>6} | "
                     f"{fmt(requests, '.0f'):>6} | {fmt(mb):>7}")
    b = details["baselines"]
    lines += [
        "",
        "Baselines (seconds; ratio = baseline / pipeline, floor ratio = pipeline / floor)",
        f"  InforMEA extract {fmt(details['informea_s'], '.2f')} s "
        f"({fmt(details['informea_requests'], '.0f')} requests)"
        f" | sequential requests+pandas {fmt(b['informea-sequential'], '.2f')} s "
        f"({fmt(latest['informea_vs_sequential'], '.2f')}x)"
        f" | dlt rest_api {fmt(b['informea-dlt'], '.2f')} s ({fmt(latest['informea_vs_dlt'], '.2f')}x)"
        f" | latency floor {fmt(details['informea_floor_s'], '.2f')} s ({fmt(latest['informea_over_floor'], '.2f')}x)",
        f"  CITES extract+stage+harmonize {fmt(details['cites_s'], '.2f')} s, peak {latest['cites_peak_rss_mb']} MB"
        f" | pandas {fmt(b['cites-pandas'], '.2f')} s ({fmt(latest['cites_vs_pandas'], '.2f')}x)"
        f" | DuckDB copy floor {fmt(b['cites-copy-floor'], '.2f')} s ({fmt(latest['cites_over_copy_floor'], '.2f')}x)",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=0.05)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=8, help="MEA_HTTP_CONCURRENCY for the pipeline")
    parser.add_argument("--latency-ms", type=float, default=50, help="replica latency per response")
    args = parser.parse_args(argv)
    RESULTS.mkdir(exist_ok=True)
    details = RESULTS / f"run-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-scale-{args.scale:g}.json"
    raw = collect(args.scale, args.runs, args.concurrency, args.latency_ms, details)
    summary = summarise(raw)
    details.write_text(json.dumps({**raw, **summary}, indent=1, default=str))
    (RESULTS / "latest.json").write_text(json.dumps(summary["latest"], indent=1) + "\n")
    print(table(raw, summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
