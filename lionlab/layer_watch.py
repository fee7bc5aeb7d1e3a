"""Per-layer statistics of a torch model, every N steps: `lionlab.watch(model, run)`.

For each parameter tensor (or each module, `group="module"`), at every `every`-th step:
- grad_norm: the L2 norm of its gradient before clipping,
- param_norm: the L2 norm of its parameters after the update,
- update_ratio: ||theta_after - theta_before|| / ||theta_after||, the size of the update
  relative to the weights. Lion moves every coordinate by exactly lr (plus weight decay), so
  for Lion this ratio is lr / rms(theta) and scales linearly with lr.
- update_rms: ||theta_after - theta_before|| / sqrt(n), the step per weight. With Lion it is
  the layer's lr (to within weight decay and zero signs), the same for every layer of a run:
  a layer far above the others has its lr set too high, even once its weights have grown
  enough to bring its ratio back.

In a training loop of your own:

    watch = lionlab.watch(model, run, every=50)
    loss.backward()
    watch.before_update(step)   # before clipping and optimizer.step()
    optimizer.step()
    watch.after_update(step)

Steps that are not due cost one integer test. A due step costs a norm of each gradient, one
copy of the parameters and two more norms (all torch foreach kernels on the parameters'
device) and one transfer of 3 x layers floats to the host. The Hugging Face callback and the
Lightning logger call it for you (`watch_every=`). Frameworks that clip before their hooks
run (the HF Trainer) arm gradient hooks on the due step instead (`arm`), which record the
norms during backward, before clipping.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

DEFAULT_EVERY = 50


def _group_of(name: str, group: str) -> str:
    if group == "module":
        return name.rsplit(".", 1)[0] if "." in name else name
    return name


class LayerWatch:
    def __init__(self, model: nn.Module, run: Any, every: int = DEFAULT_EVERY, group="tensor"):
        if every < 1:
            raise ValueError(f"every must be >= 1, got {every}")
        if group not in ("tensor", "module"):
            raise ValueError(f"group must be 'tensor' or 'module', got {group!r}")
        self.run, self.every = run, every
        named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
        if not named:
            raise ValueError("the model has no trainable parameters to watch")
        self.params = [p for _, p in named]
        groups: dict[str, list[int]] = {}
        for i, (name, _) in enumerate(named):
            groups.setdefault(_group_of(name, group), []).append(i)
        self.names = list(groups)
        self._index = torch.tensor(
            [g for g, members in enumerate(groups.values()) for _ in members], dtype=torch.long
        )
        self._grouped = len(self.names) != len(self.params)
        sizes = torch.zeros(len(self.names), dtype=torch.float64)
        counts = torch.tensor([float(p.numel()) for p in self.params], dtype=torch.float64)
        self._sizes = sizes.index_add_(0, self._index, counts)
        self._before: list[torch.Tensor] | None = None
        self._grad_sq: torch.Tensor | None = None
        self._armed_step: int | None = None
        self._hooked: dict[int, torch.Tensor] = {}
        self._handles: list[Any] = []

    def due(self, step: int) -> bool:
        return step % self.every == 0

    # -- gradients recorded during backward (for frameworks that clip before their hooks) --

    def arm(self, step: int) -> None:
        """If `step` is due, record each gradient's norm as backward produces it (before
        any clipping); with gradient accumulation the last backward's (the full sum) wins."""
        if not self.due(step):
            self._armed_step = None
            return
        if not self._handles:
            for i, p in enumerate(self.params):
                self._handles.append(p.register_post_accumulate_grad_hook(self._hook(i)))
        self._armed_step, self._hooked = step, {}

    def _hook(self, i: int):
        def record(p: torch.Tensor) -> None:
            if self._armed_step is not None and p.grad is not None:
                self._hooked[i] = torch.linalg.vector_norm(p.grad.detach().float())

        return record

    # -- the update --------------------------------------------------------------------------

    def _squares(self, norms: list[torch.Tensor], device) -> torch.Tensor:
        sq = torch.stack([n.float().to(device) for n in norms]) ** 2
        if not self._grouped:
            return sq
        out = torch.zeros(len(self.names), device=device)
        return out.index_add_(0, self._index.to(device), sq)

    @torch.no_grad()
    def before_update(self, step: int) -> None:
        """At a due step: the gradients' norms (from `arm`'s hooks when armed, else from the
        gradients now: call it before clipping) and a copy of the parameters."""
        if not self.due(step):
            return
        device = self.params[0].device
        nan = torch.tensor(math.nan, device=device)
        if self._armed_step == step and self._hooked:
            norms = [self._hooked.get(i, nan) for i in range(len(self.params))]
        else:
            have = [i for i, p in enumerate(self.params) if p.grad is not None]
            found = torch._foreach_norm([self.params[i].grad for i in have]) if have else []
            norms = [nan] * len(self.params)
            for i, norm in zip(have, found, strict=True):
                norms[i] = norm
        self._grad_sq = self._squares(norms, device)
        self._before = [p.detach().clone() for p in self.params]
        self._armed_step = None

    @torch.no_grad()
    def after_update(self, step: int) -> None:
        """At a due step (after before_update): the update and parameter norms, logged with
        the gradient norms to the run."""
        if self._before is None or self._grad_sq is None:
            return
        device = self.params[0].device
        before, self._before = self._before, None
        torch._foreach_sub_(before, self.params)  # old - new
        update_sq = self._squares(torch._foreach_norm(before), device)
        param_sq = self._squares(torch._foreach_norm(self.params), device)
        grad, update, param = torch.stack([self._grad_sq, update_sq, param_sq]).sqrt().cpu()
        ratio = torch.where(param > 0, update / param, torch.full_like(param, math.nan))
        rms = update.double() / self._sizes.sqrt()
        self._grad_sq = None
        self.run.log_layers(
            step,
            self.names,
            {
                "grad_norm": grad.tolist(),
                "param_norm": param.tolist(),
                "update_ratio": ratio.tolist(),
                "update_rms": rms.tolist(),
            },
        )

    def close(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []


def watch(model: nn.Module, run: Any, every: int = DEFAULT_EVERY, group: str = "tensor"):
    """Per-layer statistics of `model` logged to `run` every `every` steps (see module doc)."""
    return LayerWatch(model, run, every=every, group=group)
