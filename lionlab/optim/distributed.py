"""Distributed Lion (Liu et al. 2024, arXiv 2404.00438): ranks exchange update signs, not gradients.

Every rank keeps its own momentum m, updated from its own local gradient; no gradient is
all-reduced (use it without DDP, or with DDP's gradient communication turned off). Per step
and per tensor, each rank r computes its local update

    s_r   = sign(beta1 * m_r + (1 - beta1) * g_r)                 # in {-1, 0, +1}

and the ranks combine only the signs, by one of two votes over the R ranks:

    majority   u = sign(sum_r s_r)      (sign(0) = 0: a tie does not move the weight)
    average    u = (sum_r s_r) / R

after which every rank applies the same update, so the weights stay bit-identical:

    theta = theta * (1 - lr * wd) - lr * u
    m_r   = beta2 * m_r + (1 - beta2) * g_r

How the signs travel: each rank packs its signs 1 bit per parameter (bit set: s_r = +1) and
the ranks all-gather the packed bytes; both votes are computed from the gathered bits (the
average needs nothing more than the signs). A bit cannot say 0 or NaN, so a small all-reduce
first tells every rank which tensors hold an exact zero (s_r = 0: a coordinate whose
momentum and gradient are both 0, such as an embedding row no batch has used yet) or a NaN on
any rank; those tensors travel 2 bits per parameter (+1, -1, 0, NaN) that step, so the rule
above holds exactly. A NaN on any rank makes that coordinate NaN everywhere, so a divergence
shows in the next loss as with Lion.

`comm_bytes` is what this rank sent in the last step, counted as a ring collective sends
(all-gather of k bytes per rank: (R - 1) * k; all-reduce of k bytes: 2 * (R - 1) / R * k),
the same rule `ddp_comm_bytes` uses for DDP's fp32 gradient all-reduce: at R ranks the sign
exchange sends 64 / R times fewer bytes.

With one process (no process group, or a group of one) it is Lion exactly.
The weights must start equal on every rank (DDP broadcasts them; else `sync_parameters`).
Each rank's momentum is its own: a checkpoint keeps every rank's optimizer state.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Literal

import torch
import torch.distributed as dist
from torch.optim import Optimizer

from lionlab.optim.functional import sign_or_nan, state_dtype
from lionlab.optim.lion import check_hyperparams

Vote = Literal["majority", "average"]
_BITS = torch.tensor([1, 2, 4, 8, 16, 32, 64, 128], dtype=torch.uint8)
# 2-bit codes of a sign: 0 -> 0, +1 -> 1, -1 -> 2, NaN -> 3
_ZERO, _PLUS, _MINUS, _NAN = 0, 1, 2, 3


def ring_all_gather_bytes(per_rank: int, world: int) -> int:
    """Bytes one rank sends in a ring all-gather of `per_rank` bytes from each rank."""
    return (world - 1) * per_rank


def ring_all_reduce_bytes(size: int, world: int) -> int:
    """Bytes one rank sends in a ring all-reduce of a `size`-byte buffer."""
    return 2 * (world - 1) * size // world if world > 1 else 0


def pack_bits(bits: torch.Tensor) -> torch.Tensor:
    """A flat bool tensor as uint8, 8 per byte (padded with zeros to a whole byte)."""
    n = bits.numel()
    padded = torch.zeros(-(-n // 8) * 8, dtype=torch.uint8, device=bits.device)
    padded[:n] = bits
    return (padded.view(-1, 8) * _BITS.to(bits.device)).sum(dim=1, dtype=torch.uint8)


def unpack_bits(packed: torch.Tensor, n: int) -> torch.Tensor:
    """The first `n` bits of uint8 bytes (any leading shape: [..., bytes] -> [..., n])."""
    bits = (packed.unsqueeze(-1) & _BITS.to(packed.device)) != 0
    return bits.flatten(-2)[..., :n]


def pack_codes(codes: torch.Tensor) -> torch.Tensor:
    """Flat 2-bit codes (uint8 values 0..3) as uint8, 4 per byte."""
    n = codes.numel()
    padded = torch.zeros(-(-n // 4) * 4, dtype=torch.uint8, device=codes.device)
    padded[:n] = codes
    shifts = torch.tensor([0, 2, 4, 6], dtype=torch.uint8, device=codes.device)
    return (padded.view(-1, 4) << shifts).sum(dim=1, dtype=torch.uint8)


def unpack_codes(packed: torch.Tensor, n: int) -> torch.Tensor:
    shifts = torch.tensor([0, 2, 4, 6], dtype=torch.uint8, device=packed.device)
    return ((packed.unsqueeze(-1) >> shifts) & 3).flatten(-2)[..., :n]


def sync_parameters(params: Iterable[torch.Tensor], group: Any = None, src: int = 0) -> None:
    """Copy rank `src`'s weights to every rank (when the model is not wrapped in DDP)."""
    for p in params:
        dist.broadcast(p.data, src=src, group=group)


def ddp_comm_bytes(params: Iterable[torch.Tensor], world: int) -> int:
    """What one rank sends per step when DDP all-reduces these parameters' gradients
    (its buckets in the gradients' dtype, counted as a ring all-reduce)."""
    size = sum(p.numel() * p.element_size() for p in params if p.requires_grad)
    return ring_all_reduce_bytes(size, world)


class DistributedLion(Optimizer):
    """Lion whose ranks combine 1-bit update signs by a vote (see the module's docstring).

    Args:
        lr, betas, weight_decay: as Lion's (decay p *= 1 - lr * wd with the scheduled lr).
        vote: "majority" (sign of the sum of the ranks' signs) or "average" (their mean).
        process_group: the ranks that vote; None: the default group when torch.distributed
            is initialised, else this process alone (Lion exactly).
    """

    def __init__(
        self,
        params: Iterable[torch.Tensor] | Iterable[dict[str, Any]],
        lr: float = 1e-4,
        betas: tuple[float, float] = (0.9, 0.99),
        weight_decay: float = 0.0,
        vote: Vote = "majority",
        process_group: Any = None,
    ) -> None:
        check_hyperparams(lr, betas, weight_decay)
        if vote not in ("majority", "average"):
            raise ValueError(f"vote must be 'majority' or 'average', got {vote!r}")
        defaults = dict(lr=lr, betas=tuple(betas), weight_decay=weight_decay)
        super().__init__(params, defaults)
        self.vote: Vote = vote
        self.process_group = process_group
        self.comm_bytes = 0  # sent by this rank in the last step
        self.two_bit_tensors = 0  # tensors that needed 2 bits per parameter in the last step

    def world_size(self) -> int:
        if not (dist.is_available() and dist.is_initialized()):
            return 1
        return dist.get_world_size(self.process_group)

    @torch.no_grad()
    def step(self, closure: Callable[[], torch.Tensor] | None = None) -> torch.Tensor | None:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        items = []  # (param, group, local c) for every param with a gradient, in group order
        for group in self.param_groups:
            beta1 = group["betas"][0]
            for p in group["params"]:
                if p.grad is None:
                    continue
                if p.grad.is_sparse:
                    raise RuntimeError("DistributedLion does not support sparse gradients")
                m = self._momentum(p)
                g = p.grad.to(m.dtype)
                items.append((p, group, m * beta1 + g * (1 - beta1)))
        signs = self._combine([c for _, _, c in items])
        for (p, group, _), u in zip(items, signs, strict=True):
            self._apply(p, group, u)
        return loss

    def _momentum(self, p: torch.Tensor) -> torch.Tensor:
        state = self.state[p]
        if not state:
            state["step"] = 0
            state["exp_avg"] = torch.zeros_like(p, dtype=state_dtype(p.dtype))
        state["step"] += 1
        return state["exp_avg"]

    def _apply(self, p: torch.Tensor, group: dict, u: torch.Tensor) -> None:
        lr, wd = float(group["lr"]), group["weight_decay"]
        beta2 = group["betas"][1]
        m = self.state[p]["exp_avg"]
        theta = p if p.dtype == m.dtype else p.to(m.dtype)
        if wd != 0:
            theta.mul_(1.0 - lr * wd)
        theta.add_(u.view_as(theta), alpha=-lr)
        m.mul_(beta2).add_(p.grad.to(m.dtype) * (1 - beta2))
        if theta is not p:
            p.copy_(theta)

    def _combine(self, cs: list[torch.Tensor]) -> list[torch.Tensor]:
        """The voted update of each tensor, from every rank's local c."""
        world = self.world_size()
        self.comm_bytes, self.two_bit_tensors = 0, 0
        if world == 1 or not cs:
            return [sign_or_nan(c) for c in cs]
        device = cs[0].device
        # Which tensors hold an exact zero or a NaN on any rank: they travel 2 bits a weight.
        special = torch.stack([((c == 0) | torch.isnan(c)).any() for c in cs]).to(torch.int32)
        dist.all_reduce(special, op=dist.ReduceOp.MAX, group=self.process_group)
        self.comm_bytes += ring_all_reduce_bytes(special.numel() * 4, world)
        special_list = special.bool().tolist()
        self.two_bit_tensors = sum(special_list)
        plain = [c.flatten() for c, s in zip(cs, special_list, strict=True) if not s]
        coded = [c.flatten() for c, s in zip(cs, special_list, strict=True) if s]
        votes_plain = self._gather_bits(plain, world, device) if plain else []
        votes_coded = self._gather_codes(coded, world, device) if coded else []
        out, ip, ic = [], iter(votes_plain), iter(votes_coded)
        for c, s in zip(cs, special_list, strict=True):
            out.append((next(ic) if s else next(ip)).view_as(c))
        return out

    def _vote(self, total: torch.Tensor, world: int, dtype: torch.dtype) -> torch.Tensor:
        if self.vote == "majority":
            return torch.sign(total).to(dtype)
        return total.to(dtype) / world

    def _all_gather(self, packed: torch.Tensor, world: int) -> torch.Tensor:
        """Every rank's bytes, as [world, bytes] (torch >= 2.13 names the collective
        all_gather_single; earlier releases all_gather_into_tensor)."""
        out = torch.empty(world * packed.numel(), dtype=torch.uint8, device=packed.device)
        gather = getattr(dist, "all_gather_single", None) or dist.all_gather_into_tensor
        gather(out, packed, group=self.process_group)
        self.comm_bytes += ring_all_gather_bytes(packed.numel(), world)
        return out.view(world, -1)

    def _gather_bits(self, flat: list[torch.Tensor], world: int, device) -> list[torch.Tensor]:
        """Votes over signs that are all +1 or -1: one bit each."""
        sizes = [f.numel() for f in flat]
        n = sum(sizes)
        packed = pack_bits(torch.cat([f > 0 for f in flat]))
        gathered = self._all_gather(packed, world)
        plus = unpack_bits(gathered, n).sum(dim=0, dtype=torch.int32)  # ranks voting +1
        total = 2 * plus - world  # sum of the ranks' signs
        votes = self._vote(total, world, flat[0].dtype)
        return list(votes.split(sizes))

    def _gather_codes(self, flat: list[torch.Tensor], world: int, device) -> list[torch.Tensor]:
        """Votes over signs that may be 0 or NaN: two bits each."""
        sizes = [f.numel() for f in flat]
        n = sum(sizes)
        c = torch.cat(flat)
        codes = torch.full((n,), _ZERO, dtype=torch.uint8, device=device)
        codes[c > 0] = _PLUS
        codes[c < 0] = _MINUS
        codes[torch.isnan(c)] = _NAN
        packed = pack_codes(codes)
        every = unpack_codes(self._all_gather(packed, world), n)
        total = (every == _PLUS).sum(dim=0, dtype=torch.int32) - (every == _MINUS).sum(
            dim=0, dtype=torch.int32
        )
        votes = self._vote(total, world, c.dtype)
        votes[(every == _NAN).any(dim=0)] = float("nan")
        return list(votes.split(sizes))
