"""Lion under DDP against DistributedLion, over torch.distributed (gloo) on the CPU.

The built-in char LM (tiny preset) trains on R processes (2 and 4), each on its own shard of
every global batch (global batch 32: rank r takes batch position step * R + r of 32 / R
samples). Two ways to train it:
- `ddp`: the model in DistributedDataParallel (fp32 gradients all-reduced), Lion;
- `dlion`: no gradient exchange, `DistributedLion` (majority vote of 1-bit signs).

Figures per R:
- `ddp_bytes`, `dlion_bytes`: bytes one rank sends per step (the median over the steps),
  counted as ring collectives send them: DDP's from a comm hook that sees every gradient
  bucket it all-reduces, DistributedLion's from its own `comm_bytes`; `ratio` = ddp / dlion;
- `ddp_step_ms`, `dlion_step_ms`: median step time (forward, backward, exchange, update) on
  rank 0. The R processes share this machine's cores, so these say little about a real
  cluster;
- at R = 4 (`loss`): the final eval loss of both over 3 seeds and `loss_gap` = dlion - ddp,
  the mean with a 95% t-interval over the seeds.
Prints one JSON object. LIONLAB_BENCH_DIST_STEPS sets the steps per run (default 200).
"""

from __future__ import annotations

import itertools
import json
import math
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

STEPS = int(os.environ.get("LIONLAB_BENCH_DIST_STEPS", "200"))
BYTES_STEPS = 12  # steps of the runs that only count bytes and time (R = 2)
GLOBAL_BATCH = 32
SEEDS = (0, 1, 2)
LR, BETAS, WD = 3e-4, (0.9, 0.99), 0.1
T95 = {2: 4.303, 3: 3.182, 4: 2.776}  # two-sided 95% t quantiles by sample count - 1


def _rank(rank: int, world: int, init: str, kind: str, seed: int, steps: int, out: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init}", rank=rank, world_size=world)
    from torch.distributed.algorithms.ddp_comm_hooks.default_hooks import allreduce_hook
    from torch.nn.parallel import DistributedDataParallel

    from lionlab.jobs import JobSpec
    from lionlab.optim import DistributedLion, Lion
    from lionlab.optim.distributed import ring_all_reduce_bytes, sync_parameters
    from lionlab_worker.training.char_lm import build_task

    torch.manual_seed(seed)
    spec = JobSpec.model_validate(
        {"task": "char_lm", "model_size": "tiny", "seed": seed, "batch_size": GLOBAL_BATCH // world}
    )
    task = build_task(spec, torch.device("cpu"))
    model = task.model
    sync_parameters(model.parameters())
    sent = {"bytes": 0}
    if kind == "ddp":

        def counting_hook(_state, bucket):
            buffer = bucket.buffer()
            sent["bytes"] += ring_all_reduce_bytes(buffer.numel() * buffer.element_size(), world)
            return allreduce_hook(None, bucket)

        trained = DistributedDataParallel(model)
        trained.register_comm_hook(None, counting_hook)
        opt = Lion(model.parameters(), lr=LR, betas=BETAS, weight_decay=WD)
    else:
        trained = model
        opt = DistributedLion(model.parameters(), lr=LR, betas=BETAS, weight_decay=WD)
    shard = itertools.islice(task.train_batches(0), rank, None, world)  # step * world + rank
    times, step_bytes = [], []
    for batch in itertools.islice(shard, steps):
        t0 = time.perf_counter()
        sent["bytes"] = 0
        task.loss(trained, batch).backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        times.append((time.perf_counter() - t0) * 1000)
        step_bytes.append(sent["bytes"] if kind == "ddp" else opt.comm_bytes)
    eval_loss = None
    if rank == 0 and task.eval_batches is not None:
        model.eval()
        with torch.no_grad():
            losses = [float(task.loss(model, b)) for b in task.eval_batches()]
        eval_loss = sum(losses) / len(losses)
        result = {
            "step_ms": statistics.median(times[2:] or times),
            "bytes": statistics.median(step_bytes),
            "eval_loss": eval_loss,
            "params": sum(p.numel() for p in model.parameters()),
        }
        Path(out).write_text(json.dumps(result))
    dist.barrier()
    dist.destroy_process_group()
    os._exit(0)  # gloo's teardown at interpreter exit can abort after a clean run


def train(world: int, kind: str, seed: int, steps: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="lionlab-dist-") as tmp:
        out = str(Path(tmp) / "result.json")
        init = str(Path(tmp) / "init")
        mp.spawn(_rank, args=(world, init, kind, seed, steps, out), nprocs=world, join=True)
        return json.loads(Path(out).read_text())


def _interval(values: list[float]) -> dict:
    mean = statistics.fmean(values)
    if len(values) < 2:
        return {"mean": mean}
    half = T95[len(values)] * statistics.stdev(values) / math.sqrt(len(values))
    return {"mean": round(mean, 4), "ci95": [round(mean - half, 4), round(mean + half, 4)]}


def main() -> None:
    os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")
    out: dict = {"global_batch": GLOBAL_BATCH, "steps": STEPS, "lr": LR, "weight_decay": WD}
    short = {kind: train(2, kind, 0, BYTES_STEPS) for kind in ("ddp", "dlion")}
    out["params"] = short["ddp"]["params"]
    out["ranks_2"] = {
        "ddp_bytes": short["ddp"]["bytes"],
        "dlion_bytes": short["dlion"]["bytes"],
        "ratio": round(short["ddp"]["bytes"] / short["dlion"]["bytes"], 2),
        "ddp_step_ms": round(short["ddp"]["step_ms"], 1),
        "dlion_step_ms": round(short["dlion"]["step_ms"], 1),
    }
    runs = {kind: [train(4, kind, seed, STEPS) for seed in SEEDS] for kind in ("ddp", "dlion")}
    ddp, dlion = runs["ddp"], runs["dlion"]
    out["ranks_4"] = {
        "ddp_bytes": ddp[0]["bytes"],
        "dlion_bytes": dlion[0]["bytes"],
        "ratio": round(ddp[0]["bytes"] / dlion[0]["bytes"], 2),
        "ddp_step_ms": round(statistics.median(r["step_ms"] for r in ddp), 1),
        "dlion_step_ms": round(statistics.median(r["step_ms"] for r in dlion), 1),
        "ddp_eval_loss": [round(r["eval_loss"], 4) for r in ddp],
        "dlion_eval_loss": [round(r["eval_loss"], 4) for r in dlion],
        "loss_gap": _interval(
            [b["eval_loss"] - a["eval_loss"] for a, b in zip(ddp, dlion, strict=True)]
        ),
        "seeds": list(SEEDS),
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
