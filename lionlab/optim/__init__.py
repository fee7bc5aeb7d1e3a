"""Optimizers for LionLab runs: Lion as in the paper (with fast paths), Distributed Lion (ranks
vote with 1-bit update signs), AdamW transfer, a factory.

    from lionlab.optim import Lion, DistributedLion, lion_from_adamw, build_optimizer

Importing this package imports torch; `import lionlab` alone does not.
"""

from lionlab.optim.distributed import DistributedLion
from lionlab.optim.factory import OPTIMIZERS, build_optimizer
from lionlab.optim.functional import LionHyperparams, lion_update_
from lionlab.optim.lion import Lion
from lionlab.transfer import DEFAULT_FACTOR, LionHparams, lion_from_adamw

__all__ = [
    "DEFAULT_FACTOR",
    "DistributedLion",
    "OPTIMIZERS",
    "Lion",
    "LionHparams",
    "LionHyperparams",
    "build_optimizer",
    "lion_from_adamw",
    "lion_update_",
]
