"""One batch of a run's metrics, normalised: increasing steps, float columns, non-finite rows.

Reading NaN: the server may fill a metric with NaN at steps where it was not logged, and a
diverged run logs NaN too. A NaN in loss (or grad_norm) counts as a logged non-finite value
when the other of the two is not finite in the same row; next to a finite value it means
"not logged here". +/-Inf is always a logged non-finite value.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

METRICS = ("loss", "grad_norm", "lr")
NO_STEP = -(2**62)  # before any step


@dataclass(frozen=True)
class Batch:
    steps: np.ndarray  # (n,) int64, strictly increasing, after every step seen before
    loss: np.ndarray | None  # (n,) float64 as logged; None when the key is absent
    grad_norm: np.ndarray | None
    lr: np.ndarray | None

    @property
    def n(self) -> int:
        return len(self.steps)

    def nonfinite(self, name: str) -> np.ndarray:
        """Rows where metric `name` (loss or grad_norm) logged a non-finite value."""
        values = getattr(self, name)
        if values is None:
            return np.zeros(self.n, dtype=bool)
        other = self.grad_norm if name == "loss" else self.loss
        if other is None:
            return ~np.isfinite(values)
        return np.isinf(values) | (np.isnan(values) & ~np.isfinite(other))


def parse_batch(steps, metrics: Mapping[str, object], after_step: int = NO_STEP) -> Batch:
    """Validate and convert one batch; rows at or before a step already seen are dropped."""
    steps = np.asarray(steps).astype(np.int64).ravel()
    columns = {name: _column(metrics.get(name), len(steps), name) for name in METRICS}
    seen = np.maximum.accumulate(np.concatenate([[after_step], steps]))[:-1]
    keep = steps > seen  # a retried or overlapping batch is not counted twice
    if not keep.all():
        steps = steps[keep]
        columns = {k: None if v is None else v[keep] for k, v in columns.items()}
    return Batch(steps=steps, **columns)


def _column(values: object, n: int, name: str) -> np.ndarray | None:
    if values is None:
        return None
    column = np.asarray(values, dtype=np.float64).ravel()
    if len(column) != n:
        raise ValueError(f"metrics[{name!r}] has {len(column)} values for {n} steps")
    return column
