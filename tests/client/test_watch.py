"""lionlab.watch against a real server: per-layer statistics of a torch model every N steps,
through the batching client (and through the spool when the server is away)."""

import httpx
import numpy as np
import pytest
import torch
from torch import nn

import lionlab
from lionlab.client import connect
from lionlab.client.sync import sync_path
from lionlab.optim import Lion


def _model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 4))


def _train(model, watch, steps, clip=None):
    opt = Lion(model.parameters(), lr=1e-3, weight_decay=0.0)
    for step in range(1, steps + 1):
        loss = model(torch.randn(32, 8)).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        watch.before_update(step)
        if clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        opt.step()
        watch.after_update(step)


def _view(server, run_id, stat):
    r = httpx.get(f"{server.url}/api/v1/runs/{run_id}/layers/{stat}", headers=server.headers)
    assert r.status_code == 200, r.text
    return r.json()


def test_watch_logs_each_tensor_every_n_steps(server):
    run = lionlab.init(project="watch")
    model = _model()
    sizes = {n: p.numel() for n, p in model.named_parameters()}
    watch = lionlab.watch(model, run, every=5)
    _train(model, watch, 20, clip=1e-6)  # clipped hard: the logged norms are the unclipped
    run.finish()
    grad = _view(server, run.id, "grad_norm")
    assert grad["names"] == list(sizes) and grad["heat_first_step"] == [5, 10, 15, 20]
    assert min(min(col) for col in grad["heat"]) > 1e-3  # before clipping to 1e-6
    ratio = _view(server, run.id, "update_ratio")["heat"]
    param = _view(server, run.id, "param_norm")["heat"]
    # Lion: each coordinate moves by lr, so ||update|| = lr * sqrt(numel)
    expected = 1e-3 * np.sqrt(list(sizes.values()))
    got = np.array(ratio) * np.array(param)
    assert np.all(got <= expected * 1.001) and np.all(got >= 0.9 * expected)
    rms = np.array(_view(server, run.id, "update_rms")["heat"])  # per weight: the lr
    assert np.all(rms <= 1e-3 * 1.001) and np.all(rms >= 0.9e-3)


def test_module_groups_and_spooled_statistics_reach_the_server(server, tmp_path):
    run = lionlab.init(project="watch", mode="offline")
    model = _model()
    watch = lionlab.watch(model, run, every=2, group="module")
    assert watch.names == ["0", "2"]
    _train(model, watch, 6)
    spool = run.finish()
    assert sync_path(connect(), spool, echo=lambda line: None).runs == 1
    (run_id,) = [
        r["id"]
        for r in httpx.get(f"{server.url}/api/v1/runs", headers=server.headers).json()["items"]
    ]
    view = _view(server, run_id, "grad_norm")
    assert view["names"] == ["0", "2"] and view["heat_first_step"] == [2, 4, 6]


def test_watch_refuses_nonsense():
    with pytest.raises(ValueError, match="every"):
        lionlab.watch(_model(), None, every=0)
    with pytest.raises(ValueError, match="group"):
        lionlab.watch(_model(), None, group="layer")
