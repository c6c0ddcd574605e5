"""iLoRA: instance-wise LoRA as a mixture of LoRA experts gated per user (Kong et al., "Customizing Language
Models with Instance-wise LoRA for Sequential Recommendation", NeurIPS 2024).

The LoRA rank r is split among n experts (r = 8 -> 4 experts of rank 2): A (r x d_in) and B (d_out x r) are
cut into n blocks, and each target projection computes W0 x + s * sum_i g_i B_i A_i x with s = alpha / (r / n)
(the reference code's scaling). The gate g = softmax(W u) comes from the SASRec representation u of the user's
history: one weight vector per instance, shared by all tokens and all layers. With one expert this is plain LoRA
(scaling alpha / r). The adapted projections cannot be merged into the base weights, since the update depends
on the instance: `merge` raises.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import torch
from torch import nn

from components.common.errors import ConfigError


class GateState:
    """The current batch's expert weights (B, n), shared by every adapted layer of one model."""

    def __init__(self) -> None:
        self.weights: torch.Tensor | None = None


class MoELoRALinear(nn.Module):
    """A frozen linear layer plus a gated mixture of `experts` LoRA experts of rank `rank // experts`."""

    def __init__(self, base: nn.Linear, rank: int, alpha: float, experts: int, dropout: float, gate: GateState) -> None:
        super().__init__()
        if rank % experts:
            raise ConfigError(
                "ilora.ilora_experts", f"{experts} experts do not split LoRA rank {rank}; expected a divisor"
            )
        self.base, self.gate, self.experts, self.rank = base, gate, experts, rank
        self.scaling = alpha / (rank / experts)
        self.dropout = nn.Dropout(dropout)
        self.lora_A = nn.Linear(base.in_features, rank, bias=False)
        self.lora_B = nn.Linear(rank, base.out_features, bias=False)
        nn.init.kaiming_uniform_(self.lora_A.weight, a=math.sqrt(5))
        nn.init.zeros_(self.lora_B.weight)
        for p in self.base.parameters():
            p.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.base(x)  # (B, T, out)
        down = self.lora_A(self.dropout(x))  # (B, T, r)
        g = self.gate.weights
        if g is None:
            raise ConfigError(
                "ilora", "no gate weights for this batch; expected the sequence representation of each user"
            )
        shape = down.shape
        down = down.view(*shape[:-1], self.experts, self.rank // self.experts)  # (B, T, n, r/n)
        down = down * g.to(down.dtype).view(g.shape[0], *([1] * (down.dim() - 3)), self.experts, 1)
        return out + self.scaling * self.lora_B(down.reshape(shape))


class ILoRAModel(nn.Module):
    """A causal LM with MoE-LoRA on its target projections and the gate softmax(W u) (W: repr_dim -> experts)."""

    def __init__(
        self,
        model: Any,
        *,
        repr_dim: int,
        rank: int = 8,
        alpha: float = 32.0,
        experts: int = 4,
        dropout: float = 0.1,
        targets: Iterable[str] = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"),
    ) -> None:
        super().__init__()
        self.model, self.experts, self.state = model, experts, GateState()
        for p in model.parameters():
            p.requires_grad_(False)
        self.gate = nn.Linear(repr_dim, experts, bias=False)
        targets = set(targets)
        replaced = 0
        for module in list(model.modules()):
            for child_name, child in list(module.named_children()):
                if child_name in targets and isinstance(child, nn.Linear):
                    setattr(module, child_name, MoELoRALinear(child, rank, alpha, experts, dropout, self.state))
                    replaced += 1
        if not replaced:
            raise ConfigError("ilora.targets", f"no linear layer named {sorted(targets)} in {type(model).__name__}")
        self.config = model.config

    def gate_weights(self, user_repr: torch.Tensor) -> torch.Tensor:
        """(B, repr_dim) -> (B, experts), rows summing to 1."""
        return torch.softmax(self.gate(user_repr.to(self.gate.weight.dtype)), dim=-1)

    def attach_soft_items(self, item_embeddings: torch.Tensor, token_id: int) -> None:
        """Enable the hybrid prompt (the `<item_emb>` token must already be in the tokenizer and embeddings)."""
        self.soft = SoftItemPrompt(item_embeddings, self.model.config.hidden_size, token_id)

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        *,
        user_repr: torch.Tensor | None = None,
        soft_items: torch.Tensor | None = None,
        **kwargs: Any,
    ) -> Any:
        if user_repr is None:
            raise ConfigError(
                "ilora", "an iLoRA model needs `user_repr` (the SASRec sequence representation) per example"
            )
        self.state.weights = self.gate_weights(user_repr)
        try:
            if soft_items is not None and getattr(self, "soft", None) is not None and input_ids is not None:
                embeds = self.soft.embed(self.model.get_input_embeddings(), input_ids, soft_items)
                return self.model(inputs_embeds=embeds, **kwargs)
            return self.model(input_ids=input_ids, **kwargs)
        finally:
            self.state.weights = None

    def get_output_embeddings(self) -> Any:
        return self.model.get_output_embeddings()

    def merge(self) -> None:
        raise ConfigError(
            "ilora",
            "MoE-LoRA updates depend on each user's gate and cannot be merged into the base weights; "
            "save the adapter with save_ilora and load it with load_ilora",
        )

    def adapter_state(self) -> dict[str, torch.Tensor]:
        return {k: v for k, v in self.state_dict().items() if "lora_" in k or k.startswith("gate.")}


class SoftItemPrompt(nn.Module):
    """LLaRA's hybrid prompt: the embedding of each `<item_emb>` token is replaced by MLP(SASRec item embedding).

    Projector as iLoRA's code: Linear(d_rec -> hidden) -> GELU -> Linear(hidden -> hidden).
    """

    def __init__(self, item_embeddings: torch.Tensor, hidden: int, token_id: int) -> None:
        super().__init__()
        self.register_buffer("items", item_embeddings.float(), persistent=False)  # (n_items, d_rec), frozen
        self.token_id = token_id
        self.projector = nn.Sequential(
            nn.Linear(item_embeddings.shape[1], hidden), nn.GELU(), nn.Linear(hidden, hidden)
        )

    def embed(self, embeddings: nn.Module, input_ids: torch.Tensor, soft_items: torch.Tensor) -> torch.Tensor:
        """(B, T) ids and (B, S) item ids (-1 padding), one per `<item_emb>` in reading order -> (B, T, H)."""
        embeds = embeddings(input_ids)
        slots = input_ids == self.token_id  # (B, T)
        if not slots.any():
            return embeds
        items = []
        for row in range(input_ids.shape[0]):  # prompts cut from the left lose their first items
            given = soft_items[row][soft_items[row] >= 0]
            wanted = int(slots[row].sum())
            if wanted > len(given):
                raise ConfigError("ilora.hybrid", f"{wanted} <item_emb> tokens but {len(given)} item ids in row {row}")
            items.append(given[len(given) - wanted :])
        projected = self.projector(self.items[torch.cat(items)]).to(embeds.dtype)  # (N, H)
        embeds = embeds.clone()
        embeds[slots] = projected
        return embeds
