"""Buffered metric logging: `log()` is a dict update; a background thread sends batches.

Points wait in memory until the server has stored them. A failed send is retried with the
client's backoff (`http.retrying`), and neither `log()` nor `flush()` shortens it, however
full the buffer. Past the memory bound the points move to the run's spool on disk; the sender
uploads the spool first once the server answers (the server overwrites a re-sent (key, step),
so a retry after a lost response never duplicates). A 4xx answer (a 409 fencing off a stale
worker attempt, 404 run gone, 413) stops the sender: nothing resends it, the ApiError is kept
in `error` for the owner (a worker stops training on a 409; `Run` raises it to the script).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

from tenacity import RetryCallState

from lionlab.client.http import ApiClient, retrying, transient
from lionlab.client.spool import RunSpool
from lionlab.settings import Settings

log = logging.getLogger("lionlab.client")

ATTEMPT_HEADER = "X-LionLab-Attempt"


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


MAX_LAYER_VALUES = 150_000  # per layers body: under the server's default batch limit


def _join_layers(queue: deque[dict]) -> tuple[dict, int]:
    """The queued layer bodies from the head that share names and statistics, as one body
    (at most MAX_LAYER_VALUES values), and how many it joins."""
    head = queue[0]
    names, stats = head["names"], list(head["stats"])
    per_step = len(names) * len(stats)
    joined = {"names": names, "steps": [], "stats": {k: [] for k in stats}}
    taken = 0
    for body in queue:
        same = body["names"] == names and list(body["stats"]) == stats
        if taken and (not same or (len(joined["steps"]) + 1) * per_step > MAX_LAYER_VALUES):
            break
        joined["steps"].extend(body["steps"])
        for k in stats:
            joined["stats"][k].extend(body["stats"][k])
        taken += 1
    return joined, taken


class BatchSender:
    """Sends a run's buffered points in the background, by size or every `interval` s.

    `run_id` is the run's id, or a function that creates the run and returns its id, called
    in the background until the server answers. `attempt` (a worker's claim) goes with every
    batch as the X-LionLab-Attempt header. `spool` receives what waits past `memory_points`
    points; `offline=True` writes everything to the spool and never calls the server.
    """

    def __init__(
        self,
        api: ApiClient | None,
        run_id: int | Callable[[], int],
        interval: float = 1.0,
        batch_points: int = 20_000,
        *,
        attempt: int | None = None,
        spool: RunSpool | None = None,
        memory_points: int | None = None,
        offline: bool = False,
        watch_stop: float | None = None,
    ):
        self.api, self.interval, self.batch_points = api, interval, batch_points
        # Why the server wants training to stop (cancelled, diverged, stopped_early), from
        # each batch's answer and, with `watch_stop` = N, a look at the run every N s idle.
        self.stop: str | None = None
        self.diverged = False  # a batch's answer carried a divergence flag
        self.watch_stop = watch_stop
        self._last_answer = time.monotonic()
        self.run_id: int | None = run_id if isinstance(run_id, int) else None
        self._create = None if isinstance(run_id, int) else run_id
        self.headers = {} if attempt is None else {ATTEMPT_HEADER: str(attempt)}
        self.spool, self.memory_points, self.offline = spool, memory_points, offline
        self.error: Exception | None = None  # why the sender stopped (e.g. a 409 ApiError)
        self.failed_tries = 0  # tries that found the server unreachable or failing
        self.buffer = MetricBuffer()
        # per-layer statistics bodies (lionlab.watch), sent after the metrics of each round
        self.layers: deque[dict] = deque()
        self._sending = False  # a drained batch is on its way (not in buffer.points)
        self._hurry = False  # close() wants one try now, backoff or not
        self._wake = threading.Event()  # a batch is full, or flush: send (unless backing off)
        self._alarm = threading.Event()  # memory full, or close: act even while backing off
        self._closing = threading.Event()
        self._thread = threading.Thread(
            target=self._loop, name=f"lionlab-run-{run_id}", daemon=True
        )
        self._thread.start()

    def log(self, metrics: dict[str, float], step: int) -> None:
        if self.error is not None:
            return  # stopped: the server refuses this run's points (see `error`)
        points = self.buffer.add(step, metrics)
        if points >= self.batch_points:
            self._wake.set()
        if self._over_memory():
            self._alarm.set()

    def log_layers(self, step: int, names: list[str], stats: dict[str, list[float]]) -> None:
        """Queue per-layer statistics of `step` (POST /runs/{id}/layers): per statistic one
        value per name, NaN (sent as null) where a layer was not logged."""
        if self.error is not None:
            return
        rows = {k: [[None if v != v else float(v) for v in values]] for k, values in stats.items()}
        self.layers.append({"names": list(names), "steps": [int(step)], "stats": rows})

    def flush(self, timeout: float | None = None) -> bool:
        """Send everything buffered now; True once the server has stored all of it (offline:
        once it is in the spool), False if not within `timeout` or the sender was stopped by a
        refusal. While the server is down the sender keeps to its backoff."""
        deadline = None if timeout is None else time.monotonic() + timeout
        self._wake.set()
        while self._pending() and self.error is None:
            if deadline is not None and time.monotonic() > deadline:
                return False
            time.sleep(0.02)
        return self.error is None

    def close(self, timeout: float | None = 300.0) -> Path | None:
        """Deliver what is left and stop; returns the spool directory holding what the server
        does not have (None when it has everything, or refused it: see `error`).
        `timeout=None` waits for the server however long it is down; otherwise at most
        `timeout` s, and only while it answers."""
        if timeout is None:
            self.flush()
        elif not self.offline:
            self._settle(timeout)
        self._closing.set()
        self._alarm.set()
        self._wake.set()
        self._thread.join()  # an in-flight send ends (stored or put back) before we look
        if self.error is not None:
            return None  # refused points are not kept: resending cannot help
        if self.offline:
            self._spill()
            return self.spool.path
        if not self._pending():
            return None
        if self.spool is None:  # a run created elsewhere (e.g. a worker's)
            folder = Settings().resolved_spool_dir / f"run-{self.run_id}-{int(time.time())}"
            self.spool = RunSpool(folder, {"run": {"id": self.run_id}})
        self._spill()
        log.warning(
            "LionLab: the server has not got every point of run %s; they are in %s "
            "(upload them with `lionlab sync %s`)",
            self.run_id if self.run_id is not None else "(not created yet)",
            self.spool.path,
            self.spool.path,
        )
        return self.spool.path

    def _settle(self, timeout: float) -> None:
        """Wait up to `timeout` s for delivery, giving up at the first try that fails."""
        tries = self.failed_tries
        self._hurry = True
        self._alarm.set()
        self._wake.set()
        deadline = time.monotonic() + timeout
        while self._pending() and self.error is None and self.failed_tries == tries:
            if time.monotonic() > deadline:
                return
            time.sleep(0.02)

    def _pending(self) -> bool:
        """Anything the server (offline: the spool) does not have yet."""
        if self.buffer.points or self.layers or self._sending:
            return True
        return not self.offline and (
            self.run_id is None or (self.spool is not None and self.spool.backlog > 0)
        )

    def _over_memory(self) -> bool:
        return (
            self.spool is not None
            and self.memory_points is not None
            and self.buffer.points >= self.memory_points
        )

    def _loop(self) -> None:
        policy = retrying(
            stop=lambda _: self._closing.is_set(), sleep=self._pause, before_sleep=self._failed
        )
        while not self._closing.is_set():
            self._wake.wait(self.interval)
            self._wake.clear()
            try:
                policy(self._round)
                self._look_for_stop()
            except Exception as exc:
                if transient(exc):  # closing while the server is unreachable
                    return
                self.error = exc
                log.error("LionLab: stopped sending metrics of run %s: %s", self.run_id, exc)
                return

    def _failed(self, state: RetryCallState) -> None:
        log.warning(
            "LionLab: could not send metrics of run %s (%s); retrying in %.1fs",
            self.run_id if self.run_id is not None else "(not created yet)",
            state.outcome.exception(),
            state.upcoming_sleep,
        )

    def _round(self) -> None:
        """One try: create the run if needed, upload the spool's backlog, then the buffer."""
        self._sending, self._hurry = True, False
        try:
            if self.offline or self._over_memory():
                self._spill()
            if not self.offline:
                self._deliver()
        except Exception as exc:
            if transient(exc):
                self.failed_tries += 1
            raise
        finally:
            self._sending = False

    def _deliver(self) -> None:
        if self.run_id is None:
            self.run_id = self._create()
            if self.spool is not None:
                self.spool.mark(run_id=self.run_id)
        if self.spool is not None and self.spool.backlog > 0:
            for line, entry in self.spool.unsent():
                if "points" in entry:
                    self._post(entry["points"])
                elif "layers" in entry:
                    self._post(entry["layers"], "layers")
                self.spool.mark(lines=line)
        while (body := self.buffer.drain(self.batch_points)) is not None:
            try:
                self._post(body)
            except BaseException:
                self.buffer.put_back(body)  # kept: the points must not be lost
                raise
        while self.layers:
            body, taken = _join_layers(self.layers)
            self._post(body, "layers")
            for _ in range(taken):
                self.layers.popleft()  # only once stored

    def _post(self, body: dict, what: str = "metrics") -> None:
        path = f"/runs/{self.run_id}/{what}"
        answer = self.api.post(path, body, retry_for=0, headers=self.headers)
        self._last_answer = time.monotonic()
        if isinstance(answer, dict):
            if answer.get("stop"):
                self.stop = answer["stop"]
            if any(f.get("kind") == "divergence" for f in answer.get("flags") or ()):
                self.diverged = True

    def _look_for_stop(self) -> None:
        """While no batch goes out (evaluation, a slow step), look at the run itself every
        `watch_stop` s: a cancel from the dashboard must reach a script that logs rarely."""
        if self.watch_stop is None or self.run_id is None or self.stop is not None:
            return
        if time.monotonic() - self._last_answer < self.watch_stop:
            return
        self._last_answer = time.monotonic()
        try:
            run = self.api.request("GET", f"/runs/{self.run_id}", retry_for=0)
        except Exception as exc:
            if transient(exc):
                return
            raise
        if run.get("stop_requested"):
            self.stop = run["stop_requested"]
        elif run.get("job") is None and run.get("status") != "running":
            self.stop = run.get("status")

    def _pause(self, seconds: float) -> None:
        """Backoff between tries. log() and flush() do not shorten it; close() does. A full
        memory is spilled to the spool meanwhile (that sends no request)."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0 and not self._closing.is_set():
            if not self._alarm.wait(left):
                return
            self._alarm.clear()
            if self._hurry:
                return
            if self._over_memory():
                self._spill()

    def _spill(self) -> None:
        """Move every buffered point into the spool, in batches of `batch_points`, then the
        queued per-layer statistics."""
        while (body := self.buffer.drain(self.batch_points)) is not None:
            try:
                self.spool.append({"points": body})
            except BaseException:
                self.buffer.put_back(body)
                raise
        while self.layers:
            self.spool.append({"layers": self.layers[0]})
            self.layers.popleft()
