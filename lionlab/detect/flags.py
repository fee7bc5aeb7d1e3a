"""Flags raised by the detectors, and the run summary the run view shows."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

DIVERGENCE = "divergence"
GRAD_NORM_DRIFT = "grad_norm_drift"
LOSS_STEP = "loss_step"
LAYER_GRAD_DRIFT = "layer_grad_drift"
UPDATE_RATIO = "update_ratio"
MODE_COLLAPSE = "mode_collapse"
KINDS = (DIVERGENCE, GRAD_NORM_DRIFT, LOSS_STEP, LAYER_GRAD_DRIFT, UPDATE_RATIO, MODE_COLLAPSE)

INFO, WARNING, CRITICAL = "info", "warning", "critical"
SEVERITIES = (INFO, WARNING, CRITICAL)

STAIRCASE_MIN_STEPS = 3  # loss steps (not explained by the schedule) that make a staircase


@dataclass(frozen=True)
class Flag:
    """One finding on a run: raised at `step`, about the span `start_step`..`end_step`."""

    kind: str
    step: int
    start_step: int
    end_step: int
    severity: str
    message: str

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {self.kind!r}")
        if self.severity not in SEVERITIES:
            raise ValueError(f"severity must be one of {SEVERITIES}, got {self.severity!r}")
        if not self.start_step <= self.end_step <= self.step:
            raise ValueError("steps must satisfy start_step <= end_step <= step")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Flag:
        return cls(
            kind=str(d["kind"]),
            step=int(d["step"]),
            start_step=int(d["start_step"]),
            end_step=int(d["end_step"]),
            severity=str(d["severity"]),
            message=str(d["message"]),
        )


def summarize(flags: Iterable[Flag]) -> dict[str, Any]:
    """Run-level summary: staircase (3+ loss steps), loss-step count, divergence, drift, and
    whether a layer's gradient drifted, a layer's update ratio left its band, or the outputs
    lost their diversity.

    Loss steps of severity "info" coincide with a logged lr change or a restart; they are
    counted apart (`loss_steps_at_schedule_changes`) and never make a staircase.
    """
    flags = list(flags)
    steps = [f for f in flags if f.kind == LOSS_STEP and f.severity != INFO]
    divergences = [f for f in flags if f.kind == DIVERGENCE]
    return {
        "staircase": len(steps) >= STAIRCASE_MIN_STEPS,
        "loss_steps": len(steps),
        "loss_steps_at_schedule_changes": sum(
            f.kind == LOSS_STEP and f.severity == INFO for f in flags
        ),
        "divergence": bool(divergences),
        "first_divergence_step": min((f.step for f in divergences), default=None),
        "grad_norm_drift": any(f.kind == GRAD_NORM_DRIFT for f in flags),
        "layer_grad_drift": any(f.kind == LAYER_GRAD_DRIFT for f in flags),
        "update_ratio": any(f.kind == UPDATE_RATIO for f in flags),
        "mode_collapse": any(f.kind == MODE_COLLAPSE for f in flags),
    }
