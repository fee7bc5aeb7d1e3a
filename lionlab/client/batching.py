"""Buffered metric logging: `log()` is a dict update; a background thread sends batches.

Points wait in memory until the server has stored them: a failed send is retried with
backoff, and the same batch is sent again (the server overwrites a re-sent (key, step), so a
retry after a lost response never duplicates). `close()` flushes; points still unsent when its
timeout runs out are written to a spool file that `resend_spool()` delivers later.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path

from lionlab.client.http import TRANSIENT_STATUS, ApiClient, ApiError, backoff, dumps

log = logging.getLogger("lionlab.client")


class MetricBuffer:
    """Thread-safe step -> {key: value} buffer, drained into columnar batches."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._steps: dict[int, dict[str, float]] = {}
        self.points = 0

    def add(self, step: int, metrics: dict[str, float]) -> int:
        with self._lock:
            row = self._steps.setdefault(step, {})
            self.points += len(metrics.keys() - row.keys())
            row.update(metrics)
            return self.points

    def drain(self, max_points: int) -> dict | None:
        """Take up to ~max_points points (whole steps) as a batch body, or None if empty."""
        with self._lock:
            if not self._steps:
                return None
            taken, count = {}, 0
            for step in list(self._steps):
                if taken and count + len(self._steps[step]) > max_points:
                    break
                taken[step] = self._steps.pop(step)
                count += len(taken[step])
            self.points -= count
        return columnar(taken)

    def put_back(self, body: dict) -> None:
        """Return an unsent batch; values logged since then for the same step win."""
        with self._lock:
            for i, step in enumerate(body["steps"]):
                row = self._steps.setdefault(step, {})
                for key, values in body["metrics"].items():
                    if values[i] is not None and key not in row:
                        row[key] = values[i]
                        self.points += 1


def columnar(rows: dict[int, dict[str, float]]) -> dict:
    """{step: {key: value}} -> the API's body: steps plus one array per key (null = absent)."""
    steps = sorted(rows)
    keys = list(dict.fromkeys(k for row in rows.values() for k in row))
    return {"steps": steps, "metrics": {k: [rows[s].get(k) for s in steps] for k in keys}}


class BatchSender:
    """Sends a run's buffered points in the background, by size or every `interval` s."""

    def __init__(
        self,
        api: ApiClient,
        run_id: int,
        interval: float = 1.0,
        batch_points: int = 20_000,
        *,
        attempt: int | None = None,
    ):
        self.api, self.run_id = api, run_id
        # A worker's batches name the attempt its claim got, so late ones are refused (409).
        self._headers = None if attempt is None else {"X-LionLab-Attempt": str(attempt)}
        self.error: ApiError | None = None  # the refusal that stopped the sender
        self.interval, self.batch_points = interval, batch_points
        self.buffer = MetricBuffer()
        self._sending = False  # a drained batch is on its way (not in buffer.points)
        self._wake = threading.Event()
        self._closing = threading.Event()
        self._thread = threading.Thread(
            target=self._loop, name=f"lionlab-run-{run_id}", daemon=True
        )
        self._thread.start()

    def log(self, metrics: dict[str, float], step: int) -> None:
        if self.buffer.add(step, metrics) >= self.batch_points:
            self._wake.set()

    def _send_all(self) -> bool:
        """Send until the buffer is empty; False when a send failed (batch kept)."""
        self._sending = True
        try:
            while (body := self.buffer.drain(self.batch_points)) is not None:
                try:
                    self.api.post(
                        f"/runs/{self.run_id}/metrics", body, retry_for=0, headers=self._headers
                    )
                except ApiError as exc:
                    if exc.status_code < 500 and exc.status_code not in TRANSIENT_STATUS:
                        # refused (a 409 fences off a stale worker): resending cannot help
                        self.error = exc
                        self._closing.set()
                        log.error("LionLab: metrics of run %s refused: %s", self.run_id, exc)
                        return False
                    self.buffer.put_back(body)
                    return False
                except Exception as exc:  # kept and retried: the points must not be lost
                    self.buffer.put_back(body)
                    log.warning(
                        "LionLab: could not send metrics of run %s (%s); will retry",
                        self.run_id,
                        exc,
                    )
                    return False
            return True
        finally:
            self._sending = False

    def _loop(self) -> None:
        failures = 0
        while not self._closing.is_set():
            self._wake.wait(self.interval if failures == 0 else backoff(failures))
            self._wake.clear()
            if self._closing.is_set():
                return
            failures = 0 if self._send_all() else failures + 1

    def flush(self, timeout: float | None = None) -> bool:
        """Send everything buffered now; True once the server has stored all of it."""
        deadline = None if timeout is None else time.monotonic() + timeout
        self._wake.set()  # once: while the server is down the sender keeps to its backoff
        while (self.buffer.points or self._sending) and self.error is None:
            if deadline is not None and time.monotonic() > deadline:
                return False
            time.sleep(0.02)
        return self.error is None

    def close(self, timeout: float | None = 300.0, spool_dir: Path | None = None) -> Path | None:
        """Flush and stop; returns the spool file holding points that could not be sent."""
        self.flush(timeout)
        self._closing.set()
        self._wake.set()
        self._thread.join()  # an in-flight send ends (stored or put back) before we look
        if not self.buffer.points or self.error is not None:  # refused points are not kept
            return None
        return self._spool(spool_dir or Path.home() / ".lionlab" / "spool")

    def _spool(self, folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"run-{self.run_id}-{int(time.time())}.jsonl"
        with path.open("wb") as f:
            while (body := self.buffer.drain(self.batch_points)) is not None:
                f.write(dumps({"run_id": self.run_id, "batch": body}) + b"\n")
        log.error(
            "LionLab: server unreachable; unsent points of run %s saved to %s "
            "(send them later with lionlab.client.resend_spool)",
            self.run_id,
            path,
        )
        return path


def resend_spool(api: ApiClient, path: Path) -> int:
    """Deliver a spool file written by close(); returns points sent. Deletes it when done."""
    sent = 0
    for line in Path(path).read_text().splitlines():
        entry = json.loads(line)
        api.post(f"/runs/{entry['run_id']}/metrics", entry["batch"])
        sent += sum(v is not None for c in entry["batch"]["metrics"].values() for v in c)
    Path(path).unlink()
    return sent
