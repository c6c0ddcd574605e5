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


def yes_logit_bce(hidden: Any, labels: Any, head: Any, yes_id: int) -> tuple[Any, Any, Any]:
    """(loss, Yes logits (B,), 0/1 labels (B,)) of a batch: hidden states (B, T, H) of the last layer, labels (B, T)
    (-100 except on the completion), `head` the output projection.

    The answer position a is the last prompt position (the one predicting the completion's first token); the
    label is 1 when that first completion token is `yes_id`; the loss is the mean BCE of head(h_a)[yes_id].
    """
    targets = labels[:, 1:]  # (B, T-1): position t predicts token t+1
    answer = (targets != -100).int().argmax(dim=-1)  # (B,) first completion position, predicting it
    rows = torch.arange(labels.shape[0], device=labels.device)
    yes_logit = head(hidden[rows, answer]).float()[:, yes_id]  # (B,)
    label = (targets[rows, answer] == yes_id).float()  # (B,)
    return F.binary_cross_entropy_with_logits(yes_logit, label), yes_logit, label


class YesLogitSFTTrainer(CompletionHeadSFTTrainer):
    """SFTTrainer whose loss is BCE(logit of the Yes token, label) at each sample's answer position."""

    yes_id: int = -1  # set by the caller: the first token of "Yes"

    def compute_loss(
        self, model: Any, inputs: dict, return_outputs: bool = False, num_items_in_batch: Any = None
    ) -> Any:
        out = final_states(model, inputs)
        head = self.accelerator.unwrap_model(model).get_output_embeddings()
        loss, yes_logit, label = yes_logit_bce(out.hidden_states[-1], inputs["labels"], head, self.yes_id)
        loss = loss + 0.0 * out.logits.sum()
        mode = "train" if model.training else "eval"
        with torch.no_grad():
            accuracy = ((yes_logit > 0).float() == label).float().mean()
        self._metrics[mode]["mean_token_accuracy"].append(self.accelerator.gather_for_metrics(accuracy).mean().item())
        return (loss, out) if return_outputs else loss
