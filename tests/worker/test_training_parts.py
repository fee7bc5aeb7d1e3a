"""The training package's parts: schedule, norms, checkpoints, data, devices, import hygiene."""

from __future__ import annotations

import ast
import math
from pathlib import Path

import pytest
import torch
from torch import nn

import lionlab_worker.training as training
from lionlab.jobs import JobSpec, ScheduleSpec
from lionlab.optim import build_optimizer
from lionlab_worker.training import char_lm
from lionlab_worker.training.checkpoint import CHECKPOINT_FILE, CheckpointStore
from lionlab_worker.training.device import effective_precision, resolve_device
from lionlab_worker.training.norms import UpdateTracker, grad_norm_and_clip
from lionlab_worker.training.schedule import lr_at
from lionlab_worker.training.shapes import SHAPES, draw_shapes
from lionlab_worker.training.task import batch_generator, move_to_device

# --- schedule ------------------------------------------------------------------------------


def test_warmup_rises_linearly_to_the_peak():
    schedule = ScheduleSpec(warmup_steps=4, decay="constant")
    assert [lr_at(s, 1.0, 10, schedule) for s in (1, 2, 4, 5, 10)] == [0.25, 0.5, 1.0, 1.0, 1.0]


@pytest.mark.parametrize("decay", ["cosine", "linear"])
def test_decay_ends_at_min_ratio_and_never_rises(decay):
    schedule = ScheduleSpec(warmup_steps=2, decay=decay, min_lr_ratio=0.1)
    lrs = [lr_at(s, 1e-3, 20, schedule) for s in range(1, 21)]
    assert lrs[1] == 1e-3 and math.isclose(lrs[-1], 1e-4)
    assert all(a >= b for a, b in zip(lrs[1:], lrs[2:], strict=False))


def test_cosine_is_halfway_at_the_middle_of_the_decay():
    schedule = ScheduleSpec(warmup_steps=0, decay="cosine", min_lr_ratio=0.0)
    assert math.isclose(lr_at(50, 1.0, 100, schedule), 0.5)


# --- norms -----------------------------------------------------------------------------------


def test_grad_norm_is_taken_before_clipping_and_clipping_scales_to_max():
    a, b = nn.Parameter(torch.zeros(3)), nn.Parameter(torch.zeros(4))
    a.grad, b.grad = torch.full((3,), 2.0), torch.full((4,), 2.0)  # global norm sqrt(7 * 4)
    norm = grad_norm_and_clip([a, b], max_norm=1.0)
    assert math.isclose(norm.item(), math.sqrt(28), rel_tol=1e-6)
    clipped = torch.cat([a.grad, b.grad]).norm().item()
    assert math.isclose(clipped, 1.0, rel_tol=1e-5)


def test_no_clipping_leaves_gradients_untouched():
    a = nn.Parameter(torch.zeros(2))
    a.grad = torch.tensor([3.0, 4.0])
    assert grad_norm_and_clip([a], max_norm=None).item() == 5.0
    assert a.grad.tolist() == [3.0, 4.0]


def test_update_rms_and_param_norm_match_their_definitions():
    a, b = nn.Parameter(torch.randn(5, 3)), nn.Parameter(torch.randn(7))
    old = torch.cat([a.detach().flatten(), b.detach()])
    tracker = UpdateTracker([a, b])
    tracker.snapshot()
    with torch.no_grad():
        a.add_(0.01 * torch.randn(5, 3))
        b.sub_(0.02)
    new = torch.cat([a.detach().flatten(), b.detach()])
    update_rms, param_norm = tracker.update_rms_and_param_norm()
    assert math.isclose(update_rms.item(), (new - old).pow(2).mean().sqrt().item(), rel_tol=1e-5)
    assert math.isclose(param_norm.item(), new.norm().item(), rel_tol=1e-6)


# --- checkpoints -----------------------------------------------------------------------------


def small_model_and_optimizer() -> tuple[nn.Module, torch.optim.Optimizer]:
    model = nn.Linear(4, 2)
    return model, build_optimizer("lion", model.parameters(), lr=1e-3)


def test_checkpoint_round_trip_restores_model_optimizer_and_rng(tmp_path):
    spec = JobSpec()
    model, opt = small_model_and_optimizer()
    model(torch.randn(3, 4)).sum().backward()
    opt.step()
    torch.manual_seed(5)
    CheckpointStore(tmp_path, spec).save(7, model, opt, train_loss=1.5, eval_loss=None)
    expected_draw = torch.rand(3)

    fresh, fresh_opt = small_model_and_optimizer()
    resumed = CheckpointStore(tmp_path, spec).load(fresh, fresh_opt, torch.device("cpu"))
    assert (resumed.step, resumed.train_loss, resumed.eval_loss) == (7, 1.5, None)
    assert torch.equal(fresh.weight, model.weight)
    state = fresh_opt.state_dict()["state"]
    assert torch.equal(state[0]["exp_avg"], opt.state_dict()["state"][0]["exp_avg"])
    assert torch.equal(torch.rand(3), expected_draw)  # the RNG continues where it was saved


def test_no_checkpoint_means_a_fresh_start(tmp_path):
    model, opt = small_model_and_optimizer()
    assert CheckpointStore(tmp_path, JobSpec()).load(model, opt, torch.device("cpu")) is None


def test_a_crash_while_saving_leaves_the_previous_checkpoint(tmp_path, monkeypatch):
    store = CheckpointStore(tmp_path, JobSpec())
    model, opt = small_model_and_optimizer()
    store.save(1, model, opt)

    def crash_midway(obj, f, *args, **kwargs):
        f.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", crash_midway)
    with pytest.raises(OSError, match="disk full"):
        store.save(2, model, opt)
    monkeypatch.undo()
    resumed = store.load(*small_model_and_optimizer(), torch.device("cpu"))
    assert resumed.step == 1
    assert (tmp_path / CHECKPOINT_FILE).exists()


# --- data ------------------------------------------------------------------------------------


def test_corpus_is_the_stdlib_source_in_a_fixed_order():
    files = char_lm.stdlib_source_files()
    assert files == sorted(files) and any(f.name == "os.py" for f in files)
    train, held_out = char_lm.load_corpus()
    assert len(train) + len(held_out) == char_lm.CORPUS_CHARS
    assert int(train.max()) < char_lm.VOCAB_SIZE
    assert bytes(train[:4].tolist()) == files[0].read_bytes()[:4]


def test_batches_depend_only_on_seed_and_position():
    spec = JobSpec(batch_size=4)
    task = char_lm.build_task(spec, torch.device("cpu"))
    from_start = task.train_batches(0)
    batches = [next(from_start) for _ in range(3)]
    resumed = next(task.train_batches(2))
    assert all(torch.equal(a, b) for a, b in zip(batches[2], resumed, strict=True))
    x, y = batches[0]
    assert x.shape == y.shape == (4, char_lm.PRESETS["tiny"].block_size)
    assert torch.equal(x[:, 1:], y[:, :-1])  # targets are the inputs shifted by one


def test_shapes_are_deterministic_and_every_class_occurs():
    images, labels = draw_shapes(256, batch_generator(0, 0))
    again, _ = draw_shapes(256, batch_generator(0, 0))
    other, _ = draw_shapes(256, batch_generator(0, 1))
    assert images.shape == (256, 3, 32, 32) and torch.equal(images, again)
    assert not torch.equal(images, other)
    assert set(labels.tolist()) == set(range(len(SHAPES)))


def test_move_to_device_keeps_the_batch_structure():
    batch = {"x": torch.zeros(1), "pair": (torch.ones(1), 3), "items": [torch.ones(2)]}
    moved = move_to_device(batch, torch.device("cpu"))
    assert moved["pair"][1] == 3 and isinstance(moved["pair"], tuple)
    assert isinstance(moved["items"], list) and torch.equal(moved["items"][0], torch.ones(2))


# --- devices ---------------------------------------------------------------------------------


def test_auto_device_and_explicit_cuda():
    assert resolve_device("cpu") == torch.device("cpu")
    if torch.cuda.is_available():
        assert resolve_device("auto").type == "cuda"
        assert resolve_device("cuda").type == "cuda"
    else:
        assert resolve_device("auto") == torch.device("cpu")
        with pytest.raises(RuntimeError, match="no CUDA GPU"):
            resolve_device("cuda")


def test_precision_choice():
    cpu = torch.device("cpu")
    assert effective_precision("fp32", cpu) == "fp32"
    assert effective_precision("bf16", cpu) == "bf16"


# --- import hygiene --------------------------------------------------------------------------

FORBIDDEN = {"celery", "sqlalchemy", "httpx", "lionlab_server", "psycopg", "requests"}


def imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def test_training_package_has_no_celery_database_or_http_imports():
    files = sorted(Path(training.__file__).parent.rglob("*.py"))
    assert len(files) > 5
    for path in files:
        assert not imported_roots(path) & FORBIDDEN, path
