"""Log existing training code to LionLab without a rewrite.

- `lionlab.integrations.huggingface.LionLabCallback`: a `transformers.TrainerCallback`.
- `lionlab.integrations.lightning.LionLabLogger`: a Lightning `Logger` (pass it as the
  trainer's logger and in its callbacks, so it can stop training).

Both create the run with the training arguments or hyper-parameters, log every metric the
trainer logs (train and eval) through the SDK's batching client from rank 0 only, end the run
with the right status, and stop training when LionLab asks (a cancel from the dashboard or
the API; with `stop_on_divergence`, a divergence flag). Neither package is imported here:
each module imports its framework when it is used. docs/integrations.md has examples.
"""

from __future__ import annotations

from typing import Any

from lionlab import known_keys


def optimizer_name(optimizer: Any, fallback: str | None = None) -> str | None:
    """ "lion" or "adamw" for a torch optimizer (LionLab's Lion, torch's AdamW, ...)."""
    for _ in range(3):  # accelerate and Lightning wrap the optimizer: look inside
        inner = getattr(optimizer, "optimizer", None)
        if inner is None or inner is optimizer:
            break
        optimizer = inner
    if optimizer is not None:
        found = known_keys.optimizer_of({"optimizer": type(optimizer).__name__})
        if found is not None:
            return found
    return known_keys.optimizer_of({"optimizer": fallback or ""})


def plain_config(values: dict) -> dict:
    """Hyper-parameters as JSON values LionLab stores: numbers, strings, booleans, None and
    lists/dicts of them; anything else (an enum, a dtype, a path) as its string; NaN/Inf as
    strings, since stored configs hold finite numbers only."""

    def plain(v: Any, depth: int = 0) -> Any:
        if v is None or isinstance(v, (bool, str)):
            return v
        if isinstance(v, int):
            return v if -(2**63) <= v < 2**63 else str(v)
        if isinstance(v, float):
            return v if v == v and abs(v) != float("inf") else str(v)
        if depth < 8 and isinstance(v, dict):
            return {str(k): plain(x, depth + 1) for k, x in v.items()}
        if depth < 8 and isinstance(v, (list, tuple)):
            return [plain(x, depth + 1) for x in v]
        value = getattr(v, "value", v)  # enums
        return value if isinstance(value, (str, int, float)) else str(v)

    return {str(k): plain(v) for k, v in values.items()}


def numeric_metrics(values: dict) -> dict[str, float]:
    """The numbers of a trainer's log dict (a tensor's item, not strings or flags)."""
    out = {}
    for key, value in values.items():
        if hasattr(value, "item") and getattr(value, "numel", lambda: 1)() == 1:
            value = value.item()
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            out[str(key)] = float(value)
    return out


def end_status(stop_reason: str | None) -> str:
    """The status a run ends with after training returned normally."""
    return {"diverged": "diverged", "stopped_early": "succeeded"}.get(stop_reason, "succeeded")
