"""The Hugging Face Trainer and Lightning's Trainer (the real packages, pinned in the dev
extra) logging to a LionLab server process: through their own MLflow loggers pointed at the
MLflow-compatible API, and through LionLab's callback and logger, with LionLab's Lion as the
optimizer; a cancel from the API and a divergence stop training."""

from __future__ import annotations

import threading
import time

import httpx
import pytest
import torch
from support.live import start_server

from lionlab.optim import Lion

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = start_server(tmp_path_factory.mktemp("frameworks") / "data")
    yield srv
    srv.stop()


@pytest.fixture
def env(server, monkeypatch, tmp_path):
    monkeypatch.setenv("LIONLAB_API_URL", server.url)
    monkeypatch.setenv("LIONLAB_API_TOKEN", server.token)
    monkeypatch.setenv("LIONLAB_SPOOL_DIR", str(tmp_path / "spool"))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server.url)
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", server.token)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    # as in a fresh process: no tracking URI set by an earlier test, only the variable
    import mlflow

    monkeypatch.setattr(mlflow.tracking._tracking_service.utils, "_tracking_uri", None)
    return server


def _api(server, method: str, path: str, **kw):
    r = httpx.request(method, f"{server.url}/api/v1{path}", headers=server.headers, **kw)
    assert r.status_code in (200, 201), r.text
    return r.json()


def _assert_layers(server, run_id: int, steps: list[int], every_name_of) -> None:
    """Per-layer statistics at `steps`, one column per trainable tensor of the model, with
    gradient norms taken before the trainer clipped (each layer's would be tiny otherwise)."""
    names = [n for n, p in every_name_of.named_parameters() if p.requires_grad]
    for stat in ("grad_norm", "param_norm", "update_ratio", "update_rms"):
        view = _api(server, "GET", f"/runs/{run_id}/layers/{stat}")
        assert view["names"] == names and view["heat_first_step"] == steps, (stat, view)
        assert all(v is not None and v > 0 for col in view["heat"] for v in col), stat


def _runs(server, project: str) -> list[dict]:
    found = _api(server, "GET", "/projects", params={"name": project})["items"]
    if not found:
        return []
    return _api(server, "GET", "/runs", params={"project_id": found[0]["id"]})["items"]


def _keys(server, run_id: int) -> dict[str, dict]:
    return {m["key"]: m for m in _api(server, "GET", f"/runs/{run_id}/metrics")}


# --- Hugging Face ------------------------------------------------------------------------


def _hf_trainer(tmp_path, steps: int, report_to, callbacks=(), optimizer=None, slow=0.0):
    from transformers import (
        GPT2Config,
        GPT2LMHeadModel,
        Trainer,
        TrainerCallback,
        TrainingArguments,
    )

    torch.manual_seed(0)
    config = GPT2Config(n_layer=1, n_head=2, n_embd=16, vocab_size=64, n_positions=16)
    model = GPT2LMHeadModel(config)  # built from a config: nothing is downloaded
    g = torch.Generator().manual_seed(0)
    rows = [torch.randint(0, 64, (16,), generator=g) for _ in range(64)]
    data = [{"input_ids": r, "labels": r} for r in rows]

    class Slow(TrainerCallback):
        def on_step_end(self, args, state, control, **kw):
            time.sleep(slow)

    args = TrainingArguments(
        output_dir=str(tmp_path / "out"),
        max_steps=steps,
        per_device_train_batch_size=8,
        logging_steps=1,
        eval_strategy="steps",
        eval_steps=5,
        report_to=report_to,
        save_strategy="no",
        use_cpu=True,
        disable_tqdm=True,
        run_name="tiny-gpt",
    )
    optimizers = (optimizer(model.parameters()), None) if optimizer else (None, None)
    return Trainer(
        model=model,
        args=args,
        train_dataset=data,
        eval_dataset=data[:16],
        callbacks=[*callbacks, *([Slow()] if slow else [])],
        optimizers=optimizers,
    )


def test_hf_trainer_with_report_to_mlflow(env, tmp_path, monkeypatch):
    """An unmodified Trainer script: only MLFLOW_TRACKING_URI and a token are set."""
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "hf-mlflow")
    trainer = _hf_trainer(tmp_path, steps=10, report_to=["mlflow"])
    trainer.train()
    (run,) = _runs(env, "hf-mlflow")
    assert run["status"] == "succeeded"
    assert run["config"]["max_steps"] == "10" and run["config"]["logging_steps"] == "1"
    keys = _keys(env, run["id"])
    assert keys["loss"]["count"] == 10 and keys["loss"]["last_step"] == 10
    assert {"grad_norm", "learning_rate", "eval_loss"} <= keys.keys()


def test_hf_trainer_with_lionlab_callback_and_lion(env, tmp_path):
    from lionlab.integrations.huggingface import LionLabCallback

    callback = LionLabCallback(project="hf-native", watch_every=5)
    trainer = _hf_trainer(
        tmp_path, steps=12, report_to=[], callbacks=[callback],
        optimizer=lambda p: Lion(p, lr=3e-4, weight_decay=0.1),
    )  # fmt: skip
    trainer.train()
    (run,) = _runs(env, "hf-native")
    assert run["status"] == "succeeded" and run["optimizer"] == "lion"
    assert run["name"] == "tiny-gpt" and run["config"]["max_steps"] == 12
    assert run["config"]["model"]["n_embd"] == 16
    keys = _keys(env, run["id"])
    assert keys["loss"]["count"] == 12 and keys["eval_loss"]["count"] >= 2
    assert keys["grad_norm"]["count"] == 12
    _assert_layers(env, run["id"], steps=[5, 10], every_name_of=trainer.model)
    # the Trainer's own grad_norm is the unclipped global norm: the layers' add up to it
    grads = _api(env, "GET", f"/runs/{run['id']}/layers/grad_norm")["heat"]
    params = {"run": run["id"], "key": "grad_norm", "max_points": 1000}
    (series,) = _api(env, "GET", "/series", params=params)["series"]
    logged = dict(zip(series["steps"], series["values"], strict=True))
    for step, column in zip([5, 10], grads, strict=True):
        assert sum(v * v for v in column) ** 0.5 == pytest.approx(logged[step], rel=1e-3)


def test_hf_training_stops_soon_after_a_cancel(env, tmp_path):
    from lionlab.integrations.huggingface import LionLabCallback

    callback = LionLabCallback(project="hf-cancel")
    trainer = _hf_trainer(tmp_path, steps=5000, report_to=[], callbacks=[callback], slow=0.05)
    done = threading.Thread(target=trainer.train)
    done.start()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        runs = _runs(env, "hf-cancel")
        if runs and _keys(env, runs[0]["id"]).get("loss", {}).get("count", 0) >= 5:
            break
        time.sleep(0.2)
    run_id = runs[0]["id"]
    _api(env, "POST", f"/runs/{run_id}/cancel")
    at_cancel = trainer.state.global_step
    done.join(120)
    assert not done.is_alive()
    assert callback.stopped_for == "cancelled"
    stopped_after = trainer.state.global_step - at_cancel
    print(f"stopped {stopped_after} steps after the cancel")
    assert stopped_after <= 60, stopped_after  # ~1 s of 50 ms steps, not the 5000
    assert _api(env, "GET", f"/runs/{run_id}")["status"] == "cancelled"


# --- Lightning ---------------------------------------------------------------------------


def _module(nan_at: int | None = None):
    import lightning.pytorch as pl

    class Tiny(pl.LightningModule):
        def __init__(self, lr: float = 1e-3, width: int = 8):
            super().__init__()
            self.save_hyperparameters()
            self.net = torch.nn.Sequential(
                torch.nn.Linear(4, width), torch.nn.Tanh(), torch.nn.Linear(width, 1)
            )

        def training_step(self, batch, batch_idx):
            x, y = batch
            loss = torch.nn.functional.mse_loss(self.net(x), y)
            if nan_at is not None and self.global_step >= nan_at:
                loss = loss * float("nan")
            self.log("train_loss", loss)
            return loss

        def validation_step(self, batch, batch_idx):
            x, y = batch
            self.log("val_loss", torch.nn.functional.mse_loss(self.net(x), y))

        def configure_optimizers(self):
            return Lion(self.parameters(), lr=self.hparams.lr)

    return Tiny(lr=3e-4)


def _loaders():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(256, 4, generator=g)
    y = x.sum(dim=1, keepdim=True)
    data = torch.utils.data.TensorDataset(x, y)
    return (
        torch.utils.data.DataLoader(data, batch_size=16),
        torch.utils.data.DataLoader(data, batch_size=64),
    )


def _pl_trainer(logger, callbacks=(), max_steps=32, tmp_path=None):
    import lightning.pytorch as pl

    return pl.Trainer(
        max_steps=max_steps,
        logger=logger,
        callbacks=list(callbacks),
        log_every_n_steps=1,
        val_check_interval=8,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        accelerator="cpu",
        default_root_dir=str(tmp_path),
    )


def test_lightning_with_mlflow_logger(env, tmp_path):
    from lightning.pytorch.loggers import MLFlowLogger

    logger = MLFlowLogger(experiment_name="pl-mlflow", tracking_uri=env.url)
    _pl_trainer(logger, tmp_path=tmp_path).fit(_module(), *_loaders())
    (run,) = _runs(env, "pl-mlflow")
    assert run["status"] == "succeeded"
    assert run["config"]["lr"] == "0.0003" and run["config"]["width"] == "8"
    keys = _keys(env, run["id"])
    assert keys["train_loss"]["count"] == 32 and keys["val_loss"]["count"] >= 3


def test_lightning_with_lionlab_logger(env, tmp_path):
    from lionlab.integrations.lightning import LionLabLogger

    logger = LionLabLogger(project="pl-native", watch_every=10)
    module = _module()
    _pl_trainer(logger, [logger], tmp_path=tmp_path).fit(module, *_loaders())
    (run,) = _runs(env, "pl-native")
    _assert_layers(env, run["id"], steps=[10, 20, 30], every_name_of=module)
    assert run["status"] == "succeeded" and run["optimizer"] == "lion"
    assert run["config"] == {"lr": 0.0003, "width": 8}
    keys = _keys(env, run["id"])
    assert keys["train_loss"]["count"] == 32 and keys["val_loss"]["count"] >= 3


def test_lightning_stops_on_divergence(env, tmp_path):
    from lionlab.integrations.lightning import LionLabLogger

    logger = LionLabLogger(project="pl-diverge")
    trainer = _pl_trainer(logger, [logger], max_steps=2000, tmp_path=tmp_path)
    trainer.fit(_module(nan_at=10), *_loaders())
    assert logger.stopped_for == "diverged"
    assert trainer.global_step < 2000
    (run,) = _runs(env, "pl-diverge")
    assert run["status"] == "diverged"
    flags = _api(env, "GET", f"/runs/{run['id']}/flags")
    assert flags and flags[0]["kind"] == "divergence"
