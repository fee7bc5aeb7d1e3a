"""The spool: a run's points kept on disk until the server has them.

A run gets a spool when it is logged offline, when more points wait for an unreachable server
than the memory bound (`LIONLAB_SDK_MEMORY_POINTS`) allows, or when `run.finish()` cannot
reach the server. `lionlab sync` uploads spools later. One directory per run in the spool
folder (`LIONLAB_SPOOL_DIR`, default `~/.lionlab/spool`):

    <folder>/<created>-<client_key>/spool.jsonl    append-only JSON lines, each fsync'ed:
        {"run": {"client_key": "...", "project": "...", "config": {...}, ...}}   (first line;
            or {"run": {"id": 17}} for a run that already exists on the server)
        {"points": {"steps": [...], "metrics": {"loss": [...], ...}}}   a batch, as POSTed
        {"layers": {"names": [...], "steps": [...], "stats": {...}}}    per-layer statistics
        {"end": {"status": "succeeded", "error": null}}                 run.finish() was called
    <folder>/<created>-<client_key>/progress.json  what the server has, replaced atomically:
        {"run_id": 17, "lines": 3, "ended": false}   (lines: body lines delivered)

Delivery is exactly-once on the server although a crash can repeat a line: the run is
created with its client_key (a repeat returns the same run) and a re-sent (key, step)
overwrites itself.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from lionlab.client.http import dumps

SPOOL_FILE = "spool.jsonl"
PROGRESS_FILE = "progress.json"


@dataclass
class Progress:
    run_id: int | None = None
    lines: int = 0  # body lines (after the header) the server has
    ended: bool = False  # the run is finished on the server: nothing left to do


class RunSpool:
    """One run's spool directory; created on the first append, so unused spools cost nothing."""

    def __init__(self, path: Path, header: dict[str, Any] | None = None):
        self.path = Path(path)
        self._header = header  # the first line, for a spool not written yet
        self.body_lines = max(0, len(self.entries()) - 1)
        self.progress = self._load_progress()

    @property
    def exists(self) -> bool:
        return (self.path / SPOOL_FILE).exists()

    @property
    def backlog(self) -> int:
        """Body lines written and not yet delivered."""
        return self.body_lines - self.progress.lines

    def header(self) -> dict[str, Any]:
        """The run this spool is for: its create body with client_key, or {"id": N}."""
        if not self.exists:
            return self._header["run"]
        with (self.path / SPOOL_FILE).open("rb") as f:
            return json.loads(f.readline())["run"]

    def create(self) -> None:
        """Write the directory and its first line (the run), if not there yet."""
        if not self.exists:
            self.path.mkdir(parents=True, exist_ok=True)
            _append(self.path / SPOOL_FILE, self._header)
            _fsync_dir(self.path)
            self.mark()  # a run id learnt before the spool existed

    def append(self, entry: dict[str, Any]) -> None:
        """Append one line durably (fsync'ed before returning)."""
        self.create()
        _append(self.path / SPOOL_FILE, entry)
        self.body_lines += 1

    def entries(self) -> list[dict[str, Any]]:
        """Every complete line; a last line torn by a crash mid-write is left out."""
        if not self.exists:
            return []
        lines = (self.path / SPOOL_FILE).read_bytes().split(b"\n")
        if lines[-1] and not _parses(lines[-1]):
            lines = lines[:-1]
        return [json.loads(line) for line in lines if line]

    def unsent(self) -> Iterator[tuple[int, dict[str, Any]]]:
        """(line number, entry) of the body lines the server does not have yet."""
        body = self.entries()[1:]
        for n in range(self.progress.lines, len(body)):
            yield n + 1, body[n]

    def mark(self, lines: int | None = None, run_id: int | None = None, ended: bool = False):
        """Record what the server has now (lines delivered, the run's id, finished)."""
        p = self.progress
        p.lines = p.lines if lines is None else lines
        p.run_id = p.run_id if run_id is None else run_id
        p.ended = p.ended or ended
        if self.exists:
            tmp = self.path / f"{PROGRESS_FILE}.{os.getpid()}.tmp"  # a sync may run alongside
            with tmp.open("wb") as f:
                f.write(dumps(asdict(p)))
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path / PROGRESS_FILE)

    def _load_progress(self) -> Progress:
        path = self.path / PROGRESS_FILE
        return Progress(**json.loads(path.read_bytes())) if path.exists() else Progress()


def find_spools(path: Path) -> list[RunSpool]:
    """The spool at `path`, or every spool directly inside the folder `path`, oldest first."""
    path = Path(path)
    if (path / SPOOL_FILE).exists():
        return [RunSpool(path)]
    if not path.is_dir():
        return []
    return [RunSpool(p) for p in sorted(path.iterdir()) if (p / SPOOL_FILE).exists()]


def _append(file: Path, entry: dict[str, Any]) -> None:
    with file.open("ab") as f:
        f.write(dumps(entry) + b"\n")  # one write: a crash leaves at most a torn last line
        f.flush()
        os.fsync(f.fileno())


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _parses(line: bytes) -> bool:
    try:
        json.loads(line)
    except ValueError:
        return False
    return True
