"""Hostile files and values from upstream: XML bombs and oversized workbooks, CSVs with NUL bytes
or huge fields, path-like file names, formula injection in the outputs, values in SQL."""
import zipfile
from pathlib import Path

import pytest

from extractors import cbd_ort_excel as cbd_extractor
from extractors import ramsar_nrf as ramsar_extractor
from replica.server import SNAPSHOTS
from transforms import cbd_ort_excel, ramsar_nrf
from transforms.workbooks import LayoutError

#: billion laughs: ten levels of ten-fold entity expansion, 10^9 "lol"s if a parser expanded them
LAUGHS = (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
          + b"".join(b'<!ENTITY lol%d "%s">' % (i, b"&lol%s;" % (b"%d" % (i - 1) if i > 1 else b"") * 10)
                     for i in range(1, 10)) + b"]>")
WORKBOOKS = {  # source -> (extractor, transforms module, a fixture workbook of its inbox)
    "cbd-ort-excel": (cbd_extractor, cbd_ort_excel, "KE_7NR_indicator_data.xlsx"),
    "ramsar-nrf": (ramsar_extractor, ramsar_nrf, None),
}


def fixture_workbook(source: str) -> Path:
    name = WORKBOOKS[source][2]
    inbox = SNAPSHOTS / source / "inbox"
    return inbox / name if name else sorted(inbox.glob("*.xlsx"))[0]


def rewritten(workbook: Path, target: Path, member: str, change) -> Path:
    """A copy of ``workbook`` with ``member`` replaced by ``change(bytes)``."""
    with zipfile.ZipFile(workbook) as src, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as out:
        for info in src.infolist():
            data = src.read(info)
            out.writestr(info, change(data) if info.filename == member else data)
    return target


def with_bomb(xml: bytes) -> bytes:
    """The sheet XML behind the billion-laughs DTD, with a cell that uses the last entity."""
    body = xml.split(b"?>", 1)[1] if xml.startswith(b"<?xml") else xml
    cell = b'<row r="9999"><c r="A9999" t="inlineStr"><is><t>&lol9;</t></is></c></row></sheetData>'
    return LAUGHS + body.replace(b"</sheetData>", cell, 1)


def stage_inbox(tmp_path: Path, source: str, *files: Path) -> Path:
    """Put ``files`` in the source's inbox, then extract and stage it as the DAG does."""
    extractor, transform, _ = WORKBOOKS[source]
    inbox = tmp_path / "var" / "inbox" / source
    inbox.mkdir(parents=True, exist_ok=True)
    for path in files:
        (inbox / path.name).write_bytes(path.read_bytes())
    fetch_log = extractor.extract(tmp_path / "var", tmp_path / "run")
    return transform.stage(fetch_log, tmp_path / "var", tmp_path / "run" / "staging")


# Workbooks.

@pytest.mark.parametrize("source", WORKBOOKS)
def test_a_workbook_with_an_xml_bomb_is_refused_naming_source_and_file(tmp_path, source):
    original = fixture_workbook(source)
    bomb = rewritten(original, tmp_path / original.name, "xl/worksheets/sheet1.xml", with_bomb)
    with pytest.raises(LayoutError, match=rf"\[{source}\] {bomb.name}: refused: its XML declares entities"):
        stage_inbox(tmp_path, source, bomb)


@pytest.mark.parametrize("limit, message", [
    ("max_rows", r"sheet '\w+' has rows past row \d+, over the declared limit of 1 rows"),
    ("max_unzipped_bytes", r"unpacks to \d+ bytes, over the declared limit of 1"),
])
@pytest.mark.parametrize("source", WORKBOOKS)
def test_a_workbook_over_a_declared_limit_is_refused(tmp_path, monkeypatch, source, limit, message):
    extractor, transform, _ = WORKBOOKS[source]
    small = {**extractor.layout(), limit: 1}
    monkeypatch.setattr(transform, "layout", lambda: small)
    original = fixture_workbook(source)
    with pytest.raises(LayoutError, match=rf"\[{source}\] {original.name}: {message}"):
        stage_inbox(tmp_path, source, original)
