"""The metric and param names LionLab recognises, its own and those other tools log.

Detectors read the first name of each tuple that a batch holds: a script logging through the
Hugging Face Trainer (`loss`, `grad_norm`, `learning_rate`, `eval_loss`), Lightning
(`train_loss`, `train_loss_step`, `val_loss`) or its own names gets divergence and drift
flags without renaming anything. docs/integrations.md lists the mapping.
"""

from __future__ import annotations

from collections.abc import Mapping

LOSS = ("train_loss", "loss", "train/loss", "train_loss_step")
GRAD_NORM = ("grad_norm", "train/grad_norm", "grad_norm_step")
LR = ("lr", "learning_rate", "train/learning_rate", "lr-Lion", "lr-AdamW")
# Output diversity of generative runs (the mode_collapse detector): next-token entropy and
# distinct-2 of sampled text, as the built-in char LM logs them at each evaluation.
ENTROPY = ("eval_entropy", "entropy", "eval/entropy")
DISTINCT = ("eval_distinct_2", "distinct_2", "eval/distinct_2")
EVAL_LOSS = ("eval_loss", "val_loss", "eval/loss", "val/loss", "validation_loss")

# Params that name the optimizer: TrainingArguments.optim, and common hyper-parameter names.
OPTIMIZER_PARAMS = ("optimizer", "optim", "optimizer_name", "opt")


def optimizer_of(params: Mapping[str, str]) -> str | None:
    """ "lion" or "adamw" when a param names one of them (`optim=adamw_torch`), else None."""
    for key in OPTIMIZER_PARAMS:
        value = str(params.get(key, "")).lower()
        if "lion" in value:
            return "lion"
        if "adam" in value:
            return "adamw"
    return None
