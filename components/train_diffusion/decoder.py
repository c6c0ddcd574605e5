"""The diffusion decoder: diffusers `UNet2DConditionModel` + `AutoencoderKL` + DDPM/DDIM schedulers, built from
a preset (tiny for CPU runs, an SD-1.5-sized shape for GPU benchmarks) and the autoencoder's training.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from components.common.training import warmup_cosine


@dataclass(frozen=True)
class DecoderPreset:
    unet_channels: tuple[int, ...]
    unet_down: tuple[str, ...]
    unet_up: tuple[str, ...]
    layers_per_block: int
    attention_head_dim: int
    vae_channels: tuple[int, ...]
    norm_groups: int
    cross_attention_dim: int  # the width of the conditioning the LM's output is projected to


PRESETS: dict[str, DecoderPreset] = {
    "tiny": DecoderPreset(
        (64, 128),
        ("CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
        ("CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
        1,
        8,
        (32, 64, 64),  # 32 px images -> 8x8x4 latents
        16,
        64,
    ),
    "sd15": DecoderPreset(
        (320, 640, 1280, 1280),
        ("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
        ("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
        2,
        8,
        (128, 256, 512, 512),
        32,
        768,
    ),
}


def latent_size(preset: str, image_size: int) -> int:
    return image_size // 2 ** (len(PRESETS[preset].vae_channels) - 1)


def build_vae(preset: str, image_size: int) -> Any:
    from diffusers import AutoencoderKL

    p = PRESETS[preset]
    n = len(p.vae_channels)
    return AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * n,
        up_block_types=("UpDecoderBlock2D",) * n,
        block_out_channels=p.vae_channels,
        layers_per_block=1 if preset == "tiny" else 2,
        latent_channels=4,
        norm_num_groups=p.norm_groups,
        sample_size=image_size,
        mid_block_add_attention=preset != "tiny",  # 16x16 self-attention costs a third of a CPU step
    )


def build_unet(preset: str, image_size: int) -> Any:
    from diffusers import UNet2DConditionModel

    p = PRESETS[preset]
    return UNet2DConditionModel(
        sample_size=latent_size(preset, image_size),
        in_channels=4,
        out_channels=4,
        layers_per_block=p.layers_per_block,
        block_out_channels=p.unet_channels,
        down_block_types=p.unet_down,
        up_block_types=p.unet_up,
        cross_attention_dim=p.cross_attention_dim,
        attention_head_dim=p.attention_head_dim,
        norm_num_groups=p.norm_groups,
        # the pooled conditioning is also added to the timestep embedding (SDXL's pooled-text path), so every
        # ResNet block sees the user's taste, not only the cross-attention layers
        class_embed_type="projection",
        projection_class_embeddings_input_dim=p.cross_attention_dim,
    )


def pooled(cond: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Masked mean of the conditioning: cond (B, L, X), mask (B, L) -> (B, X)."""
    weights = mask.to(cond.dtype).unsqueeze(-1)
    return (cond * weights).sum(1) / weights.sum(1).clamp_min(1.0)


def denoise(unet: Any, latents: torch.Tensor, t: torch.Tensor, cond: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """ε prediction (B, 4, h, w) for noisy latents (B, 4, h, w) at timesteps t, conditioned on (B, L, X)."""
    return unet(
        latents, t, encoder_hidden_states=cond, encoder_attention_mask=mask, class_labels=pooled(cond, mask)
    ).sample


def build_scheduler(timesteps: int, prediction_type: str = "epsilon") -> Any:
    from diffusers import DDPMScheduler

    return DDPMScheduler(
        num_train_timesteps=timesteps, beta_schedule="squaredcos_cap_v2", prediction_type=prediction_type
    )


def training_target(scheduler: Any, x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """What the UNet learns to predict for latents x0 (B, 4, h, w) noised with `noise` at t: ε or v."""
    if scheduler.config.prediction_type == "v_prediction":
        return scheduler.get_velocity(x0, noise, t)
    return noise


def add_unet_lora(unet: Any, rank: int) -> None:
    """LoRA on the UNet's attention projections (large presets); only the adapters stay trainable."""
    from peft import LoraConfig

    unet.requires_grad_(False)
    unet.add_adapter(LoraConfig(r=rank, lora_alpha=rank, target_modules=["to_q", "to_k", "to_v", "to_out.0"]))


def train_vae(vae: Any, images: torch.Tensor, steps: int, seed: int, batch: int = 32, lr: float = 2e-3) -> list[float]:
    """Fit the autoencoder to (N, 3, S, S) images in [-1, 1]: MSE + 1e-6 KL (SD's weighting); returns losses."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    opt = torch.optim.AdamW(vae.parameters(), lr=lr)
    sched = warmup_cosine(opt, steps)
    vae.train()
    losses = []
    for _ in range(steps):
        x = images[torch.from_numpy(rng.integers(0, len(images), batch))]
        posterior = vae.encode(x).latent_dist
        recon = vae.decode(posterior.sample()).sample
        loss = torch.nn.functional.mse_loss(recon, x) + 1e-6 * posterior.kl().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        losses.append(float(loss.detach()))
    vae.eval().requires_grad_(False)
    return losses


@torch.no_grad()
def latent_scale(vae: Any, images: torch.Tensor, batch: int = 256) -> float:
    """1 / std of the latents' means over `images`, SD's `scaling_factor` recipe."""
    means = [vae.encode(images[s : s + batch]).latent_dist.mean for s in range(0, len(images), batch)]
    return float(1.0 / torch.cat(means).std())
