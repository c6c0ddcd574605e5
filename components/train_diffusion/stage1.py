"""Stage 1, masked preference reconstruction: fit the encoder and autoencoder, then train mask generator, LM
(LoRA) and UNet to denoise the target image's latent conditioned on the instruction and the kept history.

A share of samples (`history_dropout`) sees the instruction only, so the same decoder also serves the
no-history baseline. The validation denoising loss is measured with and without history on fixed noise.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from components.common.models import load_base_model
from components.common.training import best_device, warmup_cosine
from components.train_diffusion.bundle import PigeonModel, build_conditioner
from components.train_diffusion.config import Stage1Config
from components.train_diffusion.data import ImageData, Windows
from components.train_diffusion.decoder import (
    add_unet_lora,
    build_unet,
    build_vae,
    denoise,
    latent_scale,
    train_vae,
    training_target,
)
from components.train_diffusion.encoder import to_tensor, train_encoder

log = logging.getLogger(__name__)
Progress = Callable[[str, int, dict[str, float]], None]


@torch.no_grad()
def target_latents(model: PigeonModel, images: np.ndarray, items: np.ndarray, batch: int = 256) -> torch.Tensor:
    """(n_items, 4, h, w) scaled latent means of `items` (other rows zero), computed once."""
    size = model.unet.config.sample_size
    out = torch.zeros(len(images), 4, size, size)
    for s in range(0, len(items), batch):
        idx = items[s : s + batch]
        x = to_tensor(images[idx]).to(model.device)
        out[torch.from_numpy(idx)] = model.vae.encode(x).latent_dist.mean.cpu() * model.meta["latent_scale"]
    return out


def denoising_loss(
    model: PigeonModel,
    latents: torch.Tensor,
    windows: Windows,
    titles: list[str],
    use_history: torch.Tensor,
    generator: torch.Generator,
    mask_noise: bool,
) -> torch.Tensor:
    """Mean prediction MSE (v or ε) of the UNet on the windows' target latents (B, 4, h, w), noised at random t."""
    x0 = latents[torch.from_numpy(windows.targets)].to(model.device)
    noise = torch.randn(x0.shape, generator=generator).to(model.device)
    t = torch.randint(0, model.scheduler.config.num_train_timesteps, (len(x0),), generator=generator).to(model.device)
    noisy = model.scheduler.add_noise(x0, noise, t)
    hist, ids, mask = model.inputs(windows.histories, windows.targets, titles)
    cond, cond_mask, _ = model.conditioner(hist, ids, mask, use_history.to(model.device), noise=mask_noise)
    pred = denoise(model.unet, noisy, t, cond, cond_mask)
    return torch.nn.functional.mse_loss(pred, training_target(model.scheduler, x0, noise, t))


def build_model(config: Stage1Config, data: ImageData, progress: Progress) -> PigeonModel:
    """Encoder and autoencoder fitted on the catalogue's images, a fresh conditioner and UNet."""
    present = np.flatnonzero(data.present)
    images = data.images
    started = time.perf_counter()
    encoder, enc_losses = train_encoder(
        images[present], data.genres[present], config.tokens_per_image, config.encoder_epochs, config.model_seed
    )
    for epoch, loss in enumerate(enc_losses):
        progress("encoder", epoch + 1, {"encoder_loss": loss})
    log.info(
        "image encoder: %d epochs in %.1fs, loss %.4f", len(enc_losses), time.perf_counter() - started, enc_losses[-1]
    )
    x = to_tensor(images[present])
    vae = build_vae(config.diffusion_preset, data.meta["image_size"])
    started = time.perf_counter()
    vae_losses = train_vae(vae, x, config.vae_steps, config.model_seed)
    window = max(1, min(25, len(vae_losses) // 4))
    for end in range(window, len(vae_losses) + 1, window):
        progress("vae", end, {"vae_loss": float(np.mean(vae_losses[end - window : end]))})
    log.info(
        "autoencoder: %d steps in %.1fs, loss %.5f", config.vae_steps, time.perf_counter() - started, vae_losses[-1]
    )
    lm, tokenizer = load_base_model(config.lm_model, corpus=data.titles, seed=config.model_seed)
    meta = {
        **config.to_params(),
        "image_size": data.meta["image_size"],
        "history_len": data.meta["history_len"],
        "n_genres": int(data.genres.shape[1]),
        "encoder_width": encoder.width,
        "latent_scale": latent_scale(vae, x),
        "vae_final_loss": float(np.mean(vae_losses[-25:])),
        "encoder_final_loss": enc_losses[-1],
    }
    torch.manual_seed(config.model_seed)
    unet = build_unet(config.diffusion_preset, data.meta["image_size"])
    if config.unet_lora_r:
        add_unet_lora(unet, config.unet_lora_r)
    model = PigeonModel(encoder, vae, unet, build_conditioner(lm, meta), tokenizer, meta)
    model.cache_item_tokens(images)
    return model


def trainable(model: PigeonModel) -> list[torch.nn.Parameter]:
    params = [p for p in model.conditioner.parameters() if p.requires_grad]
    return params + [p for p in model.unet.parameters() if p.requires_grad]


def train_stage1(config: Stage1Config, data_dir: str, out_dir: str, progress: Progress) -> dict:
    data = ImageData(data_dir)
    model = build_model(config, data, progress).to(best_device())
    train, valid = data.split("train"), data.split("valid")
    if not len(train):
        from components.common.errors import DataError

        raise DataError(Path(data_dir) / "windows.parquet", "no training windows; expected users with >= 6 items")
    items = np.flatnonzero(data.present)
    latents = target_latents(model, data.images, items)
    params = trainable(model)
    opt = torch.optim.AdamW(params, lr=config.stage1_lr, weight_decay=0.01)
    sched = warmup_cosine(opt, config.stage1_steps)
    rng = np.random.default_rng(config.model_seed)
    gen = torch.Generator().manual_seed(config.model_seed)
    model.unet.train()
    model.conditioner.train()
    started, window_losses = time.perf_counter(), []
    for step in range(config.stage1_steps):
        batch = train.take(rng.integers(0, len(train), config.batch_size))
        use_history = torch.rand(len(batch), generator=gen) >= config.history_dropout
        loss = denoising_loss(model, latents, batch, data.titles, use_history, gen, mask_noise=True)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        window_losses.append(loss.item())
        if step == 0 or (step + 1) % 25 == 0 or step + 1 == config.stage1_steps:
            progress(
                "stage1", step + 1, {"stage1_loss": float(np.mean(window_losses[-25:])), "lr": sched.get_last_lr()[0]}
            )
    seconds = time.perf_counter() - started
    valid_losses = validation_losses(model, latents, valid if len(valid) else train, data.titles, config.model_seed)
    model.to("cpu").save(out_dir, "stage1")
    return {
        "stage1_seconds": seconds,
        "stage1_images_per_second": config.stage1_steps * config.batch_size / seconds,
        "stage1_final_loss": float(np.mean(window_losses[-25:])),
        "latent_scale": model.meta["latent_scale"],
        "vae_final_loss": model.meta["vae_final_loss"],
        "encoder_final_loss": model.meta["encoder_final_loss"],
        **valid_losses,
    }


@torch.no_grad()
def validation_losses(
    model: PigeonModel, latents: torch.Tensor, windows: Windows, titles: list[str], seed: int
) -> dict:
    """Denoising loss on up to 256 validation windows with and without history, the same noise for both."""
    model.unet.eval()
    model.conditioner.eval()
    part = windows.take(np.arange(min(256, len(windows))))
    out = {}
    for name, flag in (("valid_loss_history", True), ("valid_loss_no_history", False)):
        total = 0.0
        for rep in range(4):
            gen = torch.Generator().manual_seed(seed + rep)
            flags = torch.full((len(part),), flag)
            total += float(denoising_loss(model, latents, part, titles, flags, gen, mask_noise=False))
        out[name] = total / 4
    return out
