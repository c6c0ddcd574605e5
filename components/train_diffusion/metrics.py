"""Pigeon's image metrics at small scale: cosine similarity in the image encoder's space (the paper's CLIP image
score) to the user's history and to the held-out target, and SSIM (Wang et al. 2004) to the history images."""

from __future__ import annotations

import torch
from torch.nn import functional as F

SSIM_C1 = (0.01 * 2.0) ** 2  # images in [-1, 1]: dynamic range L = 2
SSIM_C2 = (0.03 * 2.0) ** 2


def history_similarity(generated: torch.Tensor, history: torch.Tensor) -> torch.Tensor:
    """generated (B, D) and history (B, H, D) unit embeddings -> (B,) mean cosine to the H history images."""
    return torch.einsum("bd,bhd->bh", generated, history).mean(1)


def gaussian_window(size: int = 7, sigma: float = 1.5) -> torch.Tensor:
    """(size, size) normalised Gaussian kernel."""
    x = torch.arange(size, dtype=torch.float32) - (size - 1) / 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    g = g / g.sum()
    return g[:, None] * g[None, :]


def ssim(a: torch.Tensor, b: torch.Tensor, window: int = 7) -> torch.Tensor:
    """(B, C, S, S) x2 in [-1, 1] -> (B,) mean SSIM over valid windows and channels (Gaussian σ=1.5)."""
    channels = a.shape[1]
    kernel = gaussian_window(window).to(a).expand(channels, 1, window, window)

    def blur(x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, kernel, groups=channels)

    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a**2
    var_b = blur(b * b) - mu_b**2
    cov = blur(a * b) - mu_a * mu_b
    num = (2 * mu_a * mu_b + SSIM_C1) * (2 * cov + SSIM_C2)
    den = (mu_a**2 + mu_b**2 + SSIM_C1) * (var_a + var_b + SSIM_C2)
    return (num / den).flatten(1).mean(1)


def history_ssim(generated: torch.Tensor, history: torch.Tensor) -> torch.Tensor:
    """generated (B, 3, S, S), history (B, H, 3, S, S) -> (B,) mean SSIM to the H history images."""
    b, h = history.shape[:2]
    repeated = generated.unsqueeze(1).expand_as(history).reshape(b * h, *generated.shape[1:])
    return ssim(repeated, history.reshape(b * h, *history.shape[2:])).view(b, h).mean(1)
