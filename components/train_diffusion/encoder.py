"""The image encoder: history images -> tokens for the multimodal LM, and the feature space of the metrics.

A small CNN (stand-in for the paper's CLIP / LaVIT visual encoder) trained once on every catalogue image to
predict its genres (multi-label), so that nearby embeddings mean similar content; then frozen. Its pooled
feature map gives `tokens_per_image` tokens per image; the mean token, projected, is the embedding whose
cosine measures history and target similarity.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
from torch import nn


def to_tensor(images: np.ndarray) -> torch.Tensor:
    """(N, S, S, 3) uint8 -> (N, 3, S, S) float in [-1, 1]."""
    return torch.from_numpy(images).permute(0, 3, 1, 2).float().div(127.5).sub(1.0)


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """(N, 3, S, S) float in [-1, 1] -> (N, S, S, 3) uint8."""
    return images.clamp(-1, 1).add(1).mul(127.5).round().byte().permute(0, 2, 3, 1).cpu().numpy()


class ImageEncoder(nn.Module):
    def __init__(self, n_genres: int, width: int = 64, tokens_per_image: int = 4) -> None:
        super().__init__()
        self.width = width
        self.grid = round(math.sqrt(tokens_per_image))
        self.body = nn.Sequential(
            nn.Conv2d(3, 32, 3, padding=1), nn.GroupNorm(8, 32), nn.SiLU(),
            nn.Conv2d(32, width, 3, stride=2, padding=1), nn.GroupNorm(8, width), nn.SiLU(),
            nn.Conv2d(width, width, 3, stride=2, padding=1), nn.GroupNorm(8, width), nn.SiLU(),
            nn.Conv2d(width, width, 3, stride=2, padding=1), nn.GroupNorm(8, width), nn.SiLU(),
        )  # fmt: skip
        self.project = nn.Linear(width, width)
        self.head = nn.Linear(width, n_genres)
        self.register_buffer("center", torch.zeros(width))  # mean catalogue feature, removed before the cosine

    def tokens(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, S, S) -> (N, tokens_per_image, width)."""
        fmap = nn.functional.adaptive_avg_pool2d(self.body(x), self.grid)  # (N, width, g, g)
        return fmap.flatten(2).transpose(1, 2)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, S, S) -> (N, width) unit-norm embedding, centred on the catalogue's mean feature."""
        return nn.functional.normalize(self.project(self.tokens(x).mean(1)) - self.center, dim=-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Genre logits (N, n_genres)."""
        return self.head(self.project(self.tokens(x).mean(1)))


def fit_epochs(
    model: nn.Module,
    opt: torch.optim.Optimizer,
    rows: np.ndarray,
    batch_loss: Callable[[torch.Tensor], torch.Tensor],
    epochs: int,
    rng: np.random.Generator,
    batch: int,
) -> list[float]:
    """Mini-batch epochs over `rows`, shuffled by `rng` each epoch; `batch_loss` maps a batch's row indices (b,)
    to its mean loss. Returns the per-epoch mean losses."""
    losses = []
    for _ in range(epochs):
        model.train()
        order = rng.permutation(rows)
        total = 0.0
        for start in range(0, len(order), batch):
            idx = torch.from_numpy(order[start : start + batch])
            loss = batch_loss(idx)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
        losses.append(total / len(order))
    return losses


def train_encoder(
    images: np.ndarray, genres: np.ndarray, tokens_per_image: int, epochs: int, seed: int, batch: int = 128
) -> tuple[ImageEncoder, list[float]]:
    """Fit the encoder to predict genres of (N, S, S, 3) images; returns it frozen (eval) and per-epoch losses."""
    torch.manual_seed(seed)
    model = ImageEncoder(genres.shape[1], tokens_per_image=tokens_per_image)
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=1e-4)
    x_all, y_all = to_tensor(images), torch.from_numpy(genres).float()
    rng = np.random.default_rng(seed)

    def batch_loss(idx: torch.Tensor) -> torch.Tensor:
        return nn.functional.binary_cross_entropy_with_logits(model(x_all[idx]), y_all[idx])

    losses = fit_epochs(model, opt, np.arange(len(images)), batch_loss, epochs, rng, batch)
    model.eval().requires_grad_(False)
    with torch.no_grad():
        features = [model.project(model.tokens(x_all[s : s + 512]).mean(1)) for s in range(0, len(x_all), 512)]
        model.center.copy_(torch.cat(features).mean(0))
    return model, losses


@torch.no_grad()
def embed_images(encoder: nn.Module, images: np.ndarray, batch: int = 256) -> torch.Tensor:
    """(N, S, S, 3) uint8 -> (N, D) unit-norm embeddings, on the encoder's device (any encoder with `embed` and
    a `center` buffer of size D: the stage-1 encoder or the held-out evaluator)."""
    center = encoder.center
    out = [encoder.embed(to_tensor(images[s : s + batch]).to(center.device)) for s in range(0, len(images), batch)]
    return torch.cat(out) if out else torch.zeros(0, center.shape[0], device=center.device)
