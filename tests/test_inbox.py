"""Inbox pick-up: files landed by content hash, duplicates and renames not picked up twice."""
import pytest

from extractors.inbox import pick_up


def test_inbox_files_are_landed_by_content_hash(tmp_path):
    inbox = tmp_path / "inbox" / "informea"
    inbox.mkdir(parents=True)
    (inbox / "a.csv").write_bytes(b"x,y\n1,2\n")
    (inbox / "b-copy.csv").write_bytes(b"x,y\n1,2\n")
    first = pick_up(tmp_path, "informea")
    assert [f.new for f in first] == [True, False]
    assert first[0].landed.sha256 == first[1].landed.sha256
    assert first[0].landed.path.read_bytes() == b"x,y\n1,2\n"

    (inbox / "a.csv").write_bytes(b"x,y\n1,3\n")
    again = pick_up(tmp_path, "informea")
    assert [f.new for f in again] == [True, False]
    assert again[0].landed.sha256 != first[0].landed.sha256


def test_empty_or_missing_inbox_picks_up_nothing(tmp_path):
    assert pick_up(tmp_path, "informea") == []


def test_oversized_inbox_file_is_refused_with_its_name(tmp_path):
    inbox = tmp_path / "inbox" / "informea"
    inbox.mkdir(parents=True)
    (inbox / "huge.xlsx").write_bytes(b"0" * 100)
    with pytest.raises(ValueError, match=r"\[informea\] inbox file huge.xlsx: 100 bytes"):
        pick_up(tmp_path, "informea", max_bytes=10)
