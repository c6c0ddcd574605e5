"""What a base model offers to settings that name its parts, read without loading weights: its layer count and the
names of its modules (for `lora_targets` and `edit_layers`, checked before a run starts rather than minutes later
inside a training step).

Presets are read from their shape table; a pretrained preset or a model directory from its `config.json` (families
recforge knows by their module names; any other family is built on PyTorch's meta device, which allocates nothing).
Hub ids are not fetched for this: None.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from components.common.errors import ConfigError

DECODER_MODULES = frozenset(
    {"embed_tokens", "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj", "lm_head"}
)  # Llama, Qwen2, Mistral: the families recforge's presets and the smollm2 preset belong to
KNOWN_FAMILIES = ("llama", "qwen2", "mistral")


@dataclass(frozen=True)
class ModelShape:
    """A model's layer count and the (last components of the) names of its modules."""

    layers: int
    modules: frozenset[str]


def model_shape(base_model: str) -> ModelShape | None:
    """The shape of `base_model`, or None for a hub id; ConfigError for a reference that names nothing usable."""
    from components.common.models import model_kind
    from components.common.tiny import PRESETS

    kind = model_kind(base_model)
    if kind == "preset":
        return ModelShape(PRESETS[base_model].num_hidden_layers, DECODER_MODULES)
    if kind == "hub":
        return None
    if kind == "pretrained":
        from components.common.pretrained import cached

        folder = cached(base_model)
        if folder is None:  # prepared by the run's first step; its config is the family's
            return ModelShape(_preset_layers(base_model), DECODER_MODULES)
    else:
        folder = Path(base_model).expanduser()
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    layers = int(config.get("num_hidden_layers") or config.get("n_layer") or 0)
    if config.get("model_type") in KNOWN_FAMILIES:
        return ModelShape(layers, DECODER_MODULES)
    return ModelShape(layers, _meta_modules(folder, base_model))


def _preset_layers(name: str) -> int:
    from components.common.pretrained import PRETRAINED

    return PRETRAINED[name].layers


def _meta_modules(folder: Path, base_model: str) -> frozenset[str]:
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    try:
        config = AutoConfig.from_pretrained(str(folder), local_files_only=True)
        with torch.device("meta"):
            model = AutoModelForCausalLM.from_config(config)
    except (OSError, ValueError, KeyError) as exc:
        raise ConfigError("base_model", f"cannot read {base_model!r}: {str(exc).splitlines()[0]}") from None
    return frozenset(name.rsplit(".", 1)[-1] for name, _ in model.named_modules() if name)
