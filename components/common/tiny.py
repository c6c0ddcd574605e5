"""Model presets built from configs: `tiny` (trains in minutes on two CPU cores) and GPU benchmark shapes.

The tokenizer is built locally: a byte-level BPE vocabulary trained on the given corpus (the catalogue's
titles plus the words of recforge's prompt templates), optionally with one special token per item
(`<item_0>`, ...). Byte-level BPE encodes any text, non-ASCII titles included. For a corpus and a seed the
tokenizer and the initial weights are identical on every machine; no network is touched.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

SPECIALS = ("<pad>", "<s>", "</s>", "<unk>")
PROMPT_WORDS = (
    "You are a recommender system. The user has watched, listened to, bought, rated, liked, enjoyed the following "
    "items in order: movies, films, music, artists, books, products. Given the history, which of these candidates "
    "would the user choose next? Answer with the title only. Candidates: History: Answer: Question: Example "
    "Will the user enjoy the item titled ? Yes No is a was released in genre year the of and to for with by on at"
)


@dataclass(frozen=True)
class Preset:
    """An architecture and its shape; `vocab_size` None means: the tokenizer's size."""

    architecture: str  # "llama" or "qwen2"
    hidden_size: int
    intermediate_size: int
    num_hidden_layers: int
    num_attention_heads: int
    num_key_value_heads: int
    max_position_embeddings: int
    vocab_size: int | None = None
    tie_word_embeddings: bool = True
    rope_theta: float = 10000.0


PRESETS: dict[str, Preset] = {
    "tiny": Preset("llama", 64, 176, 2, 4, 2, 2048),
    "tiny-qwen2": Preset("qwen2", 64, 176, 2, 4, 2, 2048),
    "qwen2-0.5b": Preset("qwen2", 896, 4864, 24, 14, 2, 32768, 151936, True, 1_000_000.0),
    "qwen2-1.5b": Preset("qwen2", 1536, 8960, 28, 12, 2, 32768, 151936, True, 1_000_000.0),
    "llama3-8b": Preset("llama", 4096, 14336, 32, 32, 8, 8192, 128256, False, 500_000.0),
}


def build_tokenizer(corpus: Iterable[str], vocab_size: int = 4096, item_tokens: int = 0) -> Any:
    """A `PreTrainedTokenizerFast` with a byte-level BPE vocabulary trained on `corpus` (+ prompt words)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    texts = [PROMPT_WORDS, *(t for t in corpus if t)]
    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIALS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    wrapped = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, bos_token="<s>", eos_token="</s>", pad_token="<pad>", unk_token="<unk>"
    )
    if item_tokens:
        wrapped.add_tokens([f"<item_{i}>" for i in range(item_tokens)], special_tokens=True)
    wrapped.padding_side = "left"
    return wrapped


def build_model(preset: str | Preset, vocab_size: int, seed: int, tokenizer: Any | None = None) -> Any:
    """A randomly initialised causal LM of `preset`'s shape, deterministic for `seed`."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

    shape = PRESETS[preset] if isinstance(preset, str) else preset
    common = {
        "vocab_size": shape.vocab_size or vocab_size,
        "hidden_size": shape.hidden_size,
        "intermediate_size": shape.intermediate_size,
        "num_hidden_layers": shape.num_hidden_layers,
        "num_attention_heads": shape.num_attention_heads,
        "num_key_value_heads": shape.num_key_value_heads,
        "max_position_embeddings": shape.max_position_embeddings,
        "tie_word_embeddings": shape.tie_word_embeddings,
        "rope_theta": shape.rope_theta,
    }
    if tokenizer is not None:
        common.update(
            pad_token_id=tokenizer.pad_token_id,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
        )
    config = LlamaConfig(**common) if shape.architecture == "llama" else Qwen2Config(**common)
    torch.manual_seed(seed)
    model_class = LlamaForCausalLM if shape.architecture == "llama" else Qwen2ForCausalLM
    return model_class(config)
