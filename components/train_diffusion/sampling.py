"""Sampling images from a Pigeon model: DDIM over the UNet's latents, then the autoencoder's decoder.

Each sample's initial noise comes from its own seed, so two models (or the same model with and without
history) given the same seeds start from the same noise and can be compared image by image.
"""

from __future__ import annotations

import numpy as np
import torch

from components.train_diffusion.bundle import PigeonModel
from components.train_diffusion.decoder import denoise


def initial_noise(seeds: list[int], shape: tuple[int, ...]) -> torch.Tensor:
    """(B, *shape) standard normal noise, sample b drawn from a generator seeded with seeds[b]."""
    return torch.stack([torch.randn(shape, generator=torch.Generator().manual_seed(int(s))) for s in seeds])


@torch.no_grad()
def generate(
    model: PigeonModel,
    histories: np.ndarray,
    targets: np.ndarray,
    titles: list[str],
    use_history: bool,
    seeds: list[int],
    steps: int,
    mask_noise: bool = False,
    mask_generator: torch.Generator | None = None,
    guidance: float = 1.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Windows (B, H), targets (B,) -> (scaled latents (B, 4, h, w), images (B, 3, S, S) in [-1, 1]).

    With history and `guidance` != 1, the noise estimate is guided away from the instruction-only one:
    ε = ε(instruction) + guidance · (ε(instruction, history) − ε(instruction)), classifier-free guidance with
    history as the condition (the decoder saw instruction-only samples in training).
    """
    from diffusers import DDIMScheduler

    model.unet.eval()
    model.conditioner.eval()
    hist, ids, mask = model.inputs(histories, targets, titles)
    flags = torch.full((len(targets),), use_history, dtype=torch.bool, device=hist.device)
    cond, cond_mask, _ = model.conditioner(hist, ids, mask, flags, noise=mask_noise, generator=mask_generator)
    guided = use_history and guidance != 1.0
    if guided:
        plain, plain_mask, _ = model.conditioner(hist, ids, mask, ~flags, noise=False)
        cond, cond_mask = torch.cat([cond, plain]), torch.cat([cond_mask, plain_mask])  # (2B, L + H, X)
    scheduler = DDIMScheduler.from_config(model.scheduler.config)
    scheduler.set_timesteps(steps)
    size = model.unet.config.sample_size
    latents = initial_noise(seeds, (4, size, size)).to(model.device)
    for t in scheduler.timesteps:
        inputs = torch.cat([latents, latents]) if guided else latents
        eps = denoise(model.unet, inputs, t, cond, cond_mask)
        if guided:
            with_history, without = eps.chunk(2)
            eps = without + guidance * (with_history - without)
        latents = scheduler.step(eps, t, latents).prev_sample
    images = model.vae.decode(latents / model.meta["latent_scale"]).sample.clamp(-1, 1)
    return latents, images
