"""Run artifacts on disk: one folder per run under LIONLAB_ARTIFACTS_DIR (default
data_dir/artifacts/<run id>/). Every path a caller names is checked here: relative, no
empty, `.` or `..` part, no backslash, NUL or control character, and, once resolved (symlinks
included), inside its run's folder. Uploads go to a temporary file beside the target and are
renamed into place only when complete and within the size limit, so a reader never sees a
partial file."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from lionlab_server.errors import InputError, NotFound

MAX_PATH_CHARS = 1000
MAX_PARTS = 32
MAX_PART_BYTES = 255  # the longest file or folder name the filesystems allow


@dataclass(frozen=True)
class Entry:
    path: str  # relative to the run's artifact root, with "/"
    is_dir: bool
    size: int | None


def _parts(rel: str) -> list[str]:
    if len(rel) > MAX_PATH_CHARS:
        raise InputError(("path",), f"an artifact path is at most {MAX_PATH_CHARS} characters")
    if "\\" in rel or any(ord(c) < 32 for c in rel) or rel.startswith("/"):
        raise InputError(
            ("path",), "an artifact path is relative, with '/' between parts and no control "
            "characters or backslashes",
            status_code=400,
        )  # fmt: skip
    parts = [p for p in rel.split("/")] if rel else []
    if parts and parts[-1] == "":
        parts = parts[:-1]  # a trailing slash names the folder
    if any(p in ("", ".", "..") for p in parts) or len(parts) > MAX_PARTS:
        raise InputError(
            ("path",),
            "an artifact path may not have empty, '.' or '..' parts; it stays inside its run",
            status_code=400,
        )
    if any(len(p.encode()) > MAX_PART_BYTES for p in parts):
        raise InputError(
            ("path",),
            f"each part of an artifact path is at most {MAX_PART_BYTES} bytes (a file name)",
            status_code=400,
        )
    return parts


def run_root(root: Path, run_id: int) -> Path:
    return root / str(run_id)


def resolve(root: Path, run_id: int, rel: str) -> Path:
    """The file or folder `rel` names inside the run's folder; refuses any escape."""
    base = run_root(root, run_id)
    target = base.joinpath(*_parts(rel))
    real_base = base.resolve()
    real = target.resolve()
    if real != real_base and not real.is_relative_to(real_base):
        raise InputError(("path",), "the artifact path leaves its run's folder", 400)
    return target


def list_dir(root: Path, run_id: int, rel: str) -> list[Entry]:
    """The entries of a folder (basename paths, as MLflow's list answers); a file: itself;
    nothing there: no entries."""
    target = resolve(root, run_id, rel)
    if target.is_file():
        return [Entry(target.name, False, target.stat().st_size)]
    if not target.is_dir():
        return []
    out = []
    for child in sorted(target.iterdir(), key=lambda c: c.name):
        if child.name.startswith(".lionlab-upload-"):
            continue
        is_dir = child.is_dir()
        out.append(Entry(child.name, is_dir, None if is_dir else child.stat().st_size))
    return out


def walk(root: Path, run_id: int, limit: int = 1000) -> list[Entry]:
    """Every file of the run (relative paths), at most `limit` of them, in tree order: a
    folder's files and subfolders sorted by name together, each subfolder's files where its
    name falls. Symlinks are not followed (uploads never make them)."""
    out: list[Entry] = []

    def visit(folder: str, prefix: str) -> bool:  # True: the limit is reached
        try:
            with os.scandir(folder) as found:
                children = sorted(found, key=lambda c: c.name)
        except (FileNotFoundError, NotADirectoryError):  # no artifacts, or removed meanwhile
            return False
        for child in children:
            if child.name.startswith(".lionlab-upload-"):
                continue
            rel = prefix + child.name
            try:
                if child.is_dir(follow_symlinks=False):
                    if visit(child.path, rel + "/"):
                        return True
                    continue
                if not child.is_file(follow_symlinks=False):
                    continue
                size = child.stat(follow_symlinks=False).st_size
            except FileNotFoundError:  # deleted while listed
                continue
            out.append(Entry(rel, False, size))
            if len(out) >= limit:
                return True
        return False

    visit(str(run_root(root, run_id)), "")
    return out


class TooLarge(Exception):
    pass


async def save(root: Path, run_id: int, rel: str, chunks: AsyncIterator[bytes], limit: int) -> int:
    """Stream an upload into place; returns its size. Over `limit` bytes: nothing is kept."""
    target = resolve(root, run_id, rel)
    if not _parts(rel):
        raise InputError(("path",), "name the file to upload", 400)
    if target.is_dir():
        raise InputError(("path",), f"{rel!r} is a folder of this run's artifacts", 400)
    target.parent.mkdir(parents=True, exist_ok=True)
    resolve(root, run_id, rel)  # again, now that the folders exist (a symlinked parent)
    fd, tmp = tempfile.mkstemp(prefix=".lionlab-upload-", dir=target.parent)
    size = 0
    try:
        with os.fdopen(fd, "wb") as out:
            async for chunk in chunks:
                size += len(chunk)
                if size > limit:
                    raise TooLarge()
                out.write(chunk)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return size


def open_file(root: Path, run_id: int, rel: str) -> Path:
    target = resolve(root, run_id, rel)
    if not target.is_file():
        raise NotFound("artifact", rel, "path")
    return target


def delete(root: Path, run_id: int, rel: str) -> None:
    """Remove a file or a folder; nothing there is not an error (as MLflow's stores)."""
    target = resolve(root, run_id, rel)
    if target.is_dir():
        shutil.rmtree(target, ignore_errors=True)
    else:
        target.unlink(missing_ok=True)
