"""SFT with the language-model head applied only where the loss is computed (the completion tokens).

Recommendation prompts are long (10 history titles + 20 candidates, ~370 tokens) and completions short
(one title, ~7 tokens); TRL's default loss runs the vocabulary projection and its log-softmax over every
position. This trainer takes the final hidden states from the model's own forward (through DDP and PEFT, so
gradients synchronise as usual), keeps the positions that predict a completion token, and projects only
those: the same loss, a fraction of the work (see tests/benchmarks/bench_sft_head.py).
"""

from __future__ import annotations

from typing import Any

import torch
import trl
from torch.nn import functional as F


def final_states(model: Any, inputs: dict) -> Any:
    """The model's forward with every position's final hidden state and the logits of the last position only."""
    return model(
        input_ids=inputs["input_ids"],
        attention_mask=inputs.get("attention_mask"),
        output_hidden_states=True,
        logits_to_keep=1,
        use_cache=False,
    )


class CompletionHeadSFTTrainer(trl.SFTTrainer):
    """`trl.SFTTrainer` whose loss projects only completion positions; metrics: loss and token accuracy."""

    def compute_loss(
        self, model: Any, inputs: dict, return_outputs: bool = False, num_items_in_batch: Any = None
    ) -> Any:
        labels = inputs["labels"]  # (B, T), -100 on prompt and padding
        out = final_states(model, inputs)
        hidden = out.hidden_states[-1][:, :-1]  # (B, T-1, H) after the final norm
        targets = labels[:, 1:]  # (B, T-1): position t predicts token t+1
        keep = targets != -100
        head = self.accelerator.unwrap_model(model).get_output_embeddings()
        logits = head(hidden[keep]).float()  # (N, V)
        total = F.cross_entropy(logits, targets[keep], reduction="sum")
        count = keep.sum() if num_items_in_batch is None else num_items_in_batch
        # out.logits (last position only) joins the graph so every parameter DDP tracks takes part
        loss = total / torch.as_tensor(count, device=total.device).clamp(min=1) + 0.0 * out.logits.sum()
        if self.args.average_tokens_across_devices and num_items_in_batch is not None:
            loss = loss * self.accelerator.num_processes
        mode = "train" if model.training else "eval"
        with torch.no_grad():
            accuracy = (logits.argmax(-1) == targets[keep]).float().mean() if keep.any() else logits.new_zeros(())
        self._metrics[mode]["mean_token_accuracy"].append(self.accelerator.gather_for_metrics(accuracy).mean().item())
        return (loss, out) if return_outputs else loss
