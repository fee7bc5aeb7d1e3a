"""DistributedLion against its equations, over real torch.distributed (gloo) ranks.

Every rank draws every rank's gradients from seeds, so each can work out the expected update
coordinate by coordinate: s_r = sign(beta1 * m_r + (1 - beta1) * g_r), the majority
sign(sum s_r) or the average sum s_r / R, theta = theta * (1 - lr * wd) - lr * u.
"""

from __future__ import annotations

import math
import os
import sys

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from lionlab.optim import Lion
from lionlab.optim.distributed import (
    DistributedLion,
    ddp_comm_bytes,
    pack_bits,
    pack_codes,
    unpack_bits,
    unpack_codes,
)

SHAPES = [(37,), (3, 5), (16,), (9,)]
ZERO_TENSOR = 3  # its gradient is 0 on every rank: c stays exactly 0, so it never moves
STEPS = 6
LR, WD, BETAS = 0.01, 0.5, (0.9, 0.99)


def _params() -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(7)
    return [torch.randn(s, generator=gen) for s in SHAPES]


def _grads(step: int, rank: int) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(1000 * step + rank)
    grads = [torch.randn(s, generator=gen) for s in SHAPES]
    grads[ZERO_TENSOR].zero_()
    if step == 0:
        grads[2][:4] = 0.0  # m = 0 and g = 0 at the first step: an exact zero sign
    return grads


def _sign(c: torch.Tensor) -> torch.Tensor:
    return torch.where(torch.isnan(c), c, torch.sign(c))


def _exit_quietly() -> None:
    """End a rank that passed without running C++ static destructors: gloo's teardown at
    interpreter exit sometimes aborts ("terminate called without an active exception") after
    the group was destroyed and every check passed, which mp.spawn reports as a failure."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _rank_main(rank: int, world: int, init_file: str, vote: str) -> None:
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        params = [p.clone() for p in _params()]
        opt = DistributedLion(params, lr=LR, betas=BETAS, weight_decay=WD, vote=vote)
        expected = [p.clone() for p in _params()]
        momenta = [[torch.zeros(s) for s in SHAPES] for _ in range(world)]
        for step in range(STEPS):
            every = [_grads(step, r) for r in range(world)]
            for p, g in zip(params, every[rank], strict=True):
                p.grad = g.clone()
            opt.step()
            for i in range(len(SHAPES)):
                signs = [
                    _sign(BETAS[0] * momenta[r][i] + (1 - BETAS[0]) * every[r][i])
                    for r in range(world)
                ]
                total = torch.stack(signs).sum(dim=0)
                u = torch.sign(total) if vote == "majority" else total / world
                expected[i] = expected[i] * (1 - LR * WD) - LR * u
                for r in range(world):
                    momenta[r][i] = BETAS[1] * momenta[r][i] + (1 - BETAS[1]) * every[r][i]
            for i, (p, want) in enumerate(zip(params, expected, strict=True)):
                torch.testing.assert_close(p, want, rtol=0, atol=1e-6, msg=f"step {step} t{i}")
            # the same bits on every rank
            for p in params:
                copies = [torch.empty_like(p) for _ in range(world)]
                dist.all_gather(copies, p)
                assert all(torch.equal(copies[0], c) for c in copies), f"step {step}"
            # what this rank sent: the flags, then 1 bit a weight (2 for the tensors with a 0)
            two_bit = [2, ZERO_TENSOR] if step == 0 else [ZERO_TENSOR]
            assert opt.two_bit_tensors == len(two_bit)
            n_plain = sum(math.prod(s) for i, s in enumerate(SHAPES) if i not in two_bit)
            n_coded = sum(math.prod(SHAPES[i]) for i in two_bit)
            flags = 2 * (world - 1) * 4 * len(SHAPES) // world
            sent = flags + (world - 1) * (-(-n_plain // 8) + -(-n_coded // 4))
            assert opt.comm_bytes == sent
        # the zero-gradient tensor moved by weight decay only
        decayed = _params()[ZERO_TENSOR] * (1 - LR * WD) ** STEPS
        torch.testing.assert_close(params[ZERO_TENSOR], decayed, rtol=1e-6, atol=0)
        dist.barrier()  # no rank tears its group down while another still talks to it
    finally:
        dist.destroy_process_group()
    _exit_quietly()


def _nan_main(rank: int, world: int, init_file: str) -> None:
    """A NaN gradient on one rank makes that coordinate NaN on every rank."""
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        p = torch.ones(10)
        opt = DistributedLion([p], lr=0.1)
        p.grad = torch.full((10,), float(rank + 1))
        if rank == 1:
            p.grad[4] = float("nan")
        opt.step()
        assert torch.isnan(p[4]) and not torch.isnan(p[[0, 1, 2, 3, 5]]).any()
        torch.testing.assert_close(p[0], torch.tensor(0.9))
        dist.barrier()
    finally:
        dist.destroy_process_group()
    _exit_quietly()


def _spawn(fn, world: int, tmp_path, *args) -> None:
    init_file = str(tmp_path / f"init-{fn.__name__}-{world}-{'-'.join(map(str, args))}")
    mp.spawn(fn, args=(world, init_file, *args), nprocs=world, join=True)


@pytest.mark.slow
@pytest.mark.parametrize("world", [2, 3])
@pytest.mark.parametrize("vote", ["majority", "average"])
def test_matches_the_equations_coordinate_by_coordinate(world, vote, tmp_path):
    os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")
    _spawn(_rank_main, world, tmp_path, vote)


@pytest.mark.slow
def test_a_nan_on_one_rank_reaches_every_rank(tmp_path):
    os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")
    _spawn(_nan_main, 2, tmp_path)


@pytest.mark.parametrize("vote", ["majority", "average"])
def test_one_process_is_lion_exactly(vote):
    gen = torch.Generator().manual_seed(3)
    a = [torch.randn(s, generator=gen) for s in SHAPES]
    b = [p.clone() for p in a]
    ours = DistributedLion(a, lr=LR, betas=BETAS, weight_decay=WD, vote=vote)
    lion = Lion(b, lr=LR, betas=BETAS, weight_decay=WD, backend="reference")
    for step in range(STEPS):
        grads = _grads(step, 0)
        grads[1][0, 0] = float("nan") if step == 3 else grads[1][0, 0]
        for p, q, g in zip(a, b, grads, strict=True):
            p.grad, q.grad = g.clone(), g.clone()
        ours.step()
        lion.step()
        for p, q in zip(a, b, strict=True):
            torch.testing.assert_close(p, q, rtol=0, atol=0, equal_nan=True)
    assert ours.comm_bytes == 0


def test_bit_packing_round_trips():
    gen = torch.Generator().manual_seed(0)
    for n in (1, 7, 8, 9, 1000):
        bits = torch.rand(n, generator=gen) > 0.5
        assert torch.equal(unpack_bits(pack_bits(bits), n), bits)
        assert pack_bits(bits).numel() == -(-n // 8)
        codes = torch.randint(0, 4, (n,), generator=gen, dtype=torch.uint8)
        assert torch.equal(unpack_codes(pack_codes(codes), n), codes)
        assert pack_codes(codes).numel() == -(-n // 4)


def test_ddp_bytes_are_a_ring_all_reduce_of_the_gradients():
    params = [torch.zeros(1000, requires_grad=True), torch.zeros(24, requires_grad=True)]
    assert ddp_comm_bytes(params, 4) == 2 * 3 * 4096 // 4
    assert ddp_comm_bytes(params, 1) == 0


def test_refuses_bad_settings():
    with pytest.raises(ValueError, match="vote"):
        DistributedLion([torch.zeros(2)], vote="median")
    with pytest.raises(ValueError, match="lr"):
        DistributedLion([torch.zeros(2)], lr=-1.0)


def test_the_factory_builds_it():
    from lionlab.optim import build_optimizer

    opt = build_optimizer("distributed_lion", [torch.zeros(3)], lr=1e-3, vote="average")
    assert isinstance(opt, DistributedLion) and opt.vote == "average"
