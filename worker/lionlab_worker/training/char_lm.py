"""Character-level transformer LM (nanoGPT-style) on the Python standard library's own source.

The corpus is on every machine that runs Python: the top-level `.py` files of the stdlib folder,
in sorted order, capped at `CORPUS_CHARS` characters, ASCII-encoded (anything else becomes "?"),
last `EVAL_FRACTION` held out. It depends on the Python version, not on the run's seed.
"""

from __future__ import annotations

import math
import sysconfig
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from itertools import count
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from lionlab.jobs import JobSpec
from lionlab_worker.training.task import TrainingTask, batch_generator

VOCAB_SIZE = 128  # ASCII codes
CORPUS_CHARS = 2_000_000
EVAL_FRACTION = 0.1


@dataclass(frozen=True)
class GPTConfig:
    block_size: int = 64  # context length in characters
    n_layer: int = 2
    n_head: int = 4
    n_embd: int = 128
    eval_windows: int = 256  # held-out windows scored at each evaluation
    vocab_size: int = VOCAB_SIZE
    dropout: float = 0.0


PRESETS = {
    "tiny": GPTConfig(),
    "small": GPTConfig(block_size=128, n_layer=4, n_head=4, n_embd=256),
    "medium": GPTConfig(block_size=256, n_layer=6, n_head=6, n_embd=384, eval_windows=512),
}


class CausalSelfAttention(nn.Module):
    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.n_head = cfg.n_head
        self.dropout = cfg.dropout
        self.qkv = nn.Linear(cfg.n_embd, 3 * cfg.n_embd)
        self.proj = nn.Linear(cfg.n_embd, cfg.n_embd)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape
        q, k, v = self.qkv(x).split(C, dim=2)  # each (B, T, C)
        # (B, T, C) -> (B, n_head, T, head_size)
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))
        p = self.dropout if self.training else 0.0
        y = F.scaled_dot_product_attention(q, k, v, dropout_p=p, is_causal=True)
        y = y.transpose(1, 2).contiguous().view(B, T, C)  # heads side by side again
        return self.proj(y)


class MLP(nn.Module):
    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.fc = nn.Linear(cfg.n_embd, 4 * cfg.n_embd)
        self.proj = nn.Linear(4 * cfg.n_embd, cfg.n_embd)
        self.dropout = nn.Dropout(cfg.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.proj(F.gelu(self.fc(x))))


class Block(nn.Module):
    """Pre-norm transformer block: x + attn(ln(x)), then x + mlp(ln(x))."""

    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(cfg.n_embd)
        self.attn = CausalSelfAttention(cfg)
        self.ln_2 = nn.LayerNorm(cfg.n_embd)
        self.mlp = MLP(cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.tok_emb = nn.Embedding(cfg.vocab_size, cfg.n_embd)
        self.pos_emb = nn.Embedding(cfg.block_size, cfg.n_embd)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layer))
        self.ln_f = nn.LayerNorm(cfg.n_embd)
        self.lm_head = nn.Linear(cfg.n_embd, cfg.vocab_size, bias=False)
        self.lm_head.weight = self.tok_emb.weight  # weight tying
        self.apply(self._init_weights)
        # GPT-2: scale residual projections by 1/sqrt(number of residual additions)
        for name, p in self.named_parameters():
            if name.endswith("proj.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * cfg.n_layer))

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        """Logits (B, T, vocab_size) for character ids idx (B, T)."""
        T = idx.shape[1]
        pos = torch.arange(T, device=idx.device)
        x = self.tok_emb(idx) + self.pos_emb(pos)  # (B, T, n_embd)
        for block in self.blocks:
            x = block(x)
        return self.lm_head(self.ln_f(x))


def stdlib_source_files() -> list[Path]:
    """Top-level .py files of this Python's standard library, in a fixed order."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    return sorted(stdlib.glob("*.py"))


@lru_cache(maxsize=1)
def load_corpus() -> tuple[torch.Tensor, torch.Tensor]:
    """(train, eval) character ids, uint8 tensors, from the stdlib's source text."""
    chunks, size = [], 0
    for path in stdlib_source_files():
        text = path.read_text(encoding="utf-8", errors="replace")
        chunks.append(text.encode("ascii", errors="replace"))
        size += len(chunks[-1])
        if size >= CORPUS_CHARS:
            break
    data = b"".join(chunks)[:CORPUS_CHARS]
    if len(data) < 100_000:
        raise RuntimeError(f"stdlib source under {sysconfig.get_paths()['stdlib']} is too small")
    ids = torch.frombuffer(bytearray(data), dtype=torch.uint8)
    split = int(len(ids) * (1 - EVAL_FRACTION))
    return ids[:split], ids[split:]


def windows(data: torch.Tensor, starts: torch.Tensor, block: int) -> tuple[torch.Tensor, ...]:
    """Inputs and next-character targets, each (len(starts), block), from the given offsets."""
    idx = starts[:, None] + torch.arange(block + 1)  # (B, block + 1)
    chunk = data[idx].long()
    return chunk[:, :-1], chunk[:, 1:]


def build_task(spec: JobSpec, device: torch.device) -> TrainingTask:
    """The char LM task at the spec's model size."""
    cfg = PRESETS[spec.model_size]
    train, held_out = load_corpus()
    # evenly spaced held-out windows: the same eval set for every run of this preset
    eval_starts = torch.linspace(0, len(held_out) - cfg.block_size - 2, cfg.eval_windows).long()
    eval_set = windows(held_out, eval_starts, cfg.block_size)

    def train_batches(start: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for position in count(start):
            g = batch_generator(spec.seed, position)
            starts = torch.randint(len(train) - cfg.block_size - 1, (spec.batch_size,), generator=g)
            yield windows(train, starts, cfg.block_size)

    def eval_batches() -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        x, y = eval_set
        yield from zip(x.split(64), y.split(64), strict=True)

    def diversity(model: nn.Module, eval_number: int) -> dict[str, float]:
        return generation_diversity(model, eval_set[0][:DIVERSITY_WINDOWS], spec.seed, eval_number)

    return TrainingTask(GPT(cfg), train_batches, lm_loss, eval_batches, diversity)


DIVERSITY_WINDOWS = 64  # held-out windows whose next-character entropy is averaged
SAMPLES, SAMPLE_CHARS = 4, 64  # sampled continuations scored by distinct-2


@torch.no_grad()
def generation_diversity(
    model: nn.Module, windows_x: torch.Tensor, seed: int, eval_number: int
) -> dict[str, float]:
    """Diversity of the model's output, for the mode_collapse detector:
    - eval_entropy: mean entropy (nats) of the next-character distribution over held-out
      windows (log 128 = 4.85 for a uniform guess; it falls as the model learns, and falls
      much further when the model collapses onto a few characters);
    - eval_distinct_2: distinct character bigrams / bigrams in SAMPLES sampled continuations
      of SAMPLE_CHARS characters (temperature 1, seeded by the run's seed and the eval's
      number, so a run and its resumption sample the same), low when the text repeats.
    """
    device = next(model.parameters()).device
    x = windows_x.to(device)
    logp = torch.log_softmax(model(x).float(), dim=-1)
    entropy = -(logp.exp() * logp).sum(-1).mean().item()
    g = torch.Generator(device="cpu").manual_seed((seed << 20) ^ eval_number)
    block = model.cfg.block_size
    text = x[:SAMPLES, : block // 2]
    for _ in range(SAMPLE_CHARS):
        probs = torch.softmax(model(text[:, -block:])[:, -1].float(), dim=-1).cpu()
        nxt = torch.multinomial(probs, 1, generator=g).to(device)
        text = torch.cat([text, nxt], dim=1)
    sampled = text[:, block // 2 :].cpu()
    pairs = sampled[:, :-1] * 128 + sampled[:, 1:]
    distinct = len(torch.unique(pairs)) / pairs.numel()
    return {"eval_entropy": entropy, "eval_distinct_2": distinct}


def lm_loss(model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    """Mean next-character cross-entropy (nats)."""
    x, y = batch
    logits = model(x)  # (B, T, vocab)
    return F.cross_entropy(logits.view(-1, logits.shape[-1]).float(), y.reshape(-1))
