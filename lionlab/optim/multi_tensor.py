"""Lion over lists of tensors with torch._foreach ops: the portable fallback path.

Used where no fused kernel applies (CUDA without Triton, CPU without a C compiler). Each
_foreach op is one pass over its tensors, and the rule takes about ten of them. On CUDA the
caching allocator and multi-tensor kernels make that cheap. On CPU every temporary would be
a fresh allocation the size of the model, so the tensors are cut into cache-sized pieces and
the ops run piece by piece: temporaries are small, reused by malloc, and the passes after
the first read from cache. The operations and their rounding are those of the reference
path, so the results are the same bits.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

from lionlab.optim.functional import LionHyperparams

CPU_PIECE_ELEMENTS = 1 << 18  # elements per batch on CPU: 1 MiB per stream, ~7 MiB in all (L3)


def _sign_or_nan(c: list[torch.Tensor]) -> list[torch.Tensor]:
    """sign(c), sign(0) = 0, NaN kept: sign(c) + 0 * clamp(c, -1, 1), where only NaN survives."""
    nan_or_zero = torch._foreach_clamp_min(c, -1.0)
    torch._foreach_clamp_max_(nan_or_zero, 1.0)
    torch._foreach_mul_(nan_or_zero, 0.0)  # 0 for every number, NaN for NaN
    signs = torch._foreach_sign(c)
    torch._foreach_add_(signs, nan_or_zero)
    return signs


def _update(params, grads, exp_avgs, hp: LionHyperparams) -> None:
    c = torch._foreach_mul(exp_avgs, hp.beta1)
    torch._foreach_add_(c, torch._foreach_mul(grads, 1 - hp.beta1))
    if hp.weight_decay != 0:
        torch._foreach_mul_(params, hp.decay)
    torch._foreach_add_(params, _sign_or_nan(c), alpha=-hp.lr)
    torch._foreach_mul_(exp_avgs, hp.beta2)
    torch._foreach_add_(exp_avgs, torch._foreach_mul(grads, 1 - hp.beta2))


def _pieces(
    params: list[torch.Tensor], grads: list[torch.Tensor], exp_avgs: list[torch.Tensor], size: int
) -> Iterator[tuple[list[torch.Tensor], list[torch.Tensor], list[torch.Tensor]]]:
    """Batches of flat views totalling at most `size` elements (a non-contiguous tensor whole)."""
    batch: tuple[list, list, list] = ([], [], [])
    count = 0
    for triple in zip(params, grads, exp_avgs, strict=True):
        if all(t.is_contiguous() for t in triple):
            views = zip(*(t.view(-1).split(size) for t in triple), strict=True)
        else:
            views = iter([triple])
        for view in views:
            if count and count + view[0].numel() > size:
                yield batch
                batch, count = ([], [], []), 0
            for tensors, t in zip(batch, view, strict=True):
                tensors.append(t)
            count += view[0].numel()
    if count:
        yield batch


@torch.no_grad()
def lion_update_foreach_(
    params: list[torch.Tensor],
    grads: list[torch.Tensor],
    exp_avgs: list[torch.Tensor],
    hp: LionHyperparams,
) -> None:
    """One Lion step for same-dtype tensors whose state has their dtype (fp32 or fp64)."""
    if not params:
        return
    if params[0].device.type != "cpu":
        _update(params, grads, exp_avgs, hp)
        return
    for batch in _pieces(params, grads, exp_avgs, CPU_PIECE_ELEMENTS):
        _update(*batch, hp)
