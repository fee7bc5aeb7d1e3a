"""Sweeps: spec, expansion into trials, ASHA early termination, and the analysis of results.

Pure Python and numpy (no torch, database or HTTP): the server, the CLI and users' own scripts
share it. See docs/sweeps.md.
"""

from lionlab.sweeps.analysis import (
    ComputeSaved,
    GroupSummary,
    Speedup,
    SweepAnalysis,
    analyze,
    best_configs,
    compute_saved,
    lr_sensitivity,
    summarize_groups,
)
from lionlab.sweeps.asha import AshaDecider, Decision
from lionlab.sweeps.errors import SpecError
from lionlab.sweeps.expand import Trial, expand, expansion_summary
from lionlab.sweeps.results import Curve, Hit, TrialResult, TrialStatus, time_to_target
from lionlab.sweeps.spec import SweepSpec, load_spec, parse_spec, parse_spec_text, rung_steps
from lionlab.sweeps.verdict import Verdict

__all__ = [
    "AshaDecider",
    "ComputeSaved",
    "Curve",
    "Decision",
    "GroupSummary",
    "Hit",
    "SpecError",
    "Speedup",
    "SweepAnalysis",
    "SweepSpec",
    "Trial",
    "TrialResult",
    "TrialStatus",
    "Verdict",
    "analyze",
    "best_configs",
    "compute_saved",
    "expand",
    "expansion_summary",
    "load_spec",
    "lr_sensitivity",
    "parse_spec",
    "parse_spec_text",
    "rung_steps",
    "summarize_groups",
    "time_to_target",
]
