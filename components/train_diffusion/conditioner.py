"""Pigeon's personalization module at small scale: history image tokens, masked by the mask generator, and the
instruction go through a causal LM (LoRA on q and v, the paper's r=8, alpha=16) whose last hidden states,
projected, are the cross-attention conditioning of the diffusion UNet.

Sequence layout: [instruction tokens (right-padded)] [history tokens]. A sample without history (history
dropout in training, the no-history baseline at evaluation) masks the history positions out of the LM's
attention and of the UNet's cross-attention, so the same decoder serves both.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from components.train_diffusion.mask import MaskGenerator

INSTRUCTION = "A poster for the movie titled {title}."
MAX_INSTRUCTION_TOKENS = 32


def add_lm_lora(lm: Any, rank: int, alpha: int) -> Any:
    """LoRA on q_proj and v_proj; every other LM weight frozen."""
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(r=rank, lora_alpha=alpha, lora_dropout=0.05, target_modules=["q_proj", "v_proj"])
    return get_peft_model(lm, config)


class Conditioner(nn.Module):
    def __init__(self, lm: Any, image_width: int, cross_dim: int, keep: int, tau: float) -> None:
        super().__init__()
        self.lm = lm  # a peft-wrapped causal LM
        hidden = lm.get_base_model().config.hidden_size
        self.history_proj = nn.Linear(image_width, hidden)
        self.masker = MaskGenerator(hidden, heads=4 if hidden % 4 == 0 else 1)
        self.out = nn.Linear(hidden, cross_dim)
        self.keep = keep
        self.tau = tau

    def backbone(self) -> Any:
        base = self.lm.get_base_model()
        return getattr(base, base.base_model_prefix)

    def forward(
        self,
        history_tokens: torch.Tensor,
        text_ids: torch.Tensor,
        text_mask: torch.Tensor,
        use_history: torch.Tensor,
        noise: bool,
        generator: torch.Generator | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """history_tokens (B, H, E), text_ids/text_mask (B, L), use_history (B,) bool ->
        conditioning (B, L + H, cross_dim), its attention mask (B, L + H), the keep-mask (B, H)."""
        hist = self.history_proj(history_tokens)  # (B, H, d)
        text = self.backbone().get_input_embeddings()(text_ids)  # (B, L, d)
        keep = self.masker(hist, text, text_mask, self.keep, self.tau, noise, generator)  # (B, H)
        hist = hist * keep.unsqueeze(-1)
        hist_attention = (keep.detach() > 0.5) & use_history.unsqueeze(1)
        mask = torch.cat([text_mask.bool(), hist_attention], dim=1).long()  # (B, L + H)
        hidden = self.backbone()(inputs_embeds=torch.cat([text, hist], dim=1), attention_mask=mask).last_hidden_state
        return self.out(hidden), mask, keep


def tokenize_instructions(tokenizer: Any, titles: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, L) ids and attention mask of the instructions, right-padded."""
    tokenizer.padding_side = "right"
    enc = tokenizer(
        [INSTRUCTION.format(title=t) for t in titles],
        padding=True,
        truncation=True,
        max_length=MAX_INSTRUCTION_TOKENS,
        return_tensors="pt",
    )
    return enc["input_ids"], enc["attention_mask"]
