"""Preserved-knowledge statistics for AlphaEdit and MEMIT: C0 = sum of k kᵀ over every token of a corpus.

k is the input of the MLP output projection at an edited layer. Texts are cut into pieces of at most
`max_length` tokens and streamed in batches, sums are kept in float64, padding is excluded. The result (sum and
token count per layer) is cached on disk under a key made of the model's digest, the layer, the corpus digest
and the piece length, so every later edit run reuses it. The projector and
MEMIT use the mean E[k kᵀ] = sum / count, as the reference code does (`get_cov`).
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from components.common.atomic import atomic_dir
from components.edit_knowledge.layers import key_size
from components.edit_knowledge.probes import capture

log = logging.getLogger(__name__)


def corpus_digest(texts: Sequence[str]) -> str:
    digest = hashlib.sha256()
    for text in texts:
        digest.update(text.encode("utf-8"))
        digest.update(b"\0")
    return digest.hexdigest()[:16]


def model_digest(model: Any) -> str:
    """SHA-256 over the parameter names and bytes (first 16 hex): equal weights give an equal key."""
    import torch

    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


class _Stop(Exception):
    """Raised by a hook after the deepest layer whose keys are needed: the rest of the forward is skipped."""


def token_pieces(tokenizer: Any, texts: Sequence[str], max_length: int) -> list[list[int]]:
    """Every text's tokens (no special tokens) cut into consecutive pieces of at most `max_length`, so every
    token position of the corpus is read once."""
    pieces = []
    for text in texts:
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        pieces.extend(ids[start : start + max_length] for start in range(0, len(ids), max_length))
    return [piece for piece in pieces if piece]


def second_moments(
    model: Any,
    tokenizer: Any,
    texts: Sequence[str],
    layers: Sequence[int],
    batch_size: int = 32,
    max_length: int = 256,
    stop_early: bool = True,
) -> dict[int, tuple[Any, int]]:
    """{layer: (Σ k kᵀ (d_ff, d_ff) float64, number of tokens)} over every non-padding token of `texts`.

    Pieces are batched by length (little padding); each batch's Σ k kᵀ is a float32 matmul added to a float64
    sum; the forward stops after the deepest layer in `layers` (`stop_early=False` runs it whole: the benchmark's
    baseline).
    """
    import torch

    from components.edit_knowledge.layers import decoder_layers
    from components.recsys.scoring import pad

    device = next(model.parameters()).device
    pieces = sorted(token_pieces(tokenizer, texts, max_length), key=len)
    sums = {layer: torch.zeros(key_size(model, layer), key_size(model, layer), dtype=torch.float64) for layer in layers}
    count = 0
    started = time.time()
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0

    def stop(*_: Any) -> None:
        raise _Stop

    handle = decoder_layers(model)[max(layers)].register_forward_hook(stop) if stop_early else None
    try:
        for index, start in enumerate(range(0, len(pieces), batch_size)):
            input_ids, mask = pad(pieces[start : start + batch_size], pad_id, left=False)
            input_ids, mask = input_ids.to(device), mask.to(device)  # (B, T)
            with torch.no_grad(), capture(model, layers, "key") as store:
                try:
                    model(input_ids=input_ids, attention_mask=mask)
                except _Stop:
                    pass
            keep = mask.bool()
            for layer in layers:
                keys = store[layer][keep].float()  # (tokens, d_ff)
                sums[layer] += (keys.T @ keys).to("cpu", torch.float64)
            count += int(keep.sum())
            done = min(start + batch_size, len(pieces))
            if done == len(pieces) or index % 50 == 0:
                log.info(
                    "C0 statistics: %d/%d pieces, %d tokens, %.1fs", done, len(pieces), count, time.time() - started
                )
    finally:
        if handle is not None:
            handle.remove()
    return {layer: (sums[layer], count) for layer in layers}


def cache_key(model_id: str, layer: int, corpus: str) -> str:
    return f"{model_id}-layer{layer}-{corpus}"  # the corpus digest covers the texts, not how they were cut


def cached_second_moments(
    model: Any,
    tokenizer: Any,
    texts: Sequence[str],
    layers: Sequence[int],
    cache_dir: str | Path,
    batch_size: int = 32,
    model_id: str = "",
    max_length: int = 256,
) -> tuple[dict[int, tuple[Any, int]], dict[str, Any]]:
    """Second moments per layer from the cache where present, computed (and cached) otherwise.

    Returns the moments and a record: which layers were cached, the token count, and a warning when the count
    is below the key size (then C0 cannot be full-rank and the null space is partly an artefact of the corpus).
    """
    import torch

    model_id = model_id or model_digest(model)
    corpus = corpus_digest(texts)
    folder = Path(cache_dir)
    found: dict[int, tuple[Any, int]] = {}
    for layer in layers:
        path = folder / cache_key(model_id, layer, f"{corpus}-len{max_length}") / "moment.pt"
        if path.is_file():
            saved = torch.load(path, weights_only=True)
            found[layer] = (saved["sum"], int(saved["count"]))
    missing = [layer for layer in layers if layer not in found]
    started = time.time()
    if missing:
        computed = second_moments(model, tokenizer, texts, missing, batch_size, max_length)
        for layer, (total, count) in computed.items():
            with atomic_dir(folder / cache_key(model_id, layer, f"{corpus}-len{max_length}")) as tmp:
                torch.save({"sum": total, "count": count}, Path(tmp) / "moment.pt")
            found[layer] = (total, count)
    count = next(iter(found.values()))[1] if found else 0
    record: dict[str, Any] = {
        "model_id": model_id,
        "corpus_digest": corpus,
        "cached_layers": [layer for layer in layers if layer not in missing],
        "tokens": count,
        "seconds": time.time() - started,
        "warning": "",
    }
    smallest = min((key_size(model, layer) for layer in layers), default=0)
    if count < smallest:
        record["warning"] = (
            f"preserved corpus has {count} tokens, fewer than the key size {smallest}: C0 cannot be full-rank, so "
            "part of its null space only reflects the small corpus; give a larger corpus for a faithful projection"
        )
        log.warning(record["warning"])
    return found, record
