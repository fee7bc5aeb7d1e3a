"""lionlab stays a light SDK: importing it does not import torch."""

from __future__ import annotations

import subprocess
import sys


def test_import_lionlab_does_not_import_torch() -> None:
    code = "import sys, lionlab; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_import_lionlab_optim_does_not_import_triton() -> None:
    code = (
        "import sys, lionlab.optim; "
        "assert 'triton' not in sys.modules, 'triton imported without a CUDA tensor'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
