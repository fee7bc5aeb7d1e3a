"""Procedurally drawn shapes: a labelled image data set generated from a seed, never downloaded.

Each image is one of `SHAPES` at a random position, size and rotation, in random light-on-dark
or dark-on-light colours, with Gaussian pixel noise. Outlines against filled shapes, rotated
squares against disks and stripes against checkerboards keep it from being trivially separable.
"""

from __future__ import annotations

import math

import torch

SHAPES = ("disk", "ring", "square", "frame", "triangle", "plus", "stripes", "checker")
NOISE_STD = 0.15


def _uniform(n: int, low: float, high: float, g: torch.Generator) -> torch.Tensor:
    """(n, 1, 1) samples from U(low, high), shaped to broadcast over an image."""
    return (low + (high - low) * torch.rand(n, generator=g)).view(n, 1, 1)


def _shape_masks(u: torch.Tensor, v: torch.Tensor, r: torch.Tensor, freq: torch.Tensor):
    """Masks (n, len(SHAPES), S, S) of every shape, in rotated coordinates u, v (n, S, S)."""
    rho = torch.sqrt(u**2 + v**2)
    box = torch.maximum(u.abs(), v.abs())
    stroke = 0.12 * r
    arm = ((u.abs() < stroke) & (v.abs() < r)) | ((v.abs() < stroke) & (u.abs() < r))
    masks = [
        rho < r,  # disk
        (rho - 0.8 * r).abs() < stroke,  # ring
        box < 0.8 * r,  # square
        (box - 0.7 * r).abs() < stroke,  # frame
        (v > -0.5 * r) & (v < r - math.sqrt(3) * u.abs()),  # equilateral triangle
        arm,  # plus
        torch.sin(u * freq) > 0,  # stripes over the whole image
        torch.sin(u * freq) * torch.sin(v * freq) > 0,  # checkerboard
    ]
    return torch.stack(masks, dim=1)


def draw_shapes(n: int, g: torch.Generator, size: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    """n images (n, 3, size, size), roughly zero-mean unit-scale, and labels (n,)."""
    labels = torch.randint(len(SHAPES), (n,), generator=g)
    lin = torch.linspace(-1.0, 1.0, size)
    y, x = torch.meshgrid(lin, lin, indexing="ij")  # (S, S)
    dx = x - _uniform(n, -0.35, 0.35, g)  # (n, S, S) offsets from the shape's centre
    dy = y - _uniform(n, -0.35, 0.35, g)
    theta = _uniform(n, 0.0, 2 * math.pi, g)
    u = dx * torch.cos(theta) + dy * torch.sin(theta)
    v = -dx * torch.sin(theta) + dy * torch.cos(theta)
    r = _uniform(n, 0.3, 0.6, g)
    freq = _uniform(n, 8.0, 16.0, g)
    masks = _shape_masks(u, v, r, freq)  # (n, K, S, S)
    mask = masks[torch.arange(n), labels].unsqueeze(1).float()  # (n, 1, S, S)
    # colours (n, 3, 1, 1): one dark, one light, randomly which is the shape
    dark = 0.5 * torch.rand(n, 3, 1, 1, generator=g)
    light = 0.5 + 0.5 * torch.rand(n, 3, 1, 1, generator=g)
    swap = torch.rand(n, 1, 1, 1, generator=g) < 0.5
    fg, bg = torch.where(swap, dark, light), torch.where(swap, light, dark)
    images = bg + (fg - bg) * mask + NOISE_STD * torch.randn(n, 3, size, size, generator=g)
    return (images - 0.5) / 0.3, labels
