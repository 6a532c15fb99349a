"""Atomic file and folder writes: build in a temporary sibling, rename into place on success.

A killed process leaves at most a hidden temporary (cleaned up on the next failure path), never a
half-written file or folder under the final name.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path


def folder_hash(folder: Path) -> str:
    """12 hex digits that name `folder` by its resolved path: the same folder (a resumed run) always
    gets the same, two folders with the same name (two sweeps' `0/`) never do."""
    return hashlib.sha256(str(Path(folder).resolve()).encode()).hexdigest()[:12]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """A temporary file path beside `path`, renamed onto it only if the block succeeds."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the file normal permissions
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


@contextmanager
def atomic_dir(target: Path) -> Iterator[Path]:
    """A temporary folder beside `target`, which replaces `target` only if the block succeeds."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~_umask())
        if target.exists():  # a leftover from an older run; only a complete build may take its name
            shutil.rmtree(target)
        os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


COMPLETE_MARKER = ".relate_ray_complete"


def build_once(target: Path, build: Callable[[Path], None]) -> Path:
    """`target`, built once: `build(tmp)` fills a temporary sibling that is renamed into place with a
    completion marker, under a file lock so two processes never build it at once. A target holding
    the marker is returned as it is (also when another process finished while this one waited)."""
    if (target / COMPLETE_MARKER).exists():
        return target
    from filelock import FileLock

    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target) + ".lock"):
        if (target / COMPLETE_MARKER).exists():
            return target
        with atomic_dir(target) as tmp:
            build(tmp)
            (tmp / COMPLETE_MARKER).write_text("ok\n")
    return target
