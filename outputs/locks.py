"""The data folder's locks: one held while the live release is switched, and one per build folder.

A build holds a lock on its ``releases/.building-*`` folder while it writes it, so the next build
(and ``make releases prune``) removes a folder whose builder is gone (``abandoned_builds``).
"""
from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from core.paths import data_dir


@contextmanager
def data_folder_lock():
    """An exclusive lock on the data folder, held while the live release is switched."""
    with open(data_dir() / ".publish.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextmanager
def build_folder() -> Iterator[Path]:
    """A new ``releases/.building-*`` folder, locked (flock) while the caller builds in it.

    Builds that a killed run left behind are removed first. The folder is made and locked under
    the data folder lock, so a sweep never sees a build folder before its builder holds it.
    The caller renames it into place to keep it; whatever is still there when it returns or
    raises is removed.
    """
    releases = data_dir() / "releases"
    releases.mkdir(parents=True, exist_ok=True)
    with data_folder_lock():
        for abandoned in abandoned_builds():
            shutil.rmtree(abandoned, ignore_errors=True)
        folder = Path(tempfile.mkdtemp(prefix=".building-", dir=releases))
        handle = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        fcntl.flock(handle, fcntl.LOCK_EX)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)  # not renamed into place: the build did not finish
        os.close(handle)


def abandoned_builds() -> list[Path]:
    """``releases/.building-*`` folders no live build holds (their run crashed or was killed)."""
    folder = data_dir() / "releases"
    return [p for p in sorted(folder.glob(".building-*")) if p.is_dir() and not held(p)] if folder.is_dir() else []


def held(folder: Path) -> bool:
    """Whether a live process holds the build lock of ``folder``."""
    try:
        handle = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except FileNotFoundError:
        return True  # gone meanwhile: nothing to remove
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(handle)  # closing releases a lock taken here
