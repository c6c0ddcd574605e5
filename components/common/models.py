"""Resolving `base_model`: a preset built from config (`tiny` by default), a pretrained preset from recforge's model
cache (`smollm2-135m`, prepared on first use; components/common/pretrained.py), a local directory, or a hub id.

Local directories (a PVC on the cluster) and hub ids load with transformers' `from_pretrained`; hub ids need
internet or a populated HF cache, and fail with one clear line when `HF_HUB_OFFLINE=1` and nothing is cached.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from components.common.errors import ConfigError
from components.common.pretrained import PRETRAINED
from components.common.pretrained import resolve as resolve_pretrained
from components.common.tiny import PRESETS, build_model, build_tokenizer

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.\-]*/[\w.\-]+(@[\w.\-/]+)?$")  # org/name, optionally @revision


def hub_reference(base_model: str) -> tuple[str, str | None]:
    """`org/name@revision` -> ("org/name", "revision"); without a revision the second is None (the hub's main
    branch, which can change under a scheduled retraining: pin a commit for reproducible runs)."""
    name, sep, revision = base_model.partition("@")
    return name, (revision if sep else None)


def model_kind(base_model: str) -> str:
    """'preset', 'pretrained', 'directory' or 'hub' for a valid `base_model`; ConfigError otherwise."""
    if base_model in PRESETS:
        return "preset"
    if base_model in PRETRAINED:
        return "pretrained"
    path = Path(base_model).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ConfigError("base_model", f"{base_model} has no config.json; expected a saved transformers model")
        if not any(path.glob("*.safetensors")) and not any(path.glob("pytorch_model*.bin")):
            raise ConfigError(
                "base_model",
                f"{base_model} has config.json but no weights; expected *.safetensors or pytorch_model.bin",
            )
        return "directory"
    if _HUB_ID.match(base_model) and not base_model.startswith((".", "/", "~")):
        return "hub"
    raise ConfigError(
        "base_model",
        f"{base_model!r} is not a preset ({', '.join([*PRESETS, *PRETRAINED])}), an existing directory or a hub id"
        " (org/name, pinned as org/name@revision)",
    )


def load_base_model(
    base_model: str,
    *,
    corpus: Iterable[str] = (),
    seed: int = 0,
    vocab_size: int = 4096,
    item_tokens: int = 0,
    dtype: Any = None,
) -> tuple[Any, Any]:
    """(model, tokenizer) for `base_model`; presets build their tokenizer from `corpus` (the catalogue's titles)."""
    kind = model_kind(base_model)
    if kind == "preset":
        texts = list(corpus)
        if not texts:
            raise ConfigError("base_model", f"preset {base_model} builds its tokenizer from a corpus; got none")
        tokenizer = build_tokenizer(texts, vocab_size=vocab_size, item_tokens=item_tokens)
        model = build_model(base_model, len(tokenizer), seed, tokenizer)
        if dtype is not None:
            model = model.to(dtype)
        return model, tokenizer
    from transformers import AutoModelForCausalLM, AutoTokenizer

    offline = os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0")
    local = kind != "hub"
    revision = None
    if kind == "pretrained":
        source = str(resolve_pretrained(base_model))
    elif local:
        source = str(Path(base_model).expanduser())
    else:
        source, revision = hub_reference(base_model)
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=local or offline, revision=revision)
        model = AutoModelForCausalLM.from_pretrained(
            source, local_files_only=local or offline, dtype=dtype, revision=revision
        )
    except OSError as exc:
        hint = " and HF_HUB_OFFLINE=1 forbids a download" if offline and kind == "hub" else ""
        raise ConfigError("base_model", f"cannot load {base_model!r}{hint}: {str(exc).splitlines()[0]}") from None
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer


def save_model(model: Any, tokenizer: Any, out_dir: str | Path) -> Path:
    """Save model and tokenizer atomically into `out_dir` (loadable again as a directory base_model)."""
    from components.common.atomic import atomic_dir

    with atomic_dir(out_dir) as tmp:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
    return Path(out_dir)
