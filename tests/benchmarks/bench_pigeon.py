"""Benchmark: Pigeon training throughput (images per second) for stage 1 and stage 2, side by side with the
obvious alternative of each.

1. stage 1 (masked preference reconstruction): recforge caches the frozen encoder's history tokens and the
   target latents once; the alternative runs the image encoder on the 5 history images and the VAE encoder on
   the target in every step (what a straightforward training loop does);
2. stage 2 (Diffusion-DPO): recforge computes the frozen reference's predictions in the same step under
   no_grad with one batched UNet call for chosen and rejected; the alternative calls policy and reference
   separately for chosen and rejected (four UNet calls per step).

Run on demand:

    python tests/benchmarks/bench_pigeon.py [--preset tiny|sd15] [--steps 20] [--batch 32] [--device cpu|cuda]

The sd15 preset is an SD-1.5-sized UNet (860M parameters, 64x64 latents from 512 px images); run it on a GPU.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch

from components.common.tiny import build_model, build_tokenizer
from components.train_diffusion.bundle import PigeonModel, build_conditioner
from components.train_diffusion.decoder import PRESETS, build_unet, build_vae, denoise, latent_size
from components.train_diffusion.dpo import diffusion_dpo_loss
from components.train_diffusion.encoder import ImageEncoder


def make_model(preset: str, image_size: int, device: str) -> PigeonModel:
    tokenizer = build_tokenizer([f"Movie {i} ({1950 + i % 70})" for i in range(500)], vocab_size=1024)
    lm = build_model("tiny", len(tokenizer), 0, tokenizer)
    meta = {
        "history_len": 5, "tokens_per_image": 4, "keep_ratio": 0.8, "gumbel_tau": 1.0, "lm_lora_r": 8,
        "lm_lora_alpha": 16, "diffusion_preset": preset, "encoder_width": 64, "n_genres": 19, "latent_scale": 1.0,
        "train_timesteps": 1000, "image_size": image_size,
    }  # fmt: skip
    model = PigeonModel(
        ImageEncoder(19).eval().requires_grad_(False),
        build_vae(preset, image_size).eval().requires_grad_(False),
        build_unet(preset, image_size),
        build_conditioner(lm, meta),
        tokenizer,
        meta,
    )
    return model.to(device)


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def timed(fn, steps: int, device: str) -> float:
    fn()  # warm-up
    sync(device)
    started = time.perf_counter()
    for _ in range(steps):
        fn()
    sync(device)
    return (time.perf_counter() - started) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="tiny", choices=sorted(PRESETS))
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--dtype", default="float32", choices=("float32", "bfloat16"))
    args = parser.parse_args()
    image_size = 32 if args.preset == "tiny" else 512
    device, batch = args.device, args.batch
    model = make_model(args.preset, image_size, device)
    autocast = torch.autocast(device, dtype=torch.bfloat16, enabled=args.dtype == "bfloat16")
    n_items = 256
    images = torch.rand(n_items, 3, image_size, image_size, device=device) * 2 - 1
    titles = [f"Movie {i}" for i in range(n_items)]
    with torch.no_grad():
        model.item_tokens = torch.cat([model.encoder.tokens(images[s : s + 32]) for s in range(0, n_items, 32)])
        size = latent_size(args.preset, image_size)
        cached_latents = torch.cat(
            [model.vae.encode(images[s : s + 16]).latent_dist.mean for s in range(0, n_items, 16)]
        )
    params = [p for p in model.conditioner.parameters() if p.requires_grad] + list(model.unet.parameters())
    opt = torch.optim.AdamW(params, lr=1e-4)
    rng = np.random.default_rng(0)

    def stage1_step(cached: bool) -> None:
        hist_items = rng.integers(0, n_items, (batch, 5))
        targets = rng.integers(0, n_items, batch)
        with autocast:
            if cached:
                hist, ids, mask = model.inputs(hist_items, targets, titles)
                x0 = cached_latents[torch.from_numpy(targets).to(device)]
            else:
                with torch.no_grad():
                    hist = model.encoder.tokens(images[torch.from_numpy(hist_items.ravel()).to(device)])
                    hist = hist.reshape(batch, -1, hist.shape[-1])
                    x0 = model.vae.encode(images[torch.from_numpy(targets).to(device)]).latent_dist.mean
                _, ids, mask = model.inputs(hist_items, targets, titles)
            noise = torch.randn_like(x0)
            t = torch.randint(0, 1000, (batch,), device=device)
            flags = torch.ones(batch, dtype=torch.bool, device=device)
            cond, cond_mask, _ = model.conditioner(hist, ids, mask, flags, noise=True)
            pred = denoise(model.unet, model.scheduler.add_noise(x0, noise, t), t, cond, cond_mask)
            loss = torch.nn.functional.mse_loss(pred.float(), noise)
        opt.zero_grad()
        loss.backward()
        opt.step()

    reference_unet = build_unet(args.preset, image_size).to(device).requires_grad_(False)

    def stage2_step(batched: bool) -> None:
        pick = rng.integers(0, n_items, batch)
        hist_items = rng.integers(0, n_items, (batch, 5))
        x_w = cached_latents[torch.from_numpy(pick).to(device)]
        x_l = cached_latents[torch.from_numpy((pick + 1) % n_items).to(device)]
        noise = torch.randn_like(x_w)
        t = torch.randint(0, 1000, (batch,), device=device)
        with autocast:
            hist, ids, mask = model.inputs(hist_items, pick, titles)
            flags = torch.ones(batch, dtype=torch.bool, device=device)
            cond, cond_mask, _ = model.conditioner(hist, ids, mask, flags, noise=False)
            n_w, n_l = model.scheduler.add_noise(x_w, noise, t), model.scheduler.add_noise(x_l, noise, t)
            if batched:
                c2, m2 = cond.repeat(2, 1, 1), cond_mask.repeat(2, 1)
                p_w, p_l = denoise(model.unet, torch.cat([n_w, n_l]), t.repeat(2), c2, m2).chunk(2)
                with torch.no_grad():
                    r_w, r_l = denoise(reference_unet, torch.cat([n_w, n_l]), t.repeat(2), c2.detach(), m2).chunk(2)
            else:
                p_w = denoise(model.unet, n_w, t, cond, cond_mask)
                p_l = denoise(model.unet, n_l, t, cond, cond_mask)
                with torch.no_grad():
                    r_w = denoise(reference_unet, n_w, t, cond.detach(), cond_mask)
                    r_l = denoise(reference_unet, n_l, t, cond.detach(), cond_mask)
            loss, _ = diffusion_dpo_loss(p_w, p_l, r_w, r_l, noise, noise, 2000.0)
        opt.zero_grad()
        loss.backward()
        opt.step()

    rows = []
    for name, fn, per_step in (
        ("stage 1, cached tokens and latents (recforge)", lambda: stage1_step(True), batch),
        ("stage 1, encoders in every step", lambda: stage1_step(False), batch),
        ("stage 2, batched chosen+rejected (recforge)", lambda: stage2_step(True), 2 * batch),
        ("stage 2, four separate UNet calls", lambda: stage2_step(False), 2 * batch),
    ):
        seconds = timed(fn, args.steps, device)
        rows.append({"what": name, "seconds_per_step": seconds, "images_per_second": per_step / seconds})
    params_unet = sum(p.numel() for p in model.unet.parameters())
    machine = (
        torch.cuda.get_device_name()
        if device == "cuda"
        else f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"
    )
    shape = f"UNet {params_unet / 1e6:.1f}M parameters, {size}x{size} latents"
    print(f"preset {args.preset} ({shape}), batch {batch}, {args.dtype}, {machine}")
    print("| what | s/step | images/s | time vs recforge |\n|---|---|---|---|")
    for i, row in enumerate(rows):
        base = rows[i - i % 2]["seconds_per_step"]
        cells = [f"{row['seconds_per_step']:.3f}", f"{row['images_per_second']:.1f}"]
        print(f"| {row['what']} | " + " | ".join(cells) + f" | {row['seconds_per_step'] / base:.2f}x |")
    out = Path(__file__).parent / "results" / f"pigeon-{args.preset}-{device}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    record = {"preset": args.preset, "batch": batch, "device": machine, "dtype": args.dtype, "rows": rows}
    out.write_text(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
