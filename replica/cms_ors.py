"""CMS Online Reporting System (ORS API, unepwcmc/ORS-API) stand-in.

Wire conventions from /work/shared/reference/convention-sources.md §3: ``GET /api/v1/questionnaires``,
``/api/v1/questionnaires/:id``, ``/api/v1/questionnaires/:questionnaire_id/questions`` (``page``,
``per_page`` at most 100); every request needs the ``X-Authentication-Token`` header, else 401.
The expected token is MEA_CMS_ORS_TOKEN when set (so a test or `python -m replica exec` chooses it),
else REPLICA_TOKEN. Each record is wrapped as ORS's jbuilder views render it (``{"questionnaire": {...}}``).
"""
from __future__ import annotations

import hmac
import json
import os
import re
from pathlib import Path

from replica.wire import RequestInfo, Response

SOURCE_SYSTEM = "cms-ors"
REPLICA_TOKEN = "replica-cms-ors-token"
MAX_PER_PAGE = 100
JSON_TYPE = "application/json; charset=utf-8"
ROUTE = re.compile(r"^/api/v1/questionnaires(?:/(?P<qid>\d+)(?P<questions>/questions)?)?/?$")
LIST_FIELDS = ("id", "url", "title", "language", "languages", "status", "activated_on", "questionnaire_date")


def error(status: int, message: str) -> Response:
    return Response(status, {"Content-Type": JSON_TYPE}, json.dumps({"error": message}).encode())


class CmsOrsService:
    prefix = "/cms-ors"
    client_credentials = {"MEA_CMS_ORS_TOKEN": REPLICA_TOKEN}

    def __init__(self, snapshot_dir: Path):
        self.questionnaires = {q["id"]: q for q in json.loads((snapshot_dir / "questionnaires.json").read_text())}
        self.questions = {int(k): v for k, v in json.loads((snapshot_dir / "questions.json").read_text()).items()}

    def handle(self, request: RequestInfo) -> Response:
        expected = os.environ.get("MEA_CMS_ORS_TOKEN") or REPLICA_TOKEN
        given = request.headers.get("x-authentication-token", "")
        if not hmac.compare_digest(given.encode(), expected.encode()):
            return error(401, "Unauthorized: a valid X-Authentication-Token header is required")
        match = ROUTE.match(request.path[len(self.prefix):])
        if request.method != "GET" or not match:
            return error(404, f"no route for {request.method} {request.path}")
        if match["qid"] is None:
            body = {"questionnaires": [{"questionnaire": {k: q[k] for k in LIST_FIELDS}}
                                       for q in self.questionnaires.values()]}
        elif int(match["qid"]) not in self.questionnaires:
            return error(404, f"questionnaire {match['qid']} not found")
        elif not match["questions"]:
            q = self.questionnaires[int(match["qid"])]
            body = {"questionnaire": {**q, "respondents": [{"respondent": r} for r in q["respondents"]]}}
        else:
            try:
                page, per_page = int(request.query.get("page", "1")), int(request.query.get("per_page", "25"))
            except ValueError:
                return error(400, "page and per_page must be integers")
            if page < 1 or not 1 <= per_page <= MAX_PER_PAGE:
                return error(400, f"per_page must be between 1 and {MAX_PER_PAGE}, page at least 1")
            items = self.questions[int(match["qid"])][(page - 1) * per_page: page * per_page]
            body = {"questions": [{"question": q} for q in items]}
        return Response(200, {"Content-Type": JSON_TYPE}, json.dumps(body, ensure_ascii=False).encode())


def make_service(snapshot_dir: Path) -> CmsOrsService:
    return CmsOrsService(snapshot_dir)
