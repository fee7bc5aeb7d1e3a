"""A small CNN classifying generated shapes (see `shapes`)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from itertools import count

import torch
from torch import nn
from torch.nn import functional as F

from lionlab.jobs import JobSpec
from lionlab_worker.training.shapes import SHAPES, draw_shapes
from lionlab_worker.training.task import TrainingTask, batch_generator

EVAL_IMAGES = 1024
EVAL_SEED = 20230213  # the held-out set is the same for every run, whatever its seed


@dataclass(frozen=True)
class CNNConfig:
    channels: tuple[int, ...] = (16, 32, 64)  # one stage each; every stage halves the size
    convs_per_stage: int = 1
    image_size: int = 32
    n_classes: int = len(SHAPES)


PRESETS = {
    "tiny": CNNConfig(),
    "small": CNNConfig(channels=(32, 64, 128), convs_per_stage=2),
    "medium": CNNConfig(channels=(64, 128, 256), convs_per_stage=2, image_size=64),
}


class ConvStage(nn.Module):
    """(conv3x3 -> batch norm -> ReLU) x n, 2x2 max-pool: (B, C_in, H, W) -> (B, C, H/2, W/2)."""

    def __init__(self, c_in: int, c_out: int, n_convs: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for i in range(n_convs):
            layers += [
                nn.Conv2d(c_in if i == 0 else c_out, c_out, 3, padding=1, bias=False),
                nn.BatchNorm2d(c_out),
                nn.ReLU(),
            ]
        self.convs = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.max_pool2d(self.convs(x), 2)


class ShapeCNN(nn.Module):
    def __init__(self, cfg: CNNConfig) -> None:
        super().__init__()
        widths = (3, *cfg.channels)  # RGB in, then each stage's width
        stages = zip(widths[:-1], widths[1:], strict=True)
        self.stages = nn.Sequential(*(ConvStage(a, b, cfg.convs_per_stage) for a, b in stages))
        self.head = nn.Linear(cfg.channels[-1], cfg.n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits (B, n_classes) for images x (B, 3, H, W)."""
        features = self.stages(x).mean(dim=(2, 3))  # global average pool: (B, C)
        return self.head(features)


@lru_cache(maxsize=2)
def eval_set(image_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The fixed held-out images and labels."""
    return draw_shapes(EVAL_IMAGES, torch.Generator().manual_seed(EVAL_SEED), image_size)


def build_task(spec: JobSpec, device: torch.device) -> TrainingTask:
    """The shapes classifier at the spec's model size; every training batch is freshly drawn."""
    cfg = PRESETS[spec.model_size]

    def train_batches(start: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for position in count(start):
            yield draw_shapes(spec.batch_size, batch_generator(spec.seed, position), cfg.image_size)

    def eval_batches() -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        images, labels = eval_set(cfg.image_size)
        yield from zip(images.split(256), labels.split(256), strict=True)

    return TrainingTask(ShapeCNN(cfg), train_batches, classification_loss, eval_batches)


def classification_loss(model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    """Mean cross-entropy of the class logits."""
    images, labels = batch
    return F.cross_entropy(model(images).float(), labels)
