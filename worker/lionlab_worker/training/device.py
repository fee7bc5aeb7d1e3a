"""Device and precision choice for a run."""

from __future__ import annotations

import contextlib
import logging

import torch

log = logging.getLogger(__name__)


def resolve_device(requested: str) -> torch.device:
    """The torch device for "auto" (cuda if available, else cpu) or an explicit name."""
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(requested)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device {requested!r} requested but this worker has no CUDA GPU")
    return device


def effective_precision(requested: str, device: torch.device) -> str:
    """The precision that will run: bf16 falls back to fp32 on a GPU without bf16 support."""
    if requested != "bf16":
        return "fp32"
    if device.type == "cuda" and not torch.cuda.is_bf16_supported():
        log.warning("bf16 requested but %s does not support it; running in fp32", device)
        return "fp32"
    if device.type not in ("cpu", "cuda"):
        log.warning("bf16 autocast not supported on %s; running in fp32", device.type)
        return "fp32"
    return "bf16"


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    """bf16 autocast for the forward pass and loss, or nothing for fp32."""
    if precision == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()
