"""GPU check: training, the Triton Lion kernel, fused AdamW and resume, as one JSON object.

    PYTHONPATH=.:backend:worker python3 bench/gpu_check.py [--quick] [--cpu]
        [--train-steps N] [--resume-steps N] [--numel N]

Parts (each one's figures under its name; `skipped` says which could not run here and why,
`failed` which raised; `checks` gathers every pass/fail verdict as "part.check"):

    lion_kernel  lionlab.optim.triton_kernel against the reference update (functional.py) on
                 fresh random inputs with zeros and a NaN planted: mismatching bits per case
                 (fp32, bf16 nearest, bf16 stochastic, fp16) over a few steps; on CUDA also
                 against the reference run on the CPU. Without CUDA: Triton's interpreter.
    bandwidth    CUDA only. Per weight dtype (fp32, bf16), on 2**26 elements: a device copy
                 (dst.copy_(src), CUDA events, read + write counted) of as many bytes as the
                 Lion kernel must move (read p, g, m; write p, m: 20 bytes per fp32 weight, 14
                 per bf16 one), the kernel itself, and torch.optim.AdamW(fused=True) on the
                 same tensors (read p, g and two states; write p and the states); each one's
                 ms, GB/s and fraction of the copy's GB/s. Target: Lion >= 0.85.
    training     The built-in char LM through lionlab_worker.training.run_training, Lion and
                 AdamW, fp32 and bf16 autocast: steps/s and tokens/s (median step time over
                 the second half of the run), first and final train loss, final eval loss.
    resume       The char LM with dropout on (its presets have none, so a step would draw no
                 random numbers): N steps straight, the same again, and N/2, a checkpoint,
                 a stop, and a resume to N, all through run_training and the worker's
                 checkpoint module; the resumed metrics and final checkpoint must equal the
                 straight run's bit for bit. A control resumes from that checkpoint with its
                 dropout generator's state (CUDA's on a GPU) replaced and must differ. Runs
                 under torch.use_deterministic_algorithms (strict: CUDA's memory-efficient
                 attention backward is deterministic only then; warn-only if strict refuses).

Sizes on a GPU: the "small" LM preset, 300 training steps at batch 64 per run, 200 resume
steps at batch 32; --quick: 60 and 40 steps, 2**24 elements. On the CPU: the "tiny" preset,
a few steps, small tensors for the interpreter, no bandwidth part.

`ok`: no part failed and every check that ran passed (exit status 0; else 1, the JSON printed
either way); `complete`: no part was skipped.
It imports torch, numpy, lionlab.optim and lionlab_worker.training (which needs pydantic, for
the job spec; without it training and resume are skipped, with the reason).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
import traceback
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import torch

from lionlab.optim.functional import LionHyperparams, lion_update_
from lionlab.optim.rounding import rounding_key

LION_TARGET = 0.85  # kernel GB/s over copy GB/s
DROPOUT = 0.1
ENTRYPOINT = "bench.gpu_check:dropout_char_lm"  # the resume part's task, built by the worker
EXACT_HP = LionHyperparams(lr=1e-2, beta1=0.95, beta2=0.98, weight_decay=0.1)
EXACT_CASES = {  # name: (weight dtype, stochastic rounding)
    "fp32": (torch.float32, False),
    "bf16": (torch.bfloat16, False),
    "bf16_stochastic": (torch.bfloat16, True),
    "fp16": (torch.float16, False),
}
SLEEP_CYCLES = 10_000_000  # ~5 ms of GPU spin before each timed batch, so launches queue


class Skipped(Exception):
    """A part that cannot run here; the message says why."""


@dataclass(frozen=True)
class Sizes:
    exact_numels: tuple[int, ...]
    exact_steps: int
    bench_numel: int
    bench_reps: int
    model_size: str
    train_steps: int
    train_batch: int
    resume_steps: int
    resume_batch: int


def sizes_for(cuda: bool, quick: bool) -> Sizes:
    if not cuda:  # CPU: the interpreter is slow, and a CPU step of even the tiny LM is ~10 ms
        return Sizes((1, 1000, 2500, 33 * 64), 3, 0, 0, "tiny", 4, 8, 6, 4)
    if quick:
        return Sizes((1, 2500, 2**20 + 17), 3, 2**24, 10, "small", 60, 64, 40, 32)
    return Sizes((1, 2500, 2**22 + 17), 3, 2**26, 25, "small", 300, 64, 200, 32)


@dataclass
class Context:
    device: torch.device
    sizes: Sizes
    kernel: Any = None  # lionlab.optim.triton_kernel, once imported

    @property
    def cuda(self) -> bool:
        return self.device.type == "cuda"


# --- the Triton kernel, bit for bit ------------------------------------------------------


def import_kernel(ctx: Context) -> Any:
    """lionlab.optim.triton_kernel, decorated for the interpreter when there is no GPU."""
    if ctx.kernel is None:
        saved = os.environ.get("TRITON_INTERPRET")
        if not ctx.cuda:
            os.environ["TRITON_INTERPRET"] = "1"  # read when the kernel is decorated
        try:
            from lionlab.optim import triton_kernel
        except ImportError as error:
            raise Skipped(f"Triton not importable: {error}") from None
        finally:
            if saved is None:
                os.environ.pop("TRITON_INTERPRET", None)
            else:
                os.environ["TRITON_INTERPRET"] = saved
        if not ctx.cuda and not triton_kernel.INTERPRETED:
            raise Skipped("no CUDA device, and the kernel was imported before the interpreter")
        ctx.kernel = triton_kernel
    return ctx.kernel


def mismatches(a: torch.Tensor, b: torch.Tensor) -> int:
    """Elements whose bits differ, where a NaN matches any NaN."""
    ints = {4: torch.int32, 2: torch.int16}[a.element_size()]
    a, b = a.cpu(), b.cpu()
    differ = a.view(ints) != b.view(ints)
    return int((differ & ~(torch.isnan(a) & torch.isnan(b))).sum())


def exact_inputs(n: int, dtype: torch.dtype, steps: int, gen: torch.Generator):
    """Weights, momentum and `steps` gradients; some exact zeros (sign 0) and one NaN."""
    p = torch.randn(n, generator=gen).to(dtype)
    m = torch.randn(n, generator=gen) * 0.1
    grads = [torch.randn(n, generator=gen).to(dtype) for _ in range(steps)]
    zeros = torch.randperm(n, generator=gen)[: max(1, n // 100)]
    m[zeros] = 0.0
    for g in grads:
        g[zeros] = 0.0
    if n > 1:
        grads[0][n // 2] = float("nan")
    return p, m, grads


def lion_kernel(ctx: Context) -> dict[str, Any]:
    kernel = import_kernel(ctx)
    gen = torch.Generator().manual_seed(int(time.time_ns() % 2**31))  # fresh inputs each run
    cases: dict[str, dict[str, int]] = {}
    for name, (dtype, stochastic) in EXACT_CASES.items():
        counts = {"elements": 0, "vs_device_reference": 0, "vs_cpu_reference": 0}
        for index, n in enumerate(ctx.sizes.exact_numels):
            p, m, grads = exact_inputs(n, dtype, ctx.sizes.exact_steps, gen)
            fast = [p.to(ctx.device, copy=True), m.to(ctx.device, copy=True)]
            ref = [p.to(ctx.device, copy=True), m.to(ctx.device, copy=True)]
            cpu = [p.clone(), m.clone()]
            for step, g in enumerate(grads, start=1):
                key = rounding_key(7, index, step) if stochastic else None
                gd = g.to(ctx.device)
                kernel.lion_update_triton_(
                    [fast[0]], [gd], [fast[1]], EXACT_HP, None if key is None else [key]
                )
                lion_update_(ref[0], gd, ref[1], EXACT_HP, key)
                lion_update_(cpu[0], g, cpu[1], EXACT_HP, key)
            counts["elements"] += n
            counts["vs_device_reference"] += mismatches(fast[0], ref[0]) + mismatches(
                fast[1], ref[1]
            )
            counts["vs_cpu_reference"] += mismatches(fast[0], cpu[0]) + mismatches(fast[1], cpu[1])
        cases[name] = counts
    exact = all(
        c["vs_device_reference"] == 0 and c["vs_cpu_reference"] == 0 for c in cases.values()
    )
    return {
        "interpreted": kernel.INTERPRETED,
        "steps": ctx.sizes.exact_steps,
        "numels": list(ctx.sizes.exact_numels),
        "cases": cases,
        "checks": {"bit_exact": exact},
    }


# --- bandwidth ---------------------------------------------------------------------------


def gpu_ms(fn: Callable[[], object], inner: int) -> float:
    """Device ms per call of fn over `inner` back-to-back calls, timed with CUDA events."""
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    torch.cuda._sleep(SLEEP_CYCLES)  # keeps the GPU busy while the calls below are queued
    start.record()
    for _ in range(inner):
        fn()
    end.record()
    end.synchronize()
    return start.elapsed_time(end) / inner


def time_interleaved(fns: dict[str, Callable[[], object]], reps: int) -> dict[str, list[float]]:
    """ms per call of each fn, `reps` samples each, the fns taking turns within every round."""
    for fn in fns.values():  # warm-up: compilation, allocator, first-touch
        for _ in range(3):
            fn()
    torch.cuda.synchronize()
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(reps):
        for name, fn in fns.items():
            samples[name].append(gpu_ms(fn, inner=10))
    return samples


def bandwidth_of(ctx: Context, kernel: Any, dtype: torch.dtype) -> dict[str, Any]:
    """Copy, Lion kernel and fused AdamW on weights of `dtype`: ms, GB/s, fractions of copy."""
    n, size = ctx.sizes.bench_numel, torch.empty((), dtype=dtype).element_size()
    hp = LionHyperparams(lr=1e-4, beta1=0.9, beta2=0.99, weight_decay=0.1)
    p = torch.randn(n, device=ctx.device).to(dtype)
    g = torch.randn(n, device=ctx.device).to(dtype)
    m = torch.randn(n, device=ctx.device) * 0.01
    lion_bytes = n * (3 * size + 8)  # read p, g (size each), m (4); write p (size), m (4)
    weight = torch.nn.Parameter(p.clone())
    weight.grad = g.clone()
    adamw = torch.optim.AdamW([weight], lr=1e-3, weight_decay=0.01, fused=True)
    adamw.step()  # creates exp_avg and exp_avg_sq, in the weight's dtype
    adamw_bytes = n * 7 * size  # read p, g, exp_avg, exp_avg_sq; write p and both states
    # copies that move (read + write) as many bytes as each optimizer step must
    lion_src = torch.rand(lion_bytes // 8, device=ctx.device)
    adamw_src = torch.rand(adamw_bytes // 8, device=ctx.device)
    lion_dst, adamw_dst = torch.empty_like(lion_src), torch.empty_like(adamw_src)
    samples = time_interleaved(
        {
            "copy_lion": lambda: lion_dst.copy_(lion_src),
            "lion": lambda: kernel.lion_update_triton_([p], [g], [m], hp),
            "copy_adamw": lambda: adamw_dst.copy_(adamw_src),
            "adamw_fused": adamw.step,
        },
        ctx.sizes.bench_reps,
    )
    ms = {name: statistics.median(v) for name, v in samples.items()}
    copy_gb_s = 2 * lion_src.numel() * 4 / ms["copy_lion"] / 1e6
    adamw_copy_gb_s = 2 * adamw_src.numel() * 4 / ms["copy_adamw"] / 1e6
    lion_gb_s = lion_bytes / ms["lion"] / 1e6
    adamw_gb_s = adamw_bytes / ms["adamw_fused"] / 1e6
    return {
        "copy_ms": ms["copy_lion"],
        "copy_gb_s": copy_gb_s,
        "lion_bytes": lion_bytes,
        "lion_ms": ms["lion"],
        "lion_ms_min_max": [min(samples["lion"]), max(samples["lion"])],
        "lion_gb_s": lion_gb_s,
        "lion_fraction": lion_gb_s / copy_gb_s,
        "adamw_bytes": adamw_bytes,
        "adamw_fused_ms": ms["adamw_fused"],
        "adamw_copy_gb_s": adamw_copy_gb_s,
        "adamw_fused_gb_s": adamw_gb_s,
        "adamw_fused_fraction": adamw_gb_s / adamw_copy_gb_s,
        "lion_over_adamw_time": ms["lion"] / ms["adamw_fused"],
    }


def bandwidth(ctx: Context) -> dict[str, Any]:
    if not ctx.cuda:
        raise Skipped("no CUDA device: copy, Lion kernel and fused AdamW timings need one")
    kernel = import_kernel(ctx)
    out: dict[str, Any] = {
        "numel": ctx.sizes.bench_numel,
        "reps": ctx.sizes.bench_reps,
        "target": LION_TARGET,
    }
    for label, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
        out[label] = bandwidth_of(ctx, kernel, dtype)
        torch.cuda.empty_cache()
    out["checks"] = {
        f"lion_{label}_fraction_ge_target": out[label]["lion_fraction"] >= LION_TARGET
        for label in ("fp32", "bf16")
    }
    return out


# --- training through the worker's package -----------------------------------------------


class RecordingSink:
    """A RunSink that keeps every logged point; says stop once step `stop_after` is logged."""

    def __init__(self, stop_after: int | None = None) -> None:
        self.points: dict[int, dict[str, float]] = {}
        self.stop_after = stop_after

    def log(self, metrics: dict[str, float], step: int) -> None:
        self.points[step] = dict(metrics)

    def log_layers(self, step: int, names: list[str], stats: dict[str, list[float]]) -> None:
        self.layers = (step, len(names))

    def should_stop(self) -> str | None:
        done = max(self.points, default=0)
        return "cancelled" if self.stop_after is not None and done >= self.stop_after else None

    def sync(self) -> bool:
        return True


def import_training() -> tuple[Any, Any]:
    """(JobSpec, run_training), or Skipped when the job spec's pydantic is missing."""
    try:
        from lionlab.jobs import JobSpec
        from lionlab_worker.training import run_training
    except ImportError as error:
        raise Skipped(
            f"lionlab_worker.training not importable ({error}); carry pydantic's wheels "
            "(docs/optim.md, 'GPU check')"
        ) from None
    return JobSpec, run_training


def lion_path(device: torch.device) -> str:
    """The path lionlab.optim.Lion takes for an fp32 weight on `device`."""
    from lionlab.optim import Lion

    p = torch.nn.Parameter(torch.zeros(8, device=device))
    p.grad = torch.zeros_like(p)
    return Lion([p]).path_for(p)


def summarize(sink: RecordingSink, result: Any, steps: int, tokens_per_step: int) -> dict:
    losses = [sink.points[s]["train_loss"] for s in sorted(sink.points)]
    later = [sink.points[s]["step_time"] for s in sorted(sink.points)[len(sink.points) // 2 :]]
    step_time = statistics.median(later)
    return {
        "steps_done": result.steps_done,
        "completed": result.status == "completed" and result.steps_done == steps,
        "device": result.device,
        "precision": result.precision,
        "steps_per_s": 1.0 / step_time,
        "tokens_per_s": tokens_per_step / step_time,
        "first_loss": losses[0],
        "final_loss": losses[-1],
        "final_eval_loss": result.final_eval_loss,
        "loss_finite": all(math.isfinite(x) for x in losses),
    }


def training(ctx: Context) -> dict[str, Any]:
    JobSpec, run_training = import_training()
    from lionlab_worker.training.char_lm import PRESETS

    s = ctx.sizes
    tokens = s.train_batch * PRESETS[s.model_size].block_size
    out: dict[str, Any] = {
        "model_size": s.model_size,
        "batch_size": s.train_batch,
        "steps": s.train_steps,
        "tokens_per_step": tokens,
        "lion_path": lion_path(ctx.device),
        "runs": {},
    }
    checks: dict[str, bool] = {}
    for optimizer in ("lion", "adamw"):
        for precision in ("fp32", "bf16"):
            spec = JobSpec(
                model_size=s.model_size,
                optimizer={"name": optimizer},
                steps=s.train_steps,
                batch_size=s.train_batch,
                eval_interval=s.train_steps,
                checkpoint_interval=0,
                precision=precision,
                device=ctx.device.type,
            )
            sink = RecordingSink()
            t0 = time.perf_counter()
            with tempfile.TemporaryDirectory() as folder:
                result = run_training(spec, sink, Path(folder), allowed_task_modules=())
            run = summarize(sink, result, s.train_steps, tokens)
            run["wall_s"] = time.perf_counter() - t0
            name = f"{optimizer}_{precision}"
            out["runs"][name] = run
            checks[f"{name}_ok"] = (
                run["completed"] and run["loss_finite"] and run["precision"] == precision
            )
    if ctx.cuda:
        checks["lion_uses_triton"] = out["lion_path"] == "triton"
    out["checks"] = checks
    return out


# --- checkpoint and resume ---------------------------------------------------------------


def dropout_char_lm(spec: Any, device: torch.device) -> Any:
    """The built-in char LM task with dropout on, so each step draws from the RNG."""
    from lionlab_worker.training import char_lm

    task = char_lm.build_task(spec, device)
    task.model = char_lm.GPT(replace(char_lm.PRESETS[spec.model_size], dropout=DROPOUT))
    return task


def other_rng_state(cuda: bool) -> Any:
    """A dropout generator state unlike any the runs reach: CUDA's on a GPU, else the CPU's."""
    if not cuda:
        return torch.Generator().manual_seed(987_654_321).get_state()
    saved = torch.cuda.get_rng_state_all()
    torch.cuda.manual_seed_all(987_654_321)
    other = torch.cuda.get_rng_state_all()
    torch.cuda.set_rng_state_all(saved)
    return other


def checkpoint_tensors(folder: Path) -> dict[str, torch.Tensor]:
    """Every tensor in a run folder's checkpoint, model, optimizer and RNG, by a flat name."""
    state = torch.load(folder / "checkpoint.pt", map_location="cpu", weights_only=True)
    flat: dict[str, torch.Tensor] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, torch.Tensor):
            flat[prefix] = value
        elif isinstance(value, dict):
            for k, v in value.items():
                walk(f"{prefix}.{k}", v)
        elif isinstance(value, (list, tuple)):
            for i, v in enumerate(value):
                walk(f"{prefix}.{i}", v)

    walk("", {k: state[k] for k in ("model", "optimizer", "rng")})
    return flat


def same_points(a: RecordingSink, b: RecordingSink, steps: range) -> bool:
    """Every metric but the timings equal, bit for bit, at each step of `steps`."""
    timing = {"step_time", "samples_per_s"}
    for step in steps:
        if step not in a.points or step not in b.points:
            return False
        x, y = a.points[step], b.points[step]
        if {k: v for k, v in x.items() if k not in timing} != {
            k: v for k, v in y.items() if k not in timing
        }:
            return False
    return True


def resume_legs(ctx: Context, spec: Any, run_training: Any, root: Path) -> dict[str, Any]:
    """Straight, again, split (stop at the checkpoint, resume) and the control, in `root`."""
    half = spec.steps // 2
    allowed = (ENTRYPOINT.partition(":")[0],)
    rng_key = "cuda" if ctx.cuda else "torch"

    def run(folder: str, stop_after: int | None = None) -> tuple[RecordingSink, Any]:
        sink = RecordingSink(stop_after)
        result = run_training(spec, sink, root / folder, allowed_task_modules=allowed)
        return sink, result

    straight, _ = run("straight")
    again, _ = run("again")
    _, first = run("split", stop_after=half)
    saved = torch.load(root / "split" / "checkpoint.pt", weights_only=True)
    has_rng = rng_key in saved["rng"]
    saved["rng"][rng_key] = other_rng_state(ctx.cuda)
    (root / "control").mkdir()
    torch.save(saved, root / "control" / "checkpoint.pt")
    resumed, second = run("split")
    control, _ = run("control")
    a, b = checkpoint_tensors(root / "straight"), checkpoint_tensors(root / "split")
    equal_tensors = a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    after = range(half + 1, spec.steps + 1)
    return {
        "stopped_at": first.steps_done,
        "resumed_from": second.resumed_from,
        "rng_generator": rng_key,
        "checkpoint_tensors_compared": len(a),
        "checks": {
            "stopped_then_resumed_at_checkpoint": first.status == "stopped"
            and second.resumed_from == half
            and second.steps_done == spec.steps,
            "checkpoint_holds_rng": has_rng,
            "repeat_bit_identical": same_points(straight, again, range(1, spec.steps + 1)),
            "resume_bit_identical": same_points(straight, resumed, after) and equal_tensors,
            "rng_state_matters": not same_points(straight, control, after),
        },
    }


def resume(ctx: Context) -> dict[str, Any]:
    JobSpec, run_training = import_training()
    s = ctx.sizes
    spec = JobSpec(
        task="user",
        entrypoint=ENTRYPOINT,
        model_size=s.model_size,
        steps=s.resume_steps,
        batch_size=s.resume_batch,
        eval_interval=s.resume_steps,
        checkpoint_interval=s.resume_steps // 2,
        device=ctx.device.type,
        seed=1,
    )
    out: dict[str, Any] = {"model_size": s.model_size, "dropout": DROPOUT, "steps": spec.steps}
    # Bit-identical reruns need deterministic kernels: strict mode makes CUDA's
    # memory-efficient attention backward deterministic (warn_only leaves it as it is); should
    # strict mode refuse some op, the legs run again with warnings only, and say so.
    for warn_only in (False, True):
        root = Path(tempfile.mkdtemp(prefix="lionlab-gpu-check-"))
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                torch.use_deterministic_algorithms(True, warn_only=warn_only)
                out.update(resume_legs(ctx, spec, run_training, root))
        except RuntimeError as error:
            if warn_only or "determinis" not in str(error):
                raise
            out["strict_mode_refused"] = str(error).splitlines()[0][:300]
            continue
        finally:
            torch.use_deterministic_algorithms(False)
            shutil.rmtree(root, ignore_errors=True)
        out["deterministic_mode"] = "warn_only" if warn_only else "strict"
        out["warnings"] = sorted({str(w.message).splitlines()[0][:200] for w in caught})
        return out
    raise AssertionError("unreachable")


# --- the report --------------------------------------------------------------------------


def describe(device: torch.device) -> dict[str, Any]:
    info: dict[str, Any] = {
        "cuda": device.type == "cuda",
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_cuda": torch.version.cuda,
    }
    try:
        import triton

        info["triton"] = triton.__version__
    except ImportError:
        info["triton"] = None
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        info["name"] = props.name
        info["capability"] = f"{props.major}.{props.minor}"
        info["memory_gib"] = round(props.total_memory / 2**30, 1)
    return info


def finite_or_text(value: Any) -> Any:
    """The report with NaN/Inf as strings, so that it stays valid JSON."""
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, dict):
        return {k: finite_or_text(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite_or_text(v) for v in value]
    return value


PARTS: dict[str, Callable[[Context], dict[str, Any]]] = {
    "lion_kernel": lion_kernel,
    "bandwidth": bandwidth,
    "training": training,
    "resume": resume,
}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer steps, smaller tensors")
    parser.add_argument("--cpu", action="store_true", help="run on the CPU even with a GPU")
    parser.add_argument("--train-steps", type=int, help="steps of each training run")
    parser.add_argument("--resume-steps", type=int, help="steps of the resume check (even)")
    parser.add_argument("--numel", type=int, help="elements of the bandwidth tensors")
    parser.add_argument("--only", nargs="+", choices=sorted(PARTS), help="run these parts")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    # before CUDA starts: GEMMs that repeat bit for bit, which deterministic mode requires
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    args = parse_args(argv)
    device = torch.device("cuda" if torch.cuda.is_available() and not args.cpu else "cpu")
    sizes = sizes_for(device.type == "cuda", args.quick)
    overrides = {"train_steps": args.train_steps, "resume_steps": args.resume_steps}
    overrides["bench_numel"] = args.numel
    sizes = replace(sizes, **{k: v for k, v in overrides.items() if v is not None})
    if sizes.resume_steps < 2 or sizes.resume_steps % 2:
        raise SystemExit("--resume-steps must be even and at least 2")
    ctx = Context(device, sizes)
    report: dict[str, Any] = {"device": describe(device), "sizes": asdict(sizes)}
    skipped: dict[str, str] = {}
    failed: dict[str, str] = {}
    checks: dict[str, bool] = {}
    start = time.perf_counter()
    for name, part in PARTS.items():
        if args.only and name not in args.only:
            skipped[name] = "not in --only"
            continue
        t0 = time.perf_counter()
        try:
            figures = part(ctx)
        except Skipped as why:
            skipped[name] = str(why)
            continue
        except Exception as error:
            traceback.print_exc()
            failed[name] = f"{type(error).__name__}: {error}"
            continue
        figures["wall_s"] = time.perf_counter() - t0
        checks.update({f"{name}.{k}": bool(v) for k, v in figures["checks"].items()})
        report[name] = figures
    report.update(skipped=skipped, failed=failed, checks=checks)
    report["ok"] = not failed and all(checks.values())
    report["complete"] = not skipped  # every part ran (a GPU machine with pydantic)
    report["wall_s"] = time.perf_counter() - start
    print(json.dumps(finite_or_text(report), indent=1, allow_nan=False))
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
