"""Which chart a detector flag is drawn on: the first chart showing the metric it is about.

The browser draws each flag (a shaded span or a line, and a marker whose hover shows its
message) from the flag's steps; see frontend/static/js/traces.js.
"""

from __future__ import annotations

# Which metric a flag kind is about; a flag goes to the first chart showing one of these.
FLAG_METRICS: dict[str, tuple[str, ...]] = {
    "divergence": ("train_loss", "loss", "eval_loss"),
    "loss_step": ("train_loss", "loss", "eval_loss"),
    "grad_norm_drift": ("grad_norm",),
    "layer_grad_drift": ("grad_norm",),  # about one layer: drawn on the global norm's chart
    "update_ratio": ("update_rms", "grad_norm"),
    "mode_collapse": ("eval_entropy", "eval_distinct_2", "eval_loss"),
}
DEFAULT_FLAG_METRICS = ("train_loss", "loss")


def flag_metric_keys(kind: str) -> tuple[str, ...]:
    return FLAG_METRICS.get(kind, DEFAULT_FLAG_METRICS)
