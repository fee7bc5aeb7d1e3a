"""What the sweep page and the CLI read about a sweep: its trials, the analysis and ASHA's
decisions, assembled from the sweep row, its runs and their eval-loss points."""

from __future__ import annotations

from dataclasses import dataclass

from lionlab.sweeps import Decision, SweepAnalysis
from lionlab_server import schemas


@dataclass(frozen=True)
class SweepReport:
    sweep: schemas.SweepDetail
    analysis: SweepAnalysis
    decisions: list[Decision]  # every ASHA decision, in the order it was made
