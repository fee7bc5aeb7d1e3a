"""Online detectors over a run's metrics: divergence, gradient-norm drift, loss steps.

Pure numpy, no I/O. `analyze(steps, {"loss": ..., "grad_norm": ..., "lr": ...})` returns the
flags for a whole series; `OnlineDetectors` gives the same flags batch by batch and can be
saved to JSON and restored mid-run. See docs/detectors.md.
"""

from lionlab.detect.config import DetectorConfig, DivergenceConfig, DriftConfig, LossStepConfig
from lionlab.detect.flags import Flag, summarize
from lionlab.detect.online import OnlineDetectors, analyze

__all__ = [
    "DetectorConfig",
    "DivergenceConfig",
    "DriftConfig",
    "Flag",
    "LossStepConfig",
    "OnlineDetectors",
    "analyze",
    "summarize",
]
