"""The fused CPU path: csrc/lion_cpu.c, built once with the system C compiler, called via ctypes.

Why a plain C library and not a torch extension: the kernel needs no torch headers (it gets
raw pointers), so it compiles in about 0.2 s instead of the ~40 s of a minimal
torch.utils.cpp_extension build, and one binary serves every torch version.

Threads: built with -fopenmp when torch runs its intra-op work on GNU OpenMP (libgomp.so.1,
already loaded by torch), so the step runs on torch's own threads; otherwise the kernel
starts pthreads of its own (see `use_torch_openmp`).

Build cache: <LIONLAB_DATA_DIR>/kernels/lion_cpu-<hash>.so, where the hash covers the source,
flags, compiler and machine. A build writes a private temporary file and renames it into
place, so processes starting together may each build, but none ever loads a partial file.
Without a working compiler the optimizer warns once and uses the _foreach path.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
import warnings
from pathlib import Path

import torch

from lionlab.optim.functional import LionHyperparams

SOURCE = Path(__file__).parent / "csrc" / "lion_cpu.c"
# -ffp-contract=off: one rounding per operation, as the reference path (no fused multiply-add).
CFLAGS = ("-O3", "-std=c11", "-shared", "-fPIC", "-pthread", "-ffp-contract=off")
DTYPES = (torch.float32, torch.bfloat16)
GOMP = "libgomp.so.1"


def _gomp_paths() -> set[str]:
    """The GNU OpenMP runtimes mapped into this process (Linux; empty elsewhere)."""
    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        return set()
    return {line.split()[-1] for line in maps.splitlines() if "libgomp" in line}


def use_torch_openmp() -> bool:
    """Whether to build the kernel with -fopenmp: when torch's intra-op threads are GNU
    OpenMP's, loaded under the soname libgomp.so.1. The kernel built that way binds to the
    same runtime and runs on torch's threads, which after a backward pass are still spinning
    for work: a kernel starting threads of its own competed with them for the cores (1.21x
    its bandwidth floor, 0.94x on torch's threads). A torch built with another OpenMP, or
    with a renamed libgomp, gets the pthread build: a second runtime's spinning threads would
    slow torch's own next ops."""
    if "OpenMP" not in torch.__config__.parallel_info():
        return False
    return any(Path(p).name == GOMP for p in _gomp_paths())


def build_flags() -> tuple[str, ...]:
    return CFLAGS + (("-fopenmp",) if use_torch_openmp() else ())


def find_compiler() -> str | None:
    """$CC if set (and only it), else the first of cc, gcc, clang on PATH."""
    if os.environ.get("CC"):
        return shutil.which(os.environ["CC"])
    return next((path for name in ("cc", "gcc", "clang") if (path := shutil.which(name))), None)


def cache_dir() -> Path:
    """Writable folder for built kernels: data_dir/kernels, else a per-user temp folder."""
    try:
        from lionlab.settings import get_settings

        folder = get_settings().data_dir / "kernels"
        folder.mkdir(parents=True, exist_ok=True)
        if os.access(folder, os.W_OK):
            return folder
    except (ImportError, OSError, ValueError):  # no pydantic-settings (a bare GPU image)
        pass
    folder = Path(tempfile.gettempdir()) / f"lionlab-kernels-{os.getuid()}"
    folder.mkdir(mode=0o700, exist_ok=True)
    if folder.stat().st_uid != os.getuid():  # never load a library another user could write
        raise PermissionError(f"{folder} belongs to another user")
    return folder


def library_path(compiler: str, folder: Path, flags: tuple[str, ...] = CFLAGS) -> Path:
    """Where the build for this source, flags, compiler and machine lives."""
    version = subprocess.run([compiler, "--version"], capture_output=True, text=True, timeout=30)
    digest = hashlib.sha256()
    for part in (
        SOURCE.read_bytes(),
        " ".join(flags).encode(),
        compiler.encode(),
        version.stdout.encode(),
        platform.machine().encode(),
    ):
        digest.update(part)
    return folder / f"lion_cpu-{digest.hexdigest()[:16]}.so"


def build(compiler: str, target: Path, flags: tuple[str, ...] = CFLAGS) -> None:
    """Compile SOURCE into target atomically (a private temp file, then rename)."""
    fd, tmp = tempfile.mkstemp(prefix=target.stem + ".", suffix=".tmp.so", dir=target.parent)
    os.close(fd)
    try:
        subprocess.run(
            [compiler, *flags, str(SOURCE), "-o", tmp],
            check=True,
            capture_output=True,
            text=True,
            timeout=120,
        )
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


@functools.cache
def load_library() -> ctypes.CDLL | None:
    """The built kernel, building it on first use; None (after one warning) if impossible."""
    compiler = find_compiler()
    try:
        if compiler is None:
            raise FileNotFoundError("no C compiler (cc, gcc or clang) on PATH")
        flags = build_flags()
        if flags != CFLAGS:
            try:
                lib = _load(compiler, flags)
                if len(_gomp_paths()) == 1:
                    return lib
                # it brought a second OpenMP runtime after all: threads of its own instead
            except (OSError, subprocess.SubprocessError):  # no omp.h, say
                pass
        return _load(compiler, CFLAGS)
    except Exception as error:  # the kernel only saves time: any failure falls back
        detail = getattr(error, "stderr", None) or error
        warnings.warn(
            f"lionlab.optim.Lion: fused CPU kernel unavailable ({detail}); "
            "using the slower torch._foreach path",
            RuntimeWarning,
            stacklevel=2,
        )
        return None


def _load(compiler: str, flags: tuple[str, ...]) -> ctypes.CDLL:
    target = library_path(compiler, cache_dir(), flags)
    if not target.exists():
        build(compiler, target, flags)
    try:
        return _bind(ctypes.CDLL(str(target)))
    except OSError:  # a damaged cache entry, or an -fopenmp build that cannot link: rebuild
        build(compiler, target, flags)
        return _bind(ctypes.CDLL(str(target)))


def _bind(lib: ctypes.CDLL) -> ctypes.CDLL:
    f = lib.lionlab_lion_step
    pointers = ctypes.POINTER(ctypes.c_void_p)
    f.argtypes = [
        ctypes.c_int64,
        pointers,
        pointers,
        pointers,
        ctypes.POINTER(ctypes.c_int64),
        ctypes.c_int,
        ctypes.POINTER(ctypes.c_uint32),
        *[ctypes.c_float] * 6,
        ctypes.c_int,
    ]
    f.restype = ctypes.c_int
    return lib


def supports(param: torch.Tensor, grad: torch.Tensor, exp_avg: torch.Tensor) -> bool:
    """True for dense contiguous CPU fp32/bf16 weights with an fp32 state."""
    return (
        param.device.type == "cpu"
        and param.dtype in DTYPES
        and grad.dtype == param.dtype
        and exp_avg.dtype == torch.float32
        and param.is_contiguous()
        and grad.is_contiguous()
        and exp_avg.is_contiguous()
    )


def _addresses(tensors: list[torch.Tensor]) -> ctypes.Array:
    return (ctypes.c_void_p * len(tensors))(*[t.data_ptr() for t in tensors])


def lion_update_cpu_(
    params: list[torch.Tensor],
    grads: list[torch.Tensor],
    exp_avgs: list[torch.Tensor],
    hp: LionHyperparams,
    round_keys: list[int] | None = None,
) -> None:
    """One Lion step for same-dtype tensors accepted by supports(), on all torch threads."""
    lib = load_library()
    if lib is None:
        raise RuntimeError("the fused CPU kernel could not be built; see the earlier warning")
    if not params:
        return
    n = len(params)
    keys = (ctypes.c_uint32 * n)(*round_keys) if round_keys is not None else None
    status = lib.lionlab_lion_step(
        n,
        _addresses(params),
        _addresses(grads),
        _addresses(exp_avgs),
        (ctypes.c_int64 * n)(*[p.numel() for p in params]),
        int(params[0].dtype == torch.bfloat16),
        keys,
        hp.lr,
        hp.decay,
        hp.beta1,
        1 - hp.beta1,
        hp.beta2,
        1 - hp.beta2,
        torch.get_num_threads(),
    )
    if status != 0:
        raise MemoryError("lionlab.optim.Lion: the CPU kernel could not allocate its work list")
