"""Online detectors over a run's metrics: divergence, gradient-norm drift, loss steps, mode
collapse; and over per-layer stats: a layer's gradient norm drifting from the others, update
ratios outside a healthy band.

Pure numpy, no I/O. `analyze(steps, {"loss": ..., "grad_norm": ..., "lr": ...})` returns the
flags for a whole series; `OnlineDetectors` gives the same flags batch by batch and can be
saved to JSON and restored mid-run; `LayerDetectors` does the same for per-layer stats.
See docs/detectors.md.
"""

from lionlab.detect.config import (
    CollapseConfig,
    DetectorConfig,
    DivergenceConfig,
    DriftConfig,
    LayerConfig,
    LayerGradConfig,
    LossStepConfig,
    UpdateRatioConfig,
)
from lionlab.detect.flags import Flag, summarize
from lionlab.detect.layers import LayerDetectors
from lionlab.detect.online import OnlineDetectors, analyze

__all__ = [
    "CollapseConfig",
    "DetectorConfig",
    "DivergenceConfig",
    "DriftConfig",
    "Flag",
    "LayerConfig",
    "LayerDetectors",
    "LayerGradConfig",
    "LossStepConfig",
    "OnlineDetectors",
    "UpdateRatioConfig",
    "analyze",
    "summarize",
]
