"""A trained Pigeon model as one folder, and the helpers that turn windows into model inputs.

Folder layout: `pigeon.json` (sizes, latent scale, stage), `encoder.pt`, `vae/` and `unet/` (diffusers
`save_pretrained`), `lm/` (the LM's config) + `tokenizer/`, `conditioner.pt` (LM with LoRA, projector, mask
generator, output projection).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from components.common.atomic import atomic_dir
from components.common.errors import DataError
from components.train_diffusion.conditioner import Conditioner, add_lm_lora, tokenize_instructions
from components.train_diffusion.decoder import PRESETS, build_scheduler
from components.train_diffusion.encoder import ImageEncoder


@dataclass
class PigeonModel:
    encoder: ImageEncoder
    vae: Any
    unet: Any
    conditioner: Conditioner
    tokenizer: Any
    meta: dict
    item_tokens: torch.Tensor = field(init=False)  # (n_items, tokens_per_image, E) frozen encoder tokens

    def __post_init__(self) -> None:
        self.scheduler = build_scheduler(self.meta["train_timesteps"], self.meta.get("prediction_type", "epsilon"))
        self.item_tokens = torch.zeros(0)

    @property
    def device(self) -> torch.device:
        return next(self.unet.parameters()).device

    def cache_item_tokens(self, images: np.ndarray, batch: int = 512) -> None:
        """Encoder tokens of every item image, computed once."""
        from components.train_diffusion.encoder import to_tensor

        with torch.no_grad():
            parts = [self.encoder.tokens(to_tensor(images[s : s + batch])) for s in range(0, len(images), batch)]
        self.item_tokens = torch.cat(parts)

    def inputs(self, histories: np.ndarray, targets: np.ndarray, titles: list[str]) -> tuple[torch.Tensor, ...]:
        """History tokens (B, H * T, E) and the instruction ids / mask (B, L) for a batch of windows."""
        hist = self.item_tokens[torch.from_numpy(histories)]  # (B, H, T, E)
        ids, mask = tokenize_instructions(self.tokenizer, [titles[t] for t in targets.tolist()])
        device = self.device
        return hist.flatten(1, 2).to(device), ids.to(device), mask.to(device)

    def to(self, device: torch.device | str) -> PigeonModel:
        for module in (self.encoder, self.vae, self.unet, self.conditioner):
            module.to(device)
        self.item_tokens = self.item_tokens.to(device)
        return self

    def save(self, out_dir: str | Path, stage: str) -> None:
        with atomic_dir(out_dir) as tmp:
            self.vae.save_pretrained(tmp / "vae")
            self.unet.save_pretrained(tmp / "unet")
            torch.save(self.encoder.state_dict(), tmp / "encoder.pt")
            torch.save(self.conditioner.state_dict(), tmp / "conditioner.pt")
            self.conditioner.lm.get_base_model().config.save_pretrained(tmp / "lm")
            self.tokenizer.save_pretrained(tmp / "tokenizer")
            (tmp / "pigeon.json").write_text(json.dumps({**self.meta, "stage": stage}, indent=2), encoding="utf-8")


def build_conditioner(lm: Any, meta: dict) -> Conditioner:
    lm = add_lm_lora(lm, meta["lm_lora_r"], meta["lm_lora_alpha"])
    n_hist = meta["history_len"] * meta["tokens_per_image"]
    keep = max(1, round(meta["keep_ratio"] * n_hist))
    cross = PRESETS[meta["diffusion_preset"]].cross_attention_dim
    return Conditioner(lm, meta["encoder_width"], cross, keep, meta["gumbel_tau"])


def load_pigeon(model_dir: str | Path) -> PigeonModel:
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    folder = Path(model_dir)
    if not (folder / "pigeon.json").is_file():
        raise DataError(folder / "pigeon.json", "file not found; expected a model from the pigeon stage 1 or 2 step")
    meta = json.loads((folder / "pigeon.json").read_text(encoding="utf-8"))
    encoder = ImageEncoder(meta["n_genres"], meta["encoder_width"], meta["tokens_per_image"])
    encoder.load_state_dict(torch.load(folder / "encoder.pt", weights_only=True))
    lm = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(folder / "lm"))
    conditioner = build_conditioner(lm, meta)
    conditioner.load_state_dict(torch.load(folder / "conditioner.pt", weights_only=True))
    model = PigeonModel(
        encoder=encoder.eval().requires_grad_(False),
        vae=AutoencoderKL.from_pretrained(folder / "vae").eval().requires_grad_(False),
        unet=UNet2DConditionModel.from_pretrained(folder / "unet"),
        conditioner=conditioner,
        tokenizer=AutoTokenizer.from_pretrained(folder / "tokenizer"),
        meta=meta,
    )
    return model
