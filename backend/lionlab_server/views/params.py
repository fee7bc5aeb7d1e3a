"""Run parameters for comparison: flatten a run's config, find and label what differs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from lionlab_server.parameters import params_of
from lionlab_server.schemas import Run

# Short names for legends; any other parameter keeps its dotted path.
SHORT_NAMES = {"weight_decay": "wd", "batch_size": "batch", "schedule.warmup_steps": "warmup"}
# Parameters a reader looks for first; legends and tables list differing ones in this order.
PRIORITY = (
    "optimizer",
    "lr",
    "weight_decay",
    "wd",
    "betas",
    "momentum",
    "eps",
    "batch_size",
    "steps",
    "schedule.warmup_steps",
    "schedule.decay",
    "grad_clip",
    "seed",
    "task",
    "model_size",
)
LEGEND_PARTS = 3
MISSING = "—"


def run_params(run: Run) -> dict[str, Any]:
    """Every parameter of a run, flat (`schedule.warmup_steps`), optimizer first."""
    return params_of(run.optimizer, run.job, run.config)


def format_param(value: Any) -> str:
    """A parameter value as a short string: 1e-04 -> 0.0001, [0.9, 0.99] -> (0.9, 0.99)."""
    if value is None:
        return MISSING
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return _compact_float(value)
    if isinstance(value, list | tuple):
        return "(" + ", ".join(format_param(v) for v in value) + ")"
    return str(value)


def _compact_float(value: float) -> str:
    """1e-4 rather than 0.0001: learning rates read in powers of ten."""
    if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e5):
        mantissa, exponent = f"{value:.2e}".split("e")
        return f"{mantissa.rstrip('0').rstrip('.')}e{int(exponent)}"
    return f"{value:g}"


def _rank(key: str) -> int:
    return PRIORITY.index(key) if key in PRIORITY else len(PRIORITY)


def by_priority(keys) -> list[str]:
    """Parameter keys, the well-known hyper-parameters first, the rest by name."""
    return sorted(keys, key=lambda k: (_rank(k), k))


def differing_keys(params: Sequence[Mapping[str, Any]]) -> list[str]:
    """Parameters whose formatted values are not all equal (absent counts as a value),
    the well-known hyper-parameters first."""
    keys: dict[str, None] = {}
    for p in params:
        keys |= dict.fromkeys(p)
    differing = [k for k in keys if len({format_param(p.get(k)) for p in params}) > 1]
    return sorted(differing, key=_rank)  # stable: the rest keep their config order


def short_name(key: str) -> str:
    return SHORT_NAMES.get(key, key)


def legend_labels(
    runs: Sequence[Run], params: Sequence[Mapping[str, Any]], differing: Sequence[str]
) -> dict[int, str]:
    """Run id -> legend label naming its values of the differing parameters, e.g.
    "lion lr=1e-4 wd=1" (the run name if none differ or two runs would read the same)."""
    labels = {}
    for run, p in zip(runs, params, strict=True):
        present = [k for k in differing if p.get(k) is not None][:LEGEND_PARTS]
        parts = [
            format_param(p[k]) if k == "optimizer" else f"{short_name(k)}={format_param(p[k])}"
            for k in present
        ]
        labels[run.id] = " ".join(parts) or run.name
    counts: dict[str, int] = {}
    for label in labels.values():
        counts[label] = counts.get(label, 0) + 1
    for run in runs:
        if counts[labels[run.id]] > 1 and labels[run.id] != run.name:
            labels[run.id] = f"{labels[run.id]} · {run.name}"
    return labels
