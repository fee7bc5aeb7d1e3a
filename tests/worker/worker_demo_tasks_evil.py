"""Must never be imported by the worker tests: its import has a visible side effect."""

import os

os.environ["LIONLAB_TEST_EVIL_TASK_IMPORTED"] = "1"


def build(spec, device):  # pragma: no cover - never reached
    raise AssertionError("a refused user task was called")
