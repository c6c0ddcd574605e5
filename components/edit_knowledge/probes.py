"""Reading and steering a causal LM at chosen token positions: MLP keys, layer outputs, residual deltas.

Keys are the inputs of a layer's MLP output projection (what AlphaEdit and MEMIT call k); values z are the
decoder layer's output hidden state. Prompts are tokenized one by one and right-padded, so a position found
in a prompt's own tokenization is its position in the batch.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from components.edit_knowledge.layers import decoder_layers, mlp_out


def subject_last_index(tokenizer: Any, template: str, subject: str) -> int:
    """Token index of the subject's last token in `template.format(subject)` (tokenized without specials)."""
    prefix = template[: template.index("{}")].format() + subject
    return len(tokenizer(prefix, add_special_tokens=False)["input_ids"]) - 1


def batch_tokens(tokenizer: Any, texts: Sequence[str], device: Any = None) -> tuple[Any, Any, list[int]]:
    """(input_ids (B, T), attention_mask (B, T), lengths) right-padded with the evaluation step's `pad`."""
    from components.recsys.scoring import pad

    ids = [tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    input_ids, mask = pad(ids, pad_id, left=False)
    return input_ids.to(device), mask.to(device), [len(i) for i in ids]


def _first(output: Any) -> Any:
    return output[0] if isinstance(output, tuple) else output


@contextmanager
def capture(model: Any, layers: Sequence[int], what: str) -> Iterator[dict[int, Any]]:
    """Yield {layer: tensor} filled on the next forward: 'key' = MLP-out input (B, T, d_ff),
    'out' = decoder layer output (B, T, d_model)."""
    store: dict[int, Any] = {}
    handles = []
    for layer in layers:
        if what == "key":

            def pre_hook(_m: Any, args: tuple, layer: int = layer) -> None:
                store[layer] = args[0]

            handles.append(mlp_out(model, layer).register_forward_pre_hook(pre_hook))
        else:

            def hook(_m: Any, _args: tuple, output: Any, layer: int = layer) -> None:
                store[layer] = _first(output)

            handles.append(decoder_layers(model)[layer].register_forward_hook(hook))
    try:
        yield store
    finally:
        for handle in handles:
            handle.remove()


@contextmanager
def add_at(model: Any, layer: int, rows_positions: Sequence[tuple[int, int]], delta: Any) -> Iterator[None]:
    """During forwards, add `delta` (d_model) to layer `layer`'s output at each (row, position)."""
    rows = [r for r, _ in rows_positions]
    cols = [p for _, p in rows_positions]

    def hook(_m: Any, _args: tuple, output: Any) -> Any:
        hidden = _first(output).clone()
        hidden[rows, cols] = hidden[rows, cols] + delta.to(hidden.dtype)
        return (hidden, *output[1:]) if isinstance(output, tuple) else hidden

    handle = decoder_layers(model)[layer].register_forward_hook(hook)
    try:
        yield
    finally:
        handle.remove()


def read_at(
    model: Any, tokenizer: Any, texts: Sequence[str], positions: Sequence[int], layers: Sequence[int], what: str
) -> dict[int, Any]:
    """{layer: (len(texts), d)} of keys or layer outputs at one position per text, no gradients."""
    import torch

    device = next(model.parameters()).device
    input_ids, mask, _ = batch_tokens(tokenizer, texts, device)
    rows = torch.arange(len(texts), device=device)
    cols = torch.tensor(list(positions), device=device)
    with torch.no_grad(), capture(model, layers, what) as store:
        model(input_ids=input_ids, attention_mask=mask)
    return {layer: store[layer][rows, cols].float() for layer in layers}


def _target_rows(
    model: Any, tokenizer: Any, prompts: Sequence[str], targets: Sequence[str], batch_size: int
) -> Iterator[tuple[Any, Any]]:
    """For each pair in order: (log-probabilities (L, V) at the positions that predict the target's L tokens,
    the target's token ids (L,)), from one teacher-forced forward per batch of prompt + target."""
    import torch

    device = next(model.parameters()).device
    for start in range(0, len(prompts), batch_size):
        chunk_p = prompts[start : start + batch_size]
        chunk_t = targets[start : start + batch_size]
        prompt_len = [len(tokenizer(p, add_special_tokens=False)["input_ids"]) for p in chunk_p]
        target_ids = [tokenizer(t, add_special_tokens=False)["input_ids"] for t in chunk_t]
        texts = [p + t for p, t in zip(chunk_p, chunk_t, strict=True)]
        input_ids, mask, _ = batch_tokens(tokenizer, texts, device)
        with torch.no_grad():
            logprobs = model(input_ids=input_ids, attention_mask=mask).logits.float().log_softmax(-1)  # (B, T, V)
        for row, (start_at, ids) in enumerate(zip(prompt_len, target_ids, strict=True)):
            positions = torch.arange(start_at - 1, start_at - 1 + len(ids), device=logprobs.device)
            yield logprobs[row, positions], input_ids[row, start_at : start_at + len(ids)]


def target_logprobs(
    model: Any, tokenizer: Any, prompts: Sequence[str], targets: Sequence[str], batch_size: int = 64
) -> Any:
    """Mean log-probability per target token of `targets[i]` after `prompts[i]` -> (n,) float tensor."""
    import torch

    rows = _target_rows(model, tokenizer, prompts, targets, batch_size)
    scores = [logprobs.gather(1, ids[:, None]).mean() for logprobs, ids in rows]
    return torch.stack(scores).cpu()


def greedy_matches(
    model: Any, tokenizer: Any, prompts: Sequence[str], targets: Sequence[str], batch_size: int = 64
) -> Any:
    """(n,) bool: would greedy decoding after `prompts[i]` write exactly the tokens of `targets[i]`?"""
    import torch

    rows = _target_rows(model, tokenizer, prompts, targets, batch_size)
    return torch.tensor([bool((logprobs.argmax(-1) == ids).all()) for logprobs, ids in rows], dtype=torch.bool)


def sample(model: Any, tokenizer: Any, prompt: str, max_new_tokens: int) -> str:
    """`prompt` and a top-k (5) sampled continuation, decoded (seed with torch.manual_seed beforehand)."""
    import torch

    ids = tokenizer(prompt, return_tensors="pt", add_special_tokens=False)["input_ids"].to(model.device)
    with torch.no_grad():
        out = model.generate(
            ids,
            attention_mask=torch.ones_like(ids),
            max_new_tokens=max_new_tokens,
            do_sample=True,
            top_k=5,
            pad_token_id=tokenizer.pad_token_id,
        )
    return tokenizer.decode(out[0], skip_special_tokens=True)
