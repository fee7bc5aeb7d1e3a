"""Moving hyper-parameters from an AdamW baseline to Lion (Chen et al. 2023, section 5).

Torch-free, so the server (job warnings, sweep grids) and the SDK can use it.

A Lion step has unit size per coordinate (sign), larger than AdamW's, so Lion needs a
SMALLER learning rate: lr / factor, with factor in [3, 10]. Weight decay grows by the same
factor so that the effective decay lr * weight_decay stays the same. (The advice to give Lion
a larger lr than Adam is the wrong way round.)

The default factor is 10: every worked example in the paper uses it,
    ViT-B/16        lr 1e-3, wd 1.0    ->  1e-4, 10.0
    diffusion       lr 3e-4, wd 0.01   ->  3e-5, 0.1
    7.5B LM         lr 1e-3, wd 0.001  ->  1e-4, 0.01
and the cautious end of the range is the safer first try (a too-large Lion lr diverges; a
too-small one only trains slowly, which a sweep then shows).
"""

from __future__ import annotations

import math
from typing import NamedTuple

DEFAULT_FACTOR = 10.0
FACTOR_RANGE = (3.0, 10.0)


class LionHparams(NamedTuple):
    """Lion's learning rate and (decoupled, lr-scaled) weight decay."""

    lr: float
    weight_decay: float


def lion_from_adamw(lr: float, weight_decay: float, factor: float = DEFAULT_FACTOR) -> LionHparams:
    """Lion settings from AdamW ones: lr / factor and weight_decay * factor, factor in [3, 10].

    Assumes the AdamW convention p *= 1 - lr * weight_decay (torch.optim.AdamW, optax), which
    Lion here shares, so lr * weight_decay is unchanged.
    """
    if not (math.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be a positive AdamW learning rate, got {lr}")
    if not (math.isfinite(weight_decay) and weight_decay >= 0):
        raise ValueError(f"weight_decay must be >= 0 (AdamW's decoupled decay), got {weight_decay}")
    low, high = FACTOR_RANGE
    if not low <= factor <= high:
        raise ValueError(
            f"factor must be in [{low:g}, {high:g}] (the paper's range), got "
            f"{factor}; Lion takes a smaller lr than AdamW, never a larger one"
        )
    return LionHparams(lr=lr / factor, weight_decay=weight_decay * factor)
