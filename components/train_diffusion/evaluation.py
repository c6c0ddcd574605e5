"""Evaluation of one Pigeon variant on held-out users: generate for test windows (the same noise seeds for every
variant), then history similarity, history SSIM and target similarity, per window and on average, plus the
sample users' images for the grid.

Variants: `pigeon` (stage-2 model), `pigeon-stage1`, and `no-history` (the stage-1 decoder conditioned on the
instruction only).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import torch

from components.common.atomic import atomic_dir
from components.common.errors import DataError
from components.common.training import best_device
from components.train_diffusion.bundle import load_pigeon
from components.train_diffusion.config import ImageEvalConfig
from components.train_diffusion.data import ImageData, Windows
from components.train_diffusion.encoder import ImageEncoder, embed_images, to_tensor, to_uint8
from components.train_diffusion.grid import save_grid
from components.train_diffusion.heldout import HeldoutEncoder, load_evaluator, pairwise_diversity
from components.train_diffusion.metrics import history_similarity, history_ssim
from components.train_diffusion.sampling import generate

METRICS = (
    "history_similarity",
    "history_ssim",
    "target_similarity",
    "history_similarity_heldout",
    "target_similarity_heldout",
)


def eval_windows(data: ImageData, config: ImageEvalConfig) -> tuple[Windows, np.ndarray]:
    """The test windows evaluated (a seeded subset when `eval_windows` > 0) and their row numbers."""
    test = data.split("test")
    if not len(test):
        raise DataError(data.path / "windows.parquet", "no test windows; expected held-out users with >= 6 items")
    rows = np.arange(len(test))
    if config.eval_windows and config.eval_windows < len(test):
        rows = np.sort(np.random.default_rng(config.eval_seed).choice(len(test), config.eval_windows, replace=False))
    return test.take(rows), rows


def grid_rows(windows: Windows, count: int) -> np.ndarray:
    """Positions of the first window of each of the first `count` distinct users."""
    _, first = np.unique(windows.users, return_index=True)
    return np.sort(first)[:count]


def similarities(gen: torch.Tensor, windows: Windows, item_embeds: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """(B, D) unit embeddings of generations -> per-window cosine to the history (mean) and to the target."""
    hist = item_embeds[torch.from_numpy(windows.histories)]  # (B, H, D)
    target = item_embeds[torch.from_numpy(windows.targets)]  # (B, D)
    return history_similarity(gen, hist).cpu().numpy(), (gen * target).sum(-1).cpu().numpy()


def score_images(
    images: torch.Tensor,
    windows: Windows,
    item_embeds: torch.Tensor,
    heldout_embeds: torch.Tensor,
    all_images: np.ndarray,
    encoder: ImageEncoder,
    evaluator: HeldoutEncoder,
) -> tuple[dict[str, np.ndarray], torch.Tensor]:
    """Per-window metrics of generated (B, 3, S, S) images in [-1, 1] (on the encoders' device), and their (B, D')
    embeddings in the held-out evaluator's space (for the diversity across users)."""
    hist_px = to_tensor(all_images[windows.histories.ravel()]).view(
        len(windows), windows.histories.shape[1], *images.shape[1:]
    )
    history, target = similarities(encoder.embed(images), windows, item_embeds)
    gen_heldout = evaluator.embed(images)  # (B, D')
    history_heldout, target_heldout = similarities(gen_heldout, windows, heldout_embeds)
    return {
        "history_similarity": history,
        "history_ssim": history_ssim(images.cpu(), hist_px).numpy(),
        "target_similarity": target,
        "history_similarity_heldout": history_heldout,
        "target_similarity_heldout": target_heldout,
    }, gen_heldout


@torch.no_grad()
def evaluate_variant(
    config: ImageEvalConfig, variant: str, data_dir: str, model_dir: str, evaluator_dir: str, out_dir: str
) -> dict:
    data = ImageData(data_dir)
    model = load_pigeon(model_dir)
    model.cache_item_tokens(data.images)
    model.to(best_device())
    evaluator = load_evaluator(evaluator_dir).to(model.device)
    windows, rows = eval_windows(data, config)
    item_embeds = embed_images(model.encoder, data.images)  # (n_items, D)
    heldout_embeds = embed_images(evaluator, data.images)  # (n_items, D')
    gen_heldout = []
    use_history = variant != "no-history"
    started = time.perf_counter()
    scores: dict[str, list[np.ndarray]] = {k: [] for k in METRICS}
    generated = []
    for start in range(0, len(windows), 64):
        part = windows.take(np.arange(start, min(start + 64, len(windows))))
        seeds = [config.eval_seed * 1_000_003 + int(r) for r in rows[start : start + 64]]
        _, images = generate(
            model,
            part.histories,
            part.targets,
            data.titles,
            use_history,
            seeds,
            config.eval_sample_steps,
            guidance=config.eval_guidance_scale,
        )
        encoders = (model.encoder, evaluator)
        scored, embedded = score_images(images, part, item_embeds, heldout_embeds, data.images, *encoders)
        for key, values in scored.items():
            scores[key].append(values)
        gen_heldout.append(embedded)
        generated.append(to_uint8(images))
    seconds = time.perf_counter() - started
    per_window = {k: np.concatenate(v) for k, v in scores.items()}
    images_u8 = np.concatenate(generated)  # (N, S, S, 3)
    targets_px = to_tensor(data.images[windows.targets]).to(model.device)
    encoders = (model.encoder, evaluator)
    reference, target_heldout = score_images(targets_px, windows, item_embeds, heldout_embeds, data.images, *encoders)
    summary = {k: float(v.mean()) for k, v in per_window.items()}
    summary["diversity_heldout"] = pairwise_diversity(torch.cat(gen_heldout), windows.users)
    record = {
        "variant": variant,
        "stage": model.meta.get("stage", ""),
        "windows": len(windows),
        "users": len(np.unique(windows.users)),
        "seconds": seconds,
        "metrics": summary,
        "target_poster": {
            **{k: float(reference[k].mean()) for k in ("history_similarity", "history_ssim")},
            "history_similarity_heldout": float(reference["history_similarity_heldout"].mean()),
            "diversity_heldout": pairwise_diversity(target_heldout, windows.users),
        },
    }
    show = grid_rows(windows, config.grid_users)
    with atomic_dir(out_dir) as tmp:
        (tmp / "metrics.json").write_text(json.dumps(record, indent=2), encoding="utf-8")
        np.savez(tmp / "scores.npz", rows=rows, users=windows.users, **per_window)
        np.savez(
            tmp / "samples.npz",
            generated=images_u8[show],
            history=data.images[windows.histories[show]],
            target=data.images[windows.targets[show]],
            users=windows.users[show],
        )
        if len(show):
            save_grid(
                tmp / "grid.png",
                data.images[windows.histories[show]],
                [images_u8[show]],
                data.images[windows.targets[show]],
            )
    return record


def read_evaluation(folder: str | Path) -> dict:
    path = Path(folder) / "metrics.json"
    if not path.is_file():
        raise DataError(path, "file not found; expected an evaluation from the pigeon evaluate step")
    return json.loads(path.read_text(encoding="utf-8"))
