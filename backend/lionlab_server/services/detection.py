"""Feeding each ingested batch to its run's online detectors, in the ingestion transaction.

The detectors see one row per step at which the loss or the gradient norm was logged; a key
missing in a row is masked, so a logged NaN is read as the divergence it is even next to a
finite value of the other key (lionlab/detect/batch.py). Rows at or before the last step they
saw are ignored, so re-sent batches are harmless; flags are stored once per (run, kind, start
step).
"""

from __future__ import annotations

import numpy as np
from sqlalchemy.orm import Session

from lionlab import known_keys
from lionlab.detect import LayerDetectors, OnlineDetectors
from lionlab.lifecycle import RunStatus
from lionlab_server.models import Run
from lionlab_server.services import webhooks
from lionlab_server.store import flags as flag_store
from lionlab_server.store import lifecycle
from lionlab_server.store.metrics import KeyPoints

# Detector input -> the metric keys that feed it, first match wins (workers log train_loss;
# users' scripts and other tools' loggers often log loss: lionlab/known_keys.py).
INPUTS = {
    "loss": known_keys.LOSS,
    "grad_norm": known_keys.GRAD_NORM,
    "lr": known_keys.LR,
    "entropy": known_keys.ENTROPY,  # mode_collapse: off while neither is logged
    "distinct": known_keys.DISTINCT,
}


def detector_rows(batch: list[KeyPoints]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """(steps, {input: values}) aligned on the steps where loss or grad_norm was logged."""
    by_name = {kp.name: kp for kp in batch}
    chosen = {}
    for name, keys in INPUTS.items():
        found = next((by_name[k] for k in keys if k in by_name), None)
        if found is not None:
            chosen[name] = found
    driving = [chosen[n].steps for n in ("loss", "grad_norm") if n in chosen]
    if not driving:
        return np.zeros(0, np.int64), {}
    steps = np.unique(np.concatenate(driving))
    columns = {}
    for name, kp in chosen.items():
        column = np.ma.masked_all(len(steps), dtype=np.float64)  # masked: not logged there
        idx = np.searchsorted(steps, kp.steps)
        inside = (idx < len(steps)) & (steps[np.minimum(idx, len(steps) - 1)] == kp.steps)
        column[idx[inside]] = kp.values[inside]
        columns[name] = column
    return steps, columns


def feed(session: Session, run: Run, batch: list[KeyPoints]) -> list[dict]:
    """Run the batch through the run's detectors; store and return the new flags."""
    steps, columns = detector_rows(batch)
    if not len(steps):
        return []
    state = flag_store.lock_state(session, run.id)
    detectors = OnlineDetectors() if state is None else OnlineDetectors.from_state(state)
    flags = [f.to_dict() for f in detectors.update(steps, columns)]
    flag_store.save_state(session, run.id, detectors.state_dict())
    flag_store.add_flags(session, run.id, flags)
    if flags:
        webhooks.flags_raised(session, run, flags)
    if any(f["kind"] == "divergence" for f in flags) and (run.job or {}).get("stop_on_divergence"):
        lifecycle.ask_stop(session, run.id, RunStatus.DIVERGED)
    return flags


def feed_layers(session: Session, run: Run, steps, names, stats, lr: float | None) -> list[dict]:
    """Run a per-layer batch through the run's LayerDetectors; store and return new flags.
    `lr` is the run's last logged learning rate (for Lion's lr advice), if any."""
    state = flag_store.lock_layer_state(session, run.id)
    detectors = LayerDetectors() if state is None else LayerDetectors.from_state(state)
    rows = None if lr is None else np.full(len(steps), lr)
    found = detectors.update(steps, names, stats, lr=rows, optimizer=run.optimizer)
    flags = [f.to_dict() for f in found]
    flag_store.save_layer_state(session, run.id, detectors.state_dict())
    flag_store.add_flags(session, run.id, flags)
    if flags:
        webhooks.flags_raised(session, run, flags)
    return flags
