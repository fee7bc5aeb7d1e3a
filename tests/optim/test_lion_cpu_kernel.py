"""The fused CPU kernel: built on first use, safe to build from two processes at once, and
replaced by the _foreach path (with one warning) where no compiler works."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import pytest
import torch

from lionlab.optim import Lion, cpu_kernel

FIRST_USE = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    import torch
    from lionlab.optim import Lion

    ready = Path(sys.argv[1])
    ready.joinpath(sys.argv[2]).touch()
    while len(list(ready.iterdir())) < 2:  # start building together
        time.sleep(0.01)
    p = torch.nn.Parameter(torch.ones(100_000))
    p.grad = torch.ones(100_000)
    opt = Lion([p], lr=0.5)
    opt.step()
    assert opt.path_for(p) == "cpu", opt.path_for(p)
    assert torch.all(p == 0.5)
    """
)


@pytest.fixture
def fresh_build(tmp_path, monkeypatch) -> Path:
    """An empty kernel cache, and the library forgotten so the next use builds it."""
    monkeypatch.setattr(cpu_kernel, "cache_dir", lambda: tmp_path)
    cpu_kernel.load_library.cache_clear()
    yield tmp_path
    cpu_kernel.load_library.cache_clear()  # later tests load the usual cached build


def test_first_use_builds_into_the_cache(fresh_build: Path) -> None:
    assert cpu_kernel.load_library() is not None
    built = list(fresh_build.glob("lion_cpu-*.so"))
    assert len(built) == 1 and not list(fresh_build.glob("*.tmp.so"))


@pytest.mark.slow  # two interpreters importing torch: ~5-10 s on 2 cores
def test_two_processes_building_at_once_both_succeed(tmp_path: Path) -> None:
    ready = tmp_path / "ready"
    ready.mkdir()
    env = {**os.environ, "LIONLAB_DATA_DIR": str(tmp_path / "data")}
    procs = [
        subprocess.Popen(
            [sys.executable, "-W", "error::RuntimeWarning", "-c", FIRST_USE, str(ready), str(i)],
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    kernels = tmp_path / "data" / "kernels"
    assert len(list(kernels.glob("lion_cpu-*.so"))) == 1
    assert not list(kernels.glob("*.tmp.so"))


@pytest.mark.parametrize("compiler", ["/nonexistent/cc", "false"])
def test_without_a_working_compiler_warns_once_and_uses_foreach(
    fresh_build: Path, monkeypatch, compiler: str
) -> None:
    monkeypatch.setenv("CC", compiler)
    p = torch.nn.Parameter(torch.ones(10))
    p.grad = torch.ones(10)
    with pytest.warns(RuntimeWarning, match="fused CPU kernel unavailable"):
        opt = Lion([p], lr=0.25)
        opt.step()
    assert opt.path_for(p) == "foreach" and torch.all(p == 0.75)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Lion([p], lr=0.25).step()


@pytest.mark.parametrize("dtype, stochastic", [(torch.float32, False), (torch.bfloat16, True)])
def test_result_does_not_depend_on_the_thread_count(ref, dtype, stochastic: bool) -> None:
    shapes = [(200_000,), (33_001,), (5,)]
    weights = ref.initial_weights(shapes, dtype=dtype)
    grads = ref.gradient_sequence(shapes, 5, dtype=dtype)

    def make(params):
        return Lion(params, lr=1e-3, stochastic_rounding=stochastic, seed=1, backend="cpu")

    runs = []
    for threads in (1, 2, 3):
        torch.set_num_threads(threads)
        runs.append(ref.run_trajectory(make, weights, grads))
    for run in runs[1:]:
        assert all(torch.equal(a, b) for a, b in zip(runs[0], run, strict=True))


def test_with_torch_on_gnu_openmp_the_step_runs_on_torchs_own_runtime(fresh_build: Path) -> None:
    """The pinned CPU torch runs its intra-op threads on libgomp.so.1: the kernel is built
    with -fopenmp, binds to that same runtime (no second one is loaded) and uses its threads."""
    assert cpu_kernel.use_torch_openmp()
    assert "-fopenmp" in cpu_kernel.build_flags()
    assert cpu_kernel.load_library() is not None
    assert len(cpu_kernel._gomp_paths()) == 1, cpu_kernel._gomp_paths()


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_the_pthread_and_openmp_builds_give_the_same_bits(ref, fresh_build, monkeypatch, dtype):
    """Where torch is not on GNU OpenMP the kernel starts threads of its own: the same bits."""
    compiler = cpu_kernel.find_compiler()
    shapes = [(300_000,), (33_001,), (7,)]
    weights = ref.initial_weights(shapes, dtype=dtype)
    grads = ref.gradient_sequence(shapes, 4, dtype=dtype)

    def make(params):
        return Lion(params, lr=1e-3, weight_decay=0.1, backend="cpu")

    runs = []
    for flags in (cpu_kernel.CFLAGS, cpu_kernel.CFLAGS + ("-fopenmp",)):
        lib = cpu_kernel._load(compiler, flags)
        with monkeypatch.context() as patch:
            patch.setattr(cpu_kernel, "load_library", lambda lib=lib: lib)
            runs.append(ref.run_trajectory(make, weights, grads))
    assert all(torch.equal(a, b) for a, b in zip(runs[0], runs[1], strict=True))
    assert len(list(fresh_build.glob("lion_cpu-*.so"))) == 2
