"""One batch of a run's metrics, normalised: increasing steps, float columns, non-finite rows.

Reading NaN: a diverged run logs NaN, and a key may also be missing at some rows. Say which
rows were logged and NaN is read exactly: pass a key's column as a masked array (masked = not
logged here; the server does) or as a list with None where it was not logged. A plain float
column cannot tell the two apart, so there a NaN in loss (or grad_norm) counts as a logged
non-finite value when the other of the two is not finite in the same row, and as "not logged
here" next to a finite value. +/-Inf is always a logged non-finite value.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

METRICS = ("loss", "grad_norm", "lr")
EXTRA_METRICS = ("entropy", "distinct")  # eval metrics of generative runs (mode collapse)
NO_STEP = -(2**62)  # before any step


@dataclass(frozen=True)
class Batch:
    steps: np.ndarray  # (n,) int64, strictly increasing, after every step seen before
    loss: np.ndarray | None  # (n,) float64 as logged; None when the key is absent
    grad_norm: np.ndarray | None
    lr: np.ndarray | None
    logged: Mapping[str, np.ndarray]  # per key given with its gaps marked: rows it was logged
    extra: Mapping[str, np.ndarray] = field(default_factory=dict)  # EXTRA_METRICS given, NaN
    # where not logged

    @property
    def n(self) -> int:
        return len(self.steps)

    def nonfinite(self, name: str) -> np.ndarray:
        """Rows where metric `name` (loss or grad_norm) logged a non-finite value."""
        values = getattr(self, name)
        if values is None:
            return np.zeros(self.n, dtype=bool)
        if name in self.logged:
            return self.logged[name] & ~np.isfinite(values)
        other = self.grad_norm if name == "loss" else self.loss
        if other is None:
            return ~np.isfinite(values)
        return np.isinf(values) | (np.isnan(values) & ~np.isfinite(other))


def parse_batch(steps, metrics: Mapping[str, object], after_step: int = NO_STEP) -> Batch:
    """Validate and convert one batch; rows at or before a step already seen are dropped."""
    steps = np.asarray(steps).astype(np.int64).ravel()
    columns, logged, extra = {}, {}, {}
    for name in METRICS:
        columns[name], mask = _column(metrics.get(name), len(steps), name)
        if mask is not None:
            logged[name] = mask
    for name in EXTRA_METRICS:
        values, mask = _column(metrics.get(name), len(steps), name)
        if values is not None:
            extra[name] = values if mask is None else np.where(mask, values, np.nan)
    seen = np.maximum.accumulate(np.concatenate([[after_step], steps]))[:-1]
    keep = steps > seen  # a retried or overlapping batch is not counted twice
    if not keep.all():
        steps = steps[keep]
        columns = {k: None if v is None else v[keep] for k, v in columns.items()}
        logged = {k: v[keep] for k, v in logged.items()}
        extra = {k: v[keep] for k, v in extra.items()}
    return Batch(steps=steps, logged=logged, extra=extra, **columns)


def _column(values: object, n: int, name: str) -> tuple[np.ndarray | None, np.ndarray | None]:
    """(values with NaN where not logged, rows logged if the caller said so)."""
    if values is None:
        return None, None
    logged = None
    if isinstance(values, np.ma.MaskedArray):
        logged = ~np.ma.getmaskarray(values).ravel()
        values = values.filled(np.nan)
    elif isinstance(values, (list, tuple)) and any(v is None for v in values):
        logged = np.array([v is not None for v in values], dtype=bool)
        values = [np.nan if v is None else v for v in values]
    column = np.asarray(values, dtype=np.float64).ravel()
    if len(column) != n:
        raise ValueError(f"metrics[{name!r}] has {len(column)} values for {n} steps")
    return column, logged
