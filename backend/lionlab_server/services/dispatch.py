"""Handing queued jobs to the broker, and the reaper that requeues jobs of lost workers.

A run is committed as queued before its message is sent, and is marked dispatched only once
the broker took the message; a dispatch that failed (broker down) is retried by the next
round, so a submitted job is never lost between the database and the queue.

A message can also be lost after the broker handed it out: a worker that took it and died
before its claim leaves the run queued, and the broker would redeliver it only after its
visibility timeout (hours), or never (the embedded broker). The reaper finds such runs by
counting: a queue holding fewer messages than it has dispatched-but-unclaimed runs has handed
out the difference, oldest first (queues are FIFO); those dispatched more than LOST_AFTER ago
are sent again. A duplicate message is harmless: the claim is conditional, so the second
delivery answers 409 and is dropped.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from datetime import timedelta

from celery import Celery
from sqlalchemy.orm import Session, sessionmaker

from lionlab import queues
from lionlab.queues import Queue, queue_for
from lionlab.settings import Settings
from lionlab_server.db import begin_write, session_scope
from lionlab_server.models import utcnow
from lionlab_server.services import sweeps
from lionlab_server.store import lifecycle

log = logging.getLogger("lionlab.dispatch")


def make_producer(settings: Settings) -> Celery:
    """A Celery app that only sends: the broker settings of `lionlab.queues`, no tasks."""
    app = Celery("lionlab-api", set_as_current=False)
    app.conf.update(queues.broker_config(settings))
    return app


class Dispatcher:
    """Sends `lionlab.train_run` messages; the Celery producer is built on first use."""

    def __init__(self, settings: Settings, sessions: sessionmaker[Session]):
        self.settings, self.sessions = settings, sessions
        self._celery: Celery | None = None
        self._lock = threading.Lock()

    @property
    def celery(self) -> Celery:
        if self._celery is None:
            self._celery = make_producer(self.settings)
        return self._celery

    def _send(self, run_id: int, job: dict) -> bool:
        try:
            self.celery.send_task(
                queues.TRAIN_TASK, args=[run_id], queue=queue_for(job.get("device", "auto")).value
            )
        except Exception as exc:  # broker down: the run stays queued for the next round
            log.warning("could not queue run %s (%s); will retry", run_id, exc)
            return False
        return True

    def dispatch_pending(self) -> int:
        """Send every queued, undispatched job; returns how many the broker took."""
        with self._lock, session_scope(self.sessions) as session:
            begin_write(session)
            pending = lifecycle.take_undispatched(session)
        sent = 0
        for run_id, job in pending:
            if self._send(run_id, job):
                sent += 1
                continue
            with session_scope(self.sessions) as session:
                begin_write(session)
                lifecycle.undo_dispatch(session, run_id)
        return sent

    def queue_sizes(self) -> dict[str, int]:
        """Messages waiting in each job queue of the broker."""
        with self.celery.connection_for_write() as conn:
            channel = conn.default_channel
            return {q.value: channel.queue_declare(q.value).message_count for q in Queue}

    def taken_unclaimed(self, session: Session) -> list[int]:
        """Queued jobs whose message a worker took over LOST_AFTER ago without claiming it."""
        waiting = lifecycle.dispatched_waiting(session)
        cutoff = utcnow() - timedelta(seconds=self.settings.lost_after)
        if not any(at < cutoff for _, _, at in waiting):
            return []
        sizes = self.queue_sizes()
        by_queue: dict[str, list] = defaultdict(list)
        for run_id, job, at in waiting:
            by_queue[queue_for(job.get("device", "auto")).value].append((run_id, at))
        taken = []
        for queue, runs in by_queue.items():
            handed_out = runs[: max(0, len(runs) - sizes.get(queue, 0))]
            taken += [run_id for run_id, at in handed_out if at < cutoff]
        return taken

    def reap(self, requeue: bool = True) -> list[int]:
        """Requeue jobs whose worker went silent (unless `requeue` is False), send again the
        messages of jobs taken but never claimed, then dispatch what is pending."""
        requeued = self._requeue_lost() if requeue else []
        with session_scope(self.sessions) as session:  # read only: no lock while asking the broker
            unclaimed = self.taken_unclaimed(session)
        if unclaimed:
            with session_scope(self.sessions) as session:
                begin_write(session)
                lifecycle.redispatch(session, unclaimed)
            log.warning(
                "runs %s were dispatched but their messages left the queue unclaimed (a "
                "worker died before its claim, or the broker lost them): sent again",
                unclaimed,
            )
        self.dispatch_pending()
        return requeued

    def _requeue_lost(self) -> list[int]:
        with session_scope(self.sessions) as session:
            begin_write(session)
            requeued = lifecycle.reap_lost(
                session, self.settings.lost_after, self.settings.max_attempts
            )
            # A trial ended here (lost, or a stop its silent worker never acted on) frees
            # its sweep's slot, as an end through the API does.
            for run_id in requeued:
                sweeps.run_ended(session, run_id)
        if requeued:
            log.warning("workers lost on runs %s: requeued or ended", requeued)
        return requeued


class Reaper(threading.Thread):
    """Background loop of the API server: reap lost jobs and retry pending dispatches.

    For LOST_AFTER after the server starts it requeues nothing: while the server was down no
    worker could heartbeat, so every running job would look lost; their workers get that long
    to be heard again."""

    def __init__(self, dispatcher: Dispatcher):
        super().__init__(name="lionlab-reaper", daemon=True)
        self.dispatcher = dispatcher
        self.interval = max(0.5, min(5.0, dispatcher.settings.lost_after / 3))
        self.grace_until = time.monotonic() + dispatcher.settings.lost_after
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(self.interval):
            try:
                self.dispatcher.reap(requeue=time.monotonic() >= self.grace_until)
            except Exception:  # the database may be restarting: try again next round
                log.exception("reaper round failed")
