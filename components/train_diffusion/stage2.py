"""Stage 2, pairwise preference alignment: for training windows, sample several generations from the stage-1
model (fresh noise and Gumbel masks each), score them by similarity to the user's history in the image
encoder's space, take the most similar as chosen and the least similar as rejected, and fine-tune with
Diffusion-DPO against the frozen stage-1 model (the paper's selection rule, with our encoder for CLIP).
"""

from __future__ import annotations

import time

import numpy as np
import torch

from components.common.errors import DataError
from components.common.training import best_device
from components.train_diffusion.bundle import PigeonModel, load_pigeon
from components.train_diffusion.config import Stage2Config
from components.train_diffusion.data import ImageData, Windows
from components.train_diffusion.decoder import denoise, training_target
from components.train_diffusion.dpo import diffusion_dpo_loss
from components.train_diffusion.encoder import embed_images
from components.train_diffusion.metrics import history_similarity
from components.train_diffusion.sampling import generate
from components.train_diffusion.stage1 import Progress, trainable


def preference_pairs(
    model: PigeonModel, data: ImageData, config: Stage2Config, progress: Progress, chunk: int = 32
) -> tuple[torch.Tensor, torch.Tensor, Windows, dict]:
    """Chosen and rejected latents (P, 4, h, w), their windows, and the similarity statistics."""
    train = data.split("train")
    if not len(train):
        raise DataError(data.path / "windows.parquet", "no training windows; expected users with >= 6 items")
    rng = np.random.default_rng(config.dpo_seed)
    rows = rng.choice(len(train), size=min(config.dpo_windows, len(train)), replace=False)
    windows = train.take(rows)
    item_embeds = embed_images(model.encoder, data.images)  # (n_items, D)
    mask_gen = torch.Generator().manual_seed(config.dpo_seed)
    chosen, rejected, sims = [], [], []
    for start in range(0, len(windows), chunk):
        part = windows.take(np.arange(start, min(start + chunk, len(windows))))
        hist = np.repeat(part.histories, config.dpo_samples, axis=0)
        targets = np.repeat(part.targets, config.dpo_samples)
        seeds = [
            config.dpo_seed * 1_000_003 + (start + i) * 97 + j
            for i in range(len(part))
            for j in range(config.dpo_samples)
        ]
        latents, images = generate(
            model,
            hist,
            targets,
            data.titles,
            True,
            seeds,
            config.sample_steps,
            mask_noise=True,
            mask_generator=mask_gen,
            guidance=config.guidance_scale,
        )
        embeds = model.encoder.embed(images)  # (n * samples, D)
        sim = history_similarity(embeds, item_embeds[torch.from_numpy(hist)]).view(len(part), config.dpo_samples)
        best, worst = sim.argmax(1), sim.argmin(1)
        grouped = latents.view(len(part), config.dpo_samples, *latents.shape[1:])
        idx = torch.arange(len(part))
        chosen.append(grouped[idx, best].cpu())
        rejected.append(grouped[idx, worst].cpu())
        sims.append(sim.cpu())
        progress(
            "pairs", start + len(part), {"pair_similarity_gap": float((sim.max(1).values - sim.min(1).values).mean())}
        )
    sim_all = torch.cat(sims)
    stats = {
        "pairs": len(windows),
        "sample_history_similarity": float(sim_all.mean()),
        "chosen_history_similarity": float(sim_all.max(1).values.mean()),
        "rejected_history_similarity": float(sim_all.min(1).values.mean()),
    }
    return torch.cat(chosen), torch.cat(rejected), windows, stats


def train_stage2(config: Stage2Config, data_dir: str, stage1_dir: str, out_dir: str, progress: Progress) -> dict:
    data = ImageData(data_dir)
    policy = load_pigeon(stage1_dir)
    reference = load_pigeon(stage1_dir)
    policy.cache_item_tokens(data.images)
    reference.item_tokens = policy.item_tokens
    policy.to(best_device())
    reference.to(best_device())
    reference.unet.requires_grad_(False).eval()
    reference.conditioner.requires_grad_(False).eval()
    started = time.perf_counter()
    chosen, rejected, windows, pair_stats = preference_pairs(policy, data, config, progress)
    pair_seconds = time.perf_counter() - started
    params = trainable(policy)
    opt = torch.optim.AdamW(params, lr=config.dpo_lr, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / max(1, config.dpo_steps // 20)))
    rng = np.random.default_rng(config.dpo_seed + 1)
    gen = torch.Generator().manual_seed(config.dpo_seed + 2)
    policy.unet.train()
    policy.conditioner.train()
    history: list[dict[str, float]] = []
    started = time.perf_counter()
    dev = policy.device
    for step in range(config.dpo_steps):
        pick = rng.integers(0, len(windows), min(config.dpo_batch_size, len(windows)))
        part = windows.take(pick)
        x_w, x_l = chosen[pick].to(dev), rejected[pick].to(dev)
        noise = torch.randn(x_w.shape, generator=gen).to(dev)
        t = torch.randint(0, policy.scheduler.config.num_train_timesteps, (len(pick),), generator=gen).to(dev)
        noisy = torch.cat([policy.scheduler.add_noise(x_w, noise, t), policy.scheduler.add_noise(x_l, noise, t)])
        flags = torch.ones(len(pick), dtype=torch.bool, device=dev)
        hist, ids, mask = policy.inputs(part.histories, part.targets, data.titles)
        cond, cond_mask, _ = policy.conditioner(hist, ids, mask, flags, noise=False)
        pred = denoise(policy.unet, noisy, t.repeat(2), cond.repeat(2, 1, 1), cond_mask.repeat(2, 1))
        with torch.no_grad():
            r_cond, r_mask, _ = reference.conditioner(hist, ids, mask, flags, noise=False)
            ref = denoise(reference.unet, noisy, t.repeat(2), r_cond.repeat(2, 1, 1), r_mask.repeat(2, 1))
        p_w, p_l = pred.chunk(2)
        r_w, r_l = ref.chunk(2)
        y_w = training_target(policy.scheduler, x_w, noise, t)
        y_l = training_target(policy.scheduler, x_l, noise, t)
        loss, stats = diffusion_dpo_loss(p_w, p_l, r_w, r_l, y_w, y_l, config.dpo_beta)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        history.append({"dpo_loss": float(loss), **stats})
        if step == 0 or (step + 1) % 20 == 0 or step + 1 == config.dpo_steps:
            recent = history[-20:]
            progress("stage2", step + 1, {k: float(np.mean([h[k] for h in recent])) for k in recent[0]})
    seconds = time.perf_counter() - started
    policy.to("cpu").save(out_dir, "stage2")
    last = history[-20:]
    return {
        **pair_stats,
        "pair_seconds": pair_seconds,
        "stage2_seconds": seconds,
        "stage2_images_per_second": config.dpo_steps * min(config.dpo_batch_size, len(windows)) * 2 / seconds,
        "stage2_final_loss": float(np.mean([h["dpo_loss"] for h in last])),
        "stage2_implicit_accuracy": float(np.mean([h["implicit_accuracy"] for h in last])),
    }
