"""RecICL's training objective: binary cross-entropy on the raw "Yes" logit at the answer position.

As the reference code (ym689/rec_icl, `forward_v2`): only the last example's answer is supervised, and the
logit of the "Yes" token is used directly, with no softmax against "No". The samples are prompt/completion
pairs whose completion is "Yes" or "No"; the answer position is the one predicting the first completion token.
"""

from __future__ import annotations

from typing import Any

import torch
from torch.nn import functional as F

from components.train_sft.completion_head import CompletionHeadSFTTrainer, final_states


class YesLogitSFTTrainer(CompletionHeadSFTTrainer):
    """SFTTrainer whose loss is BCE(logit of the Yes token, label) at each sample's answer position."""

    yes_id: int = -1  # set by the caller: the first token of "Yes"

    def compute_loss(
        self, model: Any, inputs: dict, return_outputs: bool = False, num_items_in_batch: Any = None
    ) -> Any:
        labels = inputs["labels"]  # (B, T), -100 except on the completion
        out = final_states(model, inputs)
        targets = labels[:, 1:]
        answer = (targets != -100).int().argmax(dim=-1)  # (B,) first completion position, predicting it
        rows = torch.arange(labels.shape[0], device=labels.device)
        hidden = out.hidden_states[-1][rows, answer]  # (B, H)
        head = self.accelerator.unwrap_model(model).get_output_embeddings()
        yes_logit = head(hidden).float()[:, self.yes_id]  # (B,)
        label = (targets[rows, answer] == self.yes_id).float()
        loss = F.binary_cross_entropy_with_logits(yes_logit, label) + 0.0 * out.logits.sum()
        mode = "train" if model.training else "eval"
        with torch.no_grad():
            accuracy = ((yes_logit > 0).float() == label).float().mean()
        self._metrics[mode]["mean_token_accuracy"].append(self.accelerator.gather_for_metrics(accuracy).mean().item())
        return (loss, out) if return_outputs else loss
