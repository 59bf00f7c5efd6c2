"""CMS Online Reporting System (ORS API) client: questionnaires, their respondents and questions.

Lists the questionnaires, fetches each one (respondents) and pages its questions (answers and
per-species looping answers included) with ``page``/``per_page``. The API token comes from
``core.sources.secret`` and travels only in the session's ``X-Authentication-Token``
header: never in a URL, a parameter, a log line, a landed sidecar or the fetch log.
"""
from __future__ import annotations

import json
from pathlib import Path

import requests

from core.sources import secret
from extractors import drift, http
from extractors.fetch import begin, fetch_json

SOURCE = "cms-ors"
TOKEN_HEADER = "X-Authentication-Token"
#: 2026-11: the ORS API caps per_page at 100 (convention-sources.md §3)
MAX_PER_PAGE = 100
MAX_PAGES = 1_000


def extract(data_dir: Path, run_dir: Path, session: requests.Session | None = None,
            url: str | None = None, per_page: int = MAX_PER_PAGE) -> Path:
    """Fetch every questionnaire with its questions into raw landing; return the fetch log path."""
    if not 1 <= per_page <= MAX_PER_PAGE:
        raise ValueError(f"[{SOURCE}] per_page must be 1..{MAX_PER_PAGE}, not {per_page}")
    data_dir = Path(data_dir)
    session, head = begin(SOURCE, data_dir, url, session)
    url = head["base_url"]
    session.headers[TOKEN_HEADER] = secret(SOURCE)
    listing, list_page = fetch_json(session, SOURCE, f"{url}/api/v1/questionnaires", None, data_dir, "questionnaires")
    entities = {"questionnaires": {"pages": [list_page], "deferred": {}},
                "questionnaire": {"pages": [], "deferred": {}}, "questions": {"pages": [], "deferred": {}}}
    for item in records(listing, "questionnaires", "questionnaire", list_page["url"]):
        qid = item.get("id")
        _, page = fetch_json(session, SOURCE, f"{url}/api/v1/questionnaires/{qid}", None, data_dir, "questionnaire")
        entities["questionnaire"]["pages"].append({**page, "questionnaire_id": qid})
        entities["questions"]["pages"] += question_pages(session, url, qid, data_dir, per_page)
    session.validators.save()
    out = Path(run_dir) / SOURCE / "fetch.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({**head, "entities": entities}, indent=1,
                              sort_keys=True))
    return out


def question_pages(session, url: str, qid, data_dir: Path, per_page: int) -> list[dict]:
    """Every page of one questionnaire's questions; stops on a short page (the API sends no total)."""
    request_url, pages = f"{url}/api/v1/questionnaires/{qid}/questions", []
    for number in range(1, MAX_PAGES + 1):
        payload, page = fetch_json(session, SOURCE, request_url, {"page": number, "per_page": per_page}, data_dir,
                                   "questions")
        found = records(payload, "questions", "question", page["url"])
        drift.check_page(SOURCE, "questions", found, page)
        if number == 1 and not found:
            # 2026-11: every ORS questionnaire has questions; an empty first page is a broken answer,
            # not an empty questionnaire (the API sends no total to tell them apart)
            raise http.UpstreamError(SOURCE, page["url"], f"questionnaire {qid} has no questions on page 1")
        pages.append({**page, "questionnaire_id": qid, "records": len(found)})
        if len(found) < per_page:
            if not found and number > 1:
                confirm_end(session, request_url, (number - 1) * per_page, page["url"])
            return pages
    raise http.UpstreamError(SOURCE, request_url, f"more than {MAX_PAGES} pages; refusing to go on")


def confirm_end(session, request_url: str, offset: int, empty_url: str) -> None:
    """Check that no question sits at ``offset``, where an empty page followed a full one.

    2026-11: the ORS API sends no total, so an empty page after a full one is either the end or a
    broken answer; the one-question window at the same offset (another URL, so no cached or
    faulty copy of the page) tells them apart."""
    response = http.get(session, SOURCE, request_url, params={"page": offset + 1, "per_page": 1})
    try:
        more = records(response.json(), "questions", "question", response.url)
    except ValueError as exc:
        raise http.UpstreamError(SOURCE, response.url, f"response is not JSON ({exc})") from exc
    if more:
        raise http.UpstreamError(SOURCE, empty_url, f"empty page, but question {offset + 1} exists "
                                                    f"({response.url}): the paging is inconsistent")


def records(payload, collection: str, member: str, url: str) -> list[dict]:
    """The records of a collection response.

    2026-11: ORS renders each record wrapped in its own name (``{"questions": [{"question": {...}}]}``).
    """
    if not isinstance(payload, dict) or not isinstance(payload.get(collection), list):
        raise http.UpstreamError(SOURCE, url, f"unexpected JSON shape, no {collection!r} list: {str(payload)[:200]!r}")
    return [item.get(member, item) if isinstance(item, dict) else item for item in payload[collection]]


def unwrap(payload, member: str, url: str) -> dict:
    """The one record of a member response (``{"questionnaire": {...}}``)."""
    if not isinstance(payload, dict) or not isinstance(payload.get(member), dict):
        raise http.UpstreamError(SOURCE, url, f"unexpected JSON shape, no {member!r} object: {str(payload)[:200]!r}")
    return payload[member]
