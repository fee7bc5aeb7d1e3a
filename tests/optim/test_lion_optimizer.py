"""Lion as a torch optimizer: groups, schedulers, closures, checkpoints, errors."""

from __future__ import annotations

import copy
import io

import numpy as np
import pytest
import torch

from lionlab.optim import Lion


def _with_grads(params, grads) -> None:
    for p, g in zip(params, grads, strict=True):
        p.grad = g.clone()


def test_param_groups_use_their_own_hyperparameters(ref) -> None:
    weights, grads = ref.initial_weights([(50,), (60,)]), ref.gradient_sequence([(50,), (60,)], 15)
    a, b = (torch.nn.Parameter(w.clone()) for w in weights)
    opt = Lion(
        [{"params": [a]}, {"params": [b], "lr": 3e-3, "betas": (0.5, 0.9), "weight_decay": 0.5}],
        lr=1e-3,
        weight_decay=0.1,
    )
    for step_grads in grads:
        _with_grads([a, b], step_grads)
        opt.step()
    expect_a = ref.paper_trajectory(weights[:1], [g[:1] for g in grads], 1e-3, (0.9, 0.99), 0.1)
    expect_b = ref.paper_trajectory(weights[1:], [g[1:] for g in grads], 3e-3, (0.5, 0.9), 0.5)
    np.testing.assert_array_equal(a.detach().numpy(), expect_a[0])
    np.testing.assert_array_equal(b.detach().numpy(), expect_b[0])


def test_scheduler_lr_is_read_every_step_and_scales_the_decay(ref) -> None:
    weights, grads = ref.initial_weights([(40,)]), ref.gradient_sequence([(40,)], 12)
    p = torch.nn.Parameter(weights[0].clone())
    opt = Lion([p], lr=1e-2, weight_decay=0.5)
    schedule = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 1.0 / (1 + step))
    theta, m = weights[0].numpy(), np.zeros(40, np.float32)
    for step, step_grads in enumerate(grads):
        _with_grads([p], step_grads)
        opt.step()
        lr_t = 1e-2 / (1 + step)
        theta, m = ref.paper_lion(theta, m, step_grads[0].numpy(), lr_t, 0.9, 0.99, 0.5)
        schedule.step()
    np.testing.assert_array_equal(p.detach().numpy(), theta)


def test_closure_is_evaluated_with_grad_and_its_loss_returned() -> None:
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 1)
    x, y = torch.randn(64, 4), torch.randn(64, 1)
    opt = Lion(model.parameters(), lr=1e-2)

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        return loss

    losses = [opt.step(closure).item() for _ in range(60)]
    assert losses[-1] < 0.8 * losses[0]


def test_params_without_grad_are_skipped() -> None:
    a, b = torch.nn.Parameter(torch.ones(3)), torch.nn.Parameter(torch.ones(3))
    opt = Lion([a, b], lr=0.1, weight_decay=1.0)
    a.grad = torch.ones(3)
    opt.step()
    assert b.tolist() == [1.0, 1.0, 1.0] and b not in opt.state
    assert opt.state[a]["step"] == 1


def test_sparse_gradients_are_rejected() -> None:
    emb = torch.nn.Embedding(10, 3, sparse=True)
    emb(torch.tensor([1, 2])).sum().backward()
    with pytest.raises(RuntimeError, match="sparse gradients"):
        Lion(emb.parameters()).step()


def test_invalid_settings_are_rejected() -> None:
    p = [torch.nn.Parameter(torch.ones(1))]
    for bad in (dict(lr=-1.0), dict(betas=(0.9, 1.5)), dict(weight_decay=-0.1)):
        with pytest.raises(ValueError):
            Lion(p, **bad)
    with pytest.raises(ValueError, match="backend"):
        Lion(p, backend="gpu")
    z = torch.nn.Parameter(torch.ones(2, dtype=torch.complex64))
    z.grad = torch.ones_like(z)
    with pytest.raises(TypeError, match="complex"):
        Lion([z]).step()


def test_state_is_one_fp32_momentum_per_weight() -> None:
    ps = [torch.nn.Parameter(torch.ones(4, dtype=dt)) for dt in (torch.float32, torch.bfloat16)]
    opt = Lion(ps)
    _with_grads(ps, [torch.ones(4), torch.ones(4, dtype=torch.bfloat16)])
    opt.step()
    for p in ps:
        assert set(opt.state[p]) == {"exp_avg", "step"}
        assert opt.state[p]["exp_avg"].dtype == torch.float32


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("stochastic", [False, True])
def test_resume_from_checkpoint_continues_the_same_trajectory(ref, dtype, stochastic) -> None:
    shapes = [(300,), (20, 7)]
    weights = ref.initial_weights(shapes, dtype=dtype)
    grads = ref.gradient_sequence(shapes, 20, dtype=dtype)

    def make(params):
        return Lion(params, lr=1e-3, weight_decay=0.1, stochastic_rounding=stochastic, seed=11)

    straight = ref.run_trajectory(make, weights, grads)

    params = [torch.nn.Parameter(w.clone()) for w in weights]
    opt = make(params)
    for step_grads in grads[:8]:
        _with_grads(params, step_grads)
        opt.step()
    buffer = io.BytesIO()
    torch.save({"params": [p.detach() for p in params], "optim": opt.state_dict()}, buffer)
    buffer.seek(0)
    checkpoint = torch.load(buffer)

    resumed = [torch.nn.Parameter(w.clone()) for w in checkpoint["params"]]
    opt2 = Lion(resumed, lr=1.0, weight_decay=0.0, seed=0)  # groups come from the checkpoint
    opt2.load_state_dict(checkpoint["optim"])
    assert all(opt2.state[p]["exp_avg"].dtype == torch.float32 for p in resumed)
    for step_grads in grads[8:]:
        _with_grads(resumed, step_grads)
        opt2.step()
    for a, b in zip(resumed, straight, strict=True):
        assert torch.equal(a.detach(), b)


def test_state_dict_does_not_round_bf16_momentum() -> None:
    p = torch.nn.Parameter(torch.ones(8, dtype=torch.bfloat16))
    opt = Lion([p])
    p.grad = torch.full((8,), 1.001, dtype=torch.bfloat16)
    opt.step()
    saved = copy.deepcopy(opt.state_dict())
    opt2 = Lion([p])
    opt2.load_state_dict(saved)
    assert torch.equal(opt2.state[p]["exp_avg"], saved["state"][0]["exp_avg"])


def test_non_contiguous_weights_take_a_general_path() -> None:
    w = torch.randn(30, 20)
    p = torch.nn.Parameter(w.t())  # a transposed view: not contiguous
    q = torch.nn.Parameter(w.t().contiguous())
    opt = Lion([p, q], lr=1e-2, weight_decay=0.1)
    g = torch.randn(20, 30)
    p.grad, q.grad = g.t().contiguous().t(), g.clone()
    assert not p.is_contiguous() and opt.path_for(p) in ("foreach", "reference")
    opt.step()
    assert torch.equal(p.detach(), q.detach())


def test_fp64_weights_follow_the_paper_in_fp64(ref) -> None:
    weights = ref.initial_weights([(100,)], dtype=torch.float64)
    grads = ref.gradient_sequence([(100,)], 10, dtype=torch.float64)
    got = ref.run_trajectory(lambda ps: Lion(ps, lr=1e-2, weight_decay=0.1), weights, grads)
    paper = ref.paper_trajectory(weights, grads, 1e-2, (0.9, 0.99), 0.1, dtype=np.float64)
    np.testing.assert_allclose(got[0].numpy(), paper[0], rtol=1e-12, atol=1e-14)
