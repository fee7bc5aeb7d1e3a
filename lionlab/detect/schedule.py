"""The learning-rate schedule as logged: the lr in force at each row of a batch."""

from __future__ import annotations

import math

import numpy as np

from lionlab.detect.batch import Batch
from lionlab.detect.state import float_from_json, float_to_json


class ScheduleTracker:
    """Carries the last logged lr (finite and positive) across batches."""

    def __init__(self) -> None:
        self.lr = math.nan

    def update(self, batch: Batch) -> np.ndarray:
        """Per row, the last lr logged at or before it (NaN before any)."""
        if batch.lr is None:
            return np.full(batch.n, self.lr)
        logged = np.isfinite(batch.lr) & (batch.lr > 0)
        last = np.maximum.accumulate(np.where(logged, np.arange(batch.n), -1))
        lr = np.where(last >= 0, batch.lr[np.maximum(last, 0)], self.lr)
        self.lr = float(lr[-1])
        return lr

    def state_dict(self) -> dict:
        return {"lr": float_to_json(self.lr)}

    def load_state_dict(self, d: dict) -> None:
        self.lr = float_from_json(d["lr"])
