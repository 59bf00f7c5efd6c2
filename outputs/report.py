"""The static HTML report of a release: ``report/`` in the release folder, entry ``report/index.html``.

Offline by construction: plotly.min.js is copied once into the folder and every page refers to
it by a relative path; nothing is loaded from a CDN. Pages: the release summary with its diff
against the previous release, the coverage heatmap, GBF targets by convention and Party counts,
the quarantine and audit summaries (linking the GX Data Docs in ``../data_docs/``), the data
dictionary, and one page per country with its submissions and latest values linked upstream.
Built after a passing audit, before publish switches ``current``.
"""
from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from urllib.parse import urlsplit

import duckdb
import pandas as pd
import plotly
import plotly.graph_objects as go
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from core.manifest import add_files, read_manifest
from outputs.audit import DATA_DOCS
from outputs.dictionary import dictionary
from outputs.release import DUCKDB
from outputs.workbook import coverage_matrix
from transforms.coverage import MISSING, NOT_A_PARTY, SUBMITTED, SUBMITTED_LATE
from transforms.units import unit_label

REPORT = "report"
TEMPLATES = Path(__file__).parent / "templates"
PLOTLY_JS = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
HEATMAP_ID = "coverage-heatmap"
#: quarantine reasons listed on the index page, most frequent first
TOP_REASONS = 25
log = logging.getLogger(__name__)


def write_report(release: Path) -> Path:
    """Write ``report/`` into ``release`` and record its files in the manifest; return index.html."""
    release = Path(release)
    folder = release / REPORT
    shutil.rmtree(folder, ignore_errors=True)
    (folder / "countries").mkdir(parents=True)
    shutil.copyfile(PLOTLY_JS, folder / PLOTLY_JS.name)
    env = template_environment()
    data = report_data(release)
    countries = country_contexts(data)
    pages = {"index.html": env.get_template("index.html.j2").render(root="", **index_context(release, data,
                                                                                             list(countries))),
             "dictionary.html": env.get_template("dictionary.html.j2").render(
                 root="", title="Data dictionary", terms=records(dictionary()))}
    for iso3, context in countries.items():
        pages[f"countries/{iso3}.html"] = env.get_template("country.html.j2").render(root="../", **context)
    for name, html in pages.items():
        (folder / name).write_text(html, encoding="utf-8")
    add_files(release, [f"{REPORT}/{name}" for name in [*pages, PLOTLY_JS.name]])
    log.info("report of release %s: %d pages in %s", release.name, len(pages), folder)
    return folder / "index.html"


def template_environment() -> Environment:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True, undefined=StrictUndefined,
                      trim_blocks=True, lstrip_blocks=True)
    env.filters["web_url"] = web_url
    env.filters["unit_name"] = unit_label
    env.globals["plotly_js"] = PLOTLY_JS.name
    return env


def web_url(value) -> str | None:
    """``value`` when it is an http(s) address a browser may follow, else None (no javascript:
    links from upstream text, no relative inbox paths)."""
    if isinstance(value, str) and urlsplit(value).scheme in ("http", "https"):
        return value
    return None


def report_data(release: Path) -> dict[str, pd.DataFrame]:
    """The tables and views the pages show, read from the release's own DuckDB file."""
    queries = {
        "countries": "SELECT iso3, name, region FROM countries",
        "coverage": "SELECT * FROM coverage",
        "submissions": "SELECT * REPLACE (CAST(submitted_on AS VARCHAR) AS submitted_on) FROM report_submissions "
                       "ORDER BY convention, report_cycle, submitted_on",
        "latest": "SELECT l.*, i.title AS indicator_title FROM latest_values l "
                  "LEFT JOIN indicators i USING (indicator_code) ORDER BY convention, indicator_code",
        "targets": "SELECT * FROM synergy_by_target ORDER BY gbf_target, convention",
        "reasons": f"SELECT source_system, field, reason, count(*) AS rows FROM quarantine GROUP BY ALL "
                   f"ORDER BY rows DESC, source_system, field, reason LIMIT {TOP_REASONS}",
    }
    with duckdb.connect(str(release / DUCKDB), read_only=True) as con:
        return {name: con.execute(sql).df() for name, sql in queries.items()}


def records(frame: pd.DataFrame) -> list[dict]:
    """Rows as dicts with None for every missing value (templates test ``is none``)."""
    return frame.astype(object).where(frame.notna(), None).to_dict("records")


def index_context(release: Path, data: dict[str, pd.DataFrame], iso3s: list[str]) -> dict:
    manifest = read_manifest(release)
    audit = json.loads((release / "audit.json").read_text())
    names = data["countries"].set_index("iso3")["name"]
    return {
        "title": f"Release {manifest['release_id']}", "manifest": manifest, "audit": audit,
        "data_docs": f"../{DATA_DOCS}/index.html", "validation_pages": validation_pages(release),
        "heatmap": heatmap_html(data["coverage"], names),
        "targets": records(data["targets"]), "reasons": records(data["reasons"]),
        "countries": [{"iso3": c, "name": names.get(c, c)} for c in iso3s],
    }


def validation_pages(release: Path) -> dict[str, list[str]]:
    """Each table's GX Data Docs validation pages (one per batch), relative to report/. They are
    static HTML, unlike the Data Docs index, whose table GX fills in with scripts from CDNs."""
    pages: dict[str, list[str]] = {}
    for page in sorted((release / DATA_DOCS / "validations").rglob("*.html")):
        table = page.stem.rsplit("-", 1)[-1]  # GX names the page <data source>-<asset>; the asset is the table
        pages.setdefault(table, []).append(f"../{page.relative_to(release).as_posix()}")
    return pages


def heatmap_html(coverage: pd.DataFrame, names: pd.Series) -> str:
    """The coverage matrix (country x report cycle) as a plotly heatmap div; grey not a Party, red
    missing, amber submitted late, green submitted; blank where the cell is not in the grid."""
    matrix = coverage_matrix(coverage).set_index("country_iso3")
    order = [NOT_A_PARTY, MISSING, SUBMITTED_LATE, SUBMITTED]  # z = position; one colour band each
    colours = ["#c8c8c8", "#d9534f", "#f0ad4e", "#2e8b57"]
    z = [[None if v is None else order.index(v) for v in row] for row in matrix.values.tolist()]
    hover = [[f"{names.get(iso3, iso3)} ({iso3})<br>{cycle}: {(v or 'not in the grid').replace('_', ' ')}"
              for cycle, v in zip(matrix.columns, row)] for iso3, row in zip(matrix.index, matrix.values.tolist())]
    bands = [[edge, colour] for i, colour in enumerate(colours) for edge in (i / len(colours), (i + 1) / len(colours))]
    figure = go.Figure(go.Heatmap(
        z=z, x=list(matrix.columns), y=list(matrix.index), text=hover, hoverinfo="text", xgap=1, ygap=1,
        zmin=-0.5, zmax=len(order) - 0.5, colorscale=bands,
        colorbar={"tickvals": list(range(len(order))), "ticktext": [s.replace("_", " ") for s in order],
                  "thickness": 14, "len": 0.3, "yanchor": "top", "y": 1}))
    figure.update_layout(height=max(360, 18 * len(matrix) + 160), margin={"l": 60, "r": 20, "t": 30, "b": 120},
                         xaxis={"side": "top", "tickangle": -45}, yaxis={"autorange": "reversed", "dtick": 1},
                         plot_bgcolor="#f4f4f4")
    return figure.to_html(include_plotlyjs=False, full_html=False, div_id=HEATMAP_ID,
                          config={"displaylogo": False, "responsive": True})


def country_contexts(data: dict[str, pd.DataFrame]) -> dict[str, dict]:
    """One page context per country with a submission or a value in the release."""
    names = data["countries"].set_index("iso3")
    submissions, latest = data["submissions"], data["latest"]
    iso3s = sorted(set(submissions["country_iso3"]) | set(latest["country_iso3"]))
    return {iso3: {
        "title": f"{names['name'].get(iso3, iso3)} ({iso3})", "iso3": iso3,
        "region": names["region"].get(iso3),
        "submissions": records(submissions[submissions["country_iso3"] == iso3]),
        "values": records(latest[latest["country_iso3"] == iso3]),
    } for iso3 in iso3s}
