"""Pigeon's mask generator: one transformer layer over [history tokens; instruction tokens] scores each history
token by the cosine between its input and output embedding; Gumbel top-k keeps exactly k of them.

The keep-mask is hard (0/1, exactly k ones per row) in the forward pass and carries the gradient of the
Gumbel-softmax relaxation (straight-through), so the scorer learns which history tokens help reconstruction.
Without noise (evaluation) the k highest-scoring tokens are kept.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def sinusoidal(length: int, dim: int) -> torch.Tensor:
    """(length, dim) sinusoidal position table."""
    pos = torch.arange(length, dtype=torch.float32)[:, None]
    freq = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(10000.0) / dim))
    table = torch.zeros(length, dim)
    table[:, 0::2] = torch.sin(pos * freq)
    table[:, 1::2] = torch.cos(pos * freq[: dim // 2])
    return table


def gumbel_topk(scores: torch.Tensor, k: int, tau: float, noise: bool, generator=None) -> torch.Tensor:
    """(B, N) scores -> (B, N) keep-mask with exactly k ones per row; straight-through Gumbel-softmax gradient."""
    logits = scores
    if noise:
        u = torch.rand(scores.shape, generator=generator).to(scores.device).clamp_(1e-9, 1 - 1e-9)
        logits = scores - torch.log(-torch.log(u))
    soft = torch.softmax(logits / tau, dim=-1) * k  # relaxed mask, sums to k
    hard = torch.zeros_like(scores).scatter_(-1, logits.topk(k, dim=-1).indices, 1.0)
    return hard + (soft - soft.detach())  # exactly hard in the forward pass, the relaxed gradient backward


class MaskGenerator(nn.Module):
    def __init__(self, dim: int, heads: int = 4, max_len: int = 512) -> None:
        super().__init__()
        self.layer = nn.TransformerEncoderLayer(dim, heads, dim * 2, dropout=0.0, batch_first=True)
        self.types = nn.Embedding(2, dim)  # 0: history token, 1: instruction token
        self.register_buffer("positions", sinusoidal(max_len, dim), persistent=False)

    def scores(self, history: torch.Tensor, reference: torch.Tensor, reference_mask: torch.Tensor) -> torch.Tensor:
        """history (B, H, d), reference (B, L, d), reference_mask (B, L) 1=real -> scores (B, H) in [-1, 1]."""
        h, n_ref = history.shape[1], reference.shape[1]
        types = torch.cat([torch.zeros(h, dtype=torch.long), torch.ones(n_ref, dtype=torch.long)]).to(history.device)
        x = torch.cat([history, reference], dim=1) + self.positions[: h + n_ref] + self.types(types)
        pad = torch.cat([torch.zeros_like(history[..., 0], dtype=torch.bool), reference_mask == 0], dim=1)
        y = self.layer(x, src_key_padding_mask=pad)
        return nn.functional.cosine_similarity(x[:, :h], y[:, :h], dim=-1)

    def forward(
        self,
        history: torch.Tensor,
        reference: torch.Tensor,
        reference_mask: torch.Tensor,
        k: int,
        tau: float = 1.0,
        noise: bool = True,
        generator=None,
    ) -> torch.Tensor:
        """(B, H) keep-mask with exactly k ones per row."""
        return gumbel_topk(self.scores(history, reference, reference_mask), k, tau, noise, generator)
