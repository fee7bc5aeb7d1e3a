"""build_optimizer: one entry point from a run's (name, hyper-parameters) to an optimizer."""

from __future__ import annotations

import inspect
from typing import Any

import torch

from lionlab.optim.distributed import DistributedLion
from lionlab.optim.lion import Lion

OPTIMIZERS: dict[str, type[torch.optim.Optimizer]] = {
    "lion": Lion,
    "distributed_lion": DistributedLion,
    "adamw": torch.optim.AdamW,
    "adam": torch.optim.Adam,
    "sgd": torch.optim.SGD,
}


def _tensors(params: list[Any]) -> list[torch.Tensor]:
    """The tensors in a list of tensors or of param-group dicts."""
    tensors: list[torch.Tensor] = []
    for item in params:
        if isinstance(item, dict):
            group = item["params"]
            tensors.extend([group] if isinstance(group, torch.Tensor) else group)
        else:
            tensors.append(item)
    return tensors


def _fused_supported(tensors: list[torch.Tensor]) -> bool:
    """True when torch has fused Adam(W) kernels for every tensor's device and dtype."""
    try:  # the list grows with torch versions (CPU since 2.4)
        from torch.utils._foreach_utils import _get_fused_kernels_supported_devices

        devices = set(_get_fused_kernels_supported_devices())
    except ImportError:
        devices = {"cuda"}
    return bool(tensors) and all(
        t.device.type in devices and t.is_floating_point() for t in tensors
    )


def build_optimizer(name: str, params: Any, **hparams: Any) -> torch.optim.Optimizer:
    """The optimizer `name` ("lion", "distributed_lion", "adamw", "adam", "sgd") over params
    with hparams.

    hparams are the constructor's keyword arguments (lr, betas, weight_decay, momentum, ...).
    Adam and AdamW use torch's fused kernels where the devices support them, else foreach,
    unless hparams choose.
    """
    key = name.strip().lower()
    if key not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; choose one of {sorted(OPTIMIZERS)}")
    cls = OPTIMIZERS[key]
    signature = inspect.signature(cls.__init__).parameters
    accepted = [p for p in signature if p not in ("self", "params")]
    unknown = sorted(set(hparams) - set(accepted))
    if unknown:
        raise ValueError(f"{key}: unknown hyper-parameter(s) {unknown}; accepted: {accepted}")
    params = list(params)
    if key in ("adam", "adamw") and "fused" not in hparams and "foreach" not in hparams:
        if _fused_supported(_tensors(params)):
            hparams["fused"] = True
        else:
            hparams["foreach"] = True
    return cls(params, **hparams)
