"""Checkpoints: everything a retried run needs to continue exactly where the last one left off.

One file per run folder, `checkpoint.pt`, replaced atomically (written to a temporary file,
fsynced, renamed over the old one), so a crash mid-write leaves the previous checkpoint intact.
It holds the model, the optimizer state, the step (which is also the learning-rate schedule's
state and the data position: one batch per step), the RNG states and the spec it was made for.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from lionlab.jobs import JobSpec

CHECKPOINT_FILE = "checkpoint.pt"
FORMAT_VERSION = 1
# Spec fields that do not change the trajectory; a resume may differ in these.
OPERATIONAL_FIELDS = {"device", "checkpoint_interval", "eval_interval", "stop_on_divergence"}


class CheckpointMismatchError(ValueError):
    """The checkpoint in the run folder was made for a different spec."""


@dataclass(frozen=True)
class Resumed:
    """What a loaded checkpoint says about the run so far."""

    step: int
    train_loss: float | None
    eval_loss: float | None


def capture_rng() -> dict[str, Any]:
    """The RNG states a step may draw from (dropout, user tasks), in a weights_only-safe form."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "python": random.getstate(),
        "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, cached],
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict[str, Any]) -> None:
    """Put back the RNG states from `capture_rng` (CUDA ones only where there is a GPU)."""
    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _trajectory_fields(spec: JobSpec) -> dict[str, Any]:
    return spec.model_dump(mode="json", exclude=OPERATIONAL_FIELDS)


class CheckpointStore:
    """Saves and loads the checkpoint of one run folder."""

    def __init__(self, folder: Path, spec: JobSpec) -> None:
        self.folder = Path(folder)
        self.path = self.folder / CHECKPOINT_FILE
        self.spec = spec

    def save(self, step: int, model: nn.Module, optimizer: torch.optim.Optimizer, **losses) -> None:
        """Write the checkpoint of `step` atomically; `losses`: train_loss and eval_loss."""
        state = {
            "format": FORMAT_VERSION,
            "step": step,
            "spec": _trajectory_fields(self.spec),
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "rng": capture_rng(),
            "train_loss": losses.get("train_loss"),
            "eval_loss": losses.get("eval_loss"),
        }
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        with open(tmp, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)

    def load(
        self, model: nn.Module, optimizer: torch.optim.Optimizer, device: torch.device
    ) -> Resumed | None:
        """Restore model, optimizer and RNGs from the checkpoint, if there is one."""
        if not self.path.exists():
            return None
        state = torch.load(self.path, map_location=device, weights_only=True)
        self._check_spec(state["spec"])
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        restore_rng(_rng_to_cpu(state["rng"]))
        return Resumed(state["step"], state["train_loss"], state["eval_loss"])

    def _check_spec(self, saved: dict[str, Any]) -> None:
        current = _trajectory_fields(self.spec)
        differ = sorted(k for k in current.keys() | saved.keys() if current.get(k) != saved.get(k))
        if differ:
            raise CheckpointMismatchError(
                f"{self.path} was made for a job whose {', '.join(differ)} differ from this "
                "spec; use a fresh checkpoint folder for a different job"
            )


def _rng_to_cpu(state: dict[str, Any]) -> dict[str, Any]:
    """RNG state tensors must be CPU ByteTensors whatever map_location did."""
    out = dict(state)
    out["torch"] = state["torch"].cpu()
    if "cuda" in state:
        out["cuda"] = [s.cpu() for s in state["cuda"]]
    out["numpy"] = [v.cpu() if isinstance(v, torch.Tensor) else v for v in state["numpy"]]
    return out
