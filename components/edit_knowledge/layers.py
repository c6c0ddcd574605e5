"""Where a locate-then-edit method writes, per architecture: the MLP output projection of each decoder layer.

Llama, Qwen2 and Mistral: `model.layers[i].mlp.down_proj` (an nn.Linear, weight (d_model, d_ff));
GPT-2: `transformer.h[i].mlp.c_proj` (a Conv1D, weight stored transposed as (d_ff, d_model));
GPT-J: `transformer.h[i].mlp.fc_out`. Updates are always given as (d_model, d_ff) and transposed here.
"""

from __future__ import annotations

from typing import Any

from components.common.errors import ConfigError

# model_type -> (path to the decoder layers, MLP output module inside a layer, weight stored transposed)
FAMILIES: dict[str, tuple[str, str, bool]] = {
    "llama": ("model.layers", "mlp.down_proj", False),
    "qwen2": ("model.layers", "mlp.down_proj", False),
    "mistral": ("model.layers", "mlp.down_proj", False),
    "gpt2": ("transformer.h", "mlp.c_proj", True),
    "gptj": ("transformer.h", "mlp.fc_out", False),
}
# model_type -> default edited layers for known depths (AlphaEdit's released configs)
KNOWN_LAYERS: dict[tuple[str, int], list[int]] = {
    ("llama", 32): [4, 5, 6, 7, 8],
    ("gpt2", 48): [13, 14, 15, 16, 17],
    ("gptj", 28): [3, 4, 5, 6, 7, 8],
}


def _family(model: Any) -> tuple[str, str, bool]:
    kind = getattr(model.config, "model_type", "")
    if kind not in FAMILIES:
        raise ConfigError("edit.base_model", f"architecture {kind!r} is not supported; expected {', '.join(FAMILIES)}")
    return FAMILIES[kind]


def _get(root: Any, dotted: str) -> Any:
    for name in dotted.split("."):
        root = getattr(root, name)
    return root


def decoder_layers(model: Any) -> Any:
    return _get(model, _family(model)[0])


def num_layers(model: Any) -> int:
    return len(decoder_layers(model))


def default_layers(model: Any) -> list[int]:
    """The family's released layers where known; otherwise five early layers from depth/8 (Llama3-8B: 4-8).

    A fact stored at the subject's last token must still be moved to the prompt's end by a later attention
    layer, so the last layer is never edited: a 2-layer model edits layer 0.
    """
    n = num_layers(model)
    known = KNOWN_LAYERS.get((model.config.model_type, n))
    if known:
        return known
    first = n // 8
    return list(range(first, max(first + 1, min(first + 5, n - 1))))


def resolve_layers(model: Any, layers: list[int] | None) -> list[int]:
    """`layers` checked against the model's depth (None: the default)."""
    n = num_layers(model)
    chosen = default_layers(model) if layers is None else layers
    bad = [i for i in chosen if not 0 <= i < n]
    if bad:
        raise ConfigError("edit.edit_layers", f"layer {bad[0]} is outside the model; expected indices 0..{n - 1}")
    return sorted(chosen)


def mlp_out(model: Any, layer: int) -> Any:
    """The module whose weight an edit at `layer` changes; its input is the key k, its output the value."""
    path, module, _ = _family(model)
    return _get(_get(model, path)[layer], module)


def weight_matrix(model: Any, layer: int) -> Any:
    """The edited weight as (d_model, d_ff), a view on the parameter (transposed for GPT-2's Conv1D)."""
    weight = mlp_out(model, layer).weight
    return weight.T if _family(model)[2] else weight


def apply_update(model: Any, layer: int, delta: Any) -> None:
    """W += delta, delta (d_model, d_ff) in the module's own dtype and device."""
    import torch

    with torch.no_grad():
        target = weight_matrix(model, layer)
        target.add_(delta.to(device=target.device, dtype=target.dtype))


def key_size(model: Any, layer: int) -> int:
    return int(weight_matrix(model, layer).shape[1])
