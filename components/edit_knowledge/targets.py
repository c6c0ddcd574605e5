"""Keys k* and target values v* of edit requests (MEMIT's compute_ks / compute_z, reused by AlphaEdit).

k* is the MLP-out input at the subject's last token, averaged over context templates ("{}" plus short
generated prefixes). v* = h + δ is the output of the last edited layer at that token, with δ found by Adam so
that the model then says the new target: mean NLL of the target over the templated prompts, plus
`kl_factor`·KL(now ‖ init) of the next-token distribution at the subject in "<subject> is a" (the
reference's direction: the edited distribution against the original one), plus
`weight_decay`·‖δ‖/‖h‖² (not squared, as the reference); ‖δ‖ is clamped to `clamp`·‖h‖ and the loop stops
once the loss is below 5e-2.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from components.edit_knowledge.facts import EditRequest
from components.edit_knowledge.probes import add_at, batch_tokens, read_at, sample, subject_last_index

PREFIX_STARTS = ("The", "Therefore", "Because", "I", "You")


@dataclass(frozen=True)
class TargetSettings:
    lr: float = 0.5
    steps: int = 25
    clamp: float = 0.75
    weight_decay: float = 0.5
    kl_factor: float = 0.0625


def kl_now_from_init(now: Any, init: Any) -> Any:
    """KL(now ‖ init) = Σ p_now (log p_now − log p_init) from log-probabilities (V,): MEMIT's direction
    (`kl_div(init, now, log_target=True)`; torch's kl_div(input, target) is KL(target ‖ input))."""
    import torch

    return torch.nn.functional.kl_div(init, now, log_target=True, reduction="sum")


def context_templates(model: Any, tokenizer: Any, count: int, length: int = 10, seed: int = 0) -> list[str]:
    """'{}' plus `count` prefixes the model writes itself (sampled, top-k 5, seeded), each followed by '. {}'."""
    import torch

    templates = ["{}"]
    if count == 0:
        return templates
    torch.manual_seed(seed)
    starts = [PREFIX_STARTS[i % len(PREFIX_STARTS)] for i in range(count)]
    for start in starts:
        text = sample(model, tokenizer, start, length).replace("{", " ").replace("}", " ")
        templates.append(" ".join(text.split()) + ". {}")
    return templates


def keys_for(model: Any, tokenizer: Any, requests: Sequence[EditRequest], layer: int, templates: Sequence[str]) -> Any:
    """K1 (d_ff, u): each request's key at `layer` averaged over the context templates."""
    import torch

    texts, positions, owners = [], [], []
    for index, request in enumerate(requests):
        for template in templates:
            prompt = template.replace("{}", request.prompt)
            texts.append(prompt.format(request.subject))
            positions.append(subject_last_index(tokenizer, prompt, request.subject))
            owners.append(index)
    keys = read_at(model, tokenizer, texts, positions, [layer], "key")[layer]  # (u * templates, d_ff)
    owner = torch.tensor(owners)
    averaged = torch.zeros(len(requests), keys.shape[1], dtype=keys.dtype)
    averaged.index_add_(0, owner, keys.cpu())
    averaged /= len(templates)
    return averaged.T  # (d_ff, u)


def current_values(model: Any, tokenizer: Any, requests: Sequence[EditRequest], layer: int) -> Any:
    """(d_model, u): the output of `layer` at each request's subject-last token in its bare prompt."""
    texts = [r.text() for r in requests]
    positions = [subject_last_index(tokenizer, r.prompt, r.subject) for r in requests]
    return read_at(model, tokenizer, texts, positions, [layer], "out")[layer].cpu().T


def target_value(
    model: Any,
    tokenizer: Any,
    request: EditRequest,
    layer: int,
    templates: Sequence[str],
    settings: TargetSettings,
) -> tuple[Any, dict[str, float]]:
    """v* (d_model,) for one request at `layer`, and a record of the optimisation (losses, steps, norms)."""
    import torch

    device = next(model.parameters()).device
    target_ids = tokenizer(request.target_new, add_special_tokens=False)["input_ids"]
    prompts = [t.replace("{}", request.prompt) for t in templates]
    rewrite = [p.format(request.subject) + tokenizer.decode(target_ids[:-1]) for p in prompts]
    kl_template = "{} is a"
    texts = [*rewrite, kl_template.format(request.subject)]
    lookup = [subject_last_index(tokenizer, p, request.subject) for p in prompts]
    lookup.append(subject_last_index(tokenizer, kl_template, request.subject))
    prompt_lengths = [len(tokenizer(p.format(request.subject), add_special_tokens=False)["input_ids"]) for p in prompts]
    input_ids, mask, _ = batch_tokens(tokenizer, texts, device)

    n = len(rewrite)
    target = torch.tensor(target_ids, device=device)
    # rows/positions whose logits predict each target token: prompt_len - 1 + j
    rows = torch.arange(n, device=device).repeat_interleave(len(target_ids))
    cols = torch.tensor([length - 1 + j for length in prompt_lengths for j in range(len(target_ids))], device=device)
    labels = target.repeat(n)
    # only the positions read below go through the vocabulary projection: (n+1, T) bool -> (K, V) logits,
    # row-major; `slot[row, position]` is a position's row in those logits
    keep = torch.zeros_like(mask, dtype=torch.bool)
    keep[rows, cols] = True
    keep[n, lookup[n]] = True
    slot = (keep.flatten().cumsum(0) - 1).view(keep.shape)
    wanted, kl_slot = slot[rows, cols], slot[n, lookup[n]]

    with torch.no_grad():
        base = read_at(model, tokenizer, [texts[0]], [lookup[0]], [layer], "out")[layer][0].to(device)  # (d_model,)
        logits = model(input_ids=input_ids, attention_mask=mask, logits_to_keep=keep).logits  # (K, V)
        kl_init = logits[kl_slot].float().log_softmax(-1)  # (V,)

    delta = torch.zeros_like(base, requires_grad=True)
    optimizer = torch.optim.Adam([delta], lr=settings.lr)
    max_norm = settings.clamp * base.norm()
    record: dict[str, float] = {}
    trainable = [p for p in model.parameters() if p.requires_grad]
    for param in trainable:
        param.requires_grad_(False)
    try:
        for step in range(settings.steps):
            optimizer.zero_grad()
            with add_at(model, layer, list(enumerate(lookup)), delta):
                logits = model(input_ids=input_ids, attention_mask=mask, logits_to_keep=keep).logits  # (K, V)
            logprobs = logits.float().log_softmax(-1)
            nll = -logprobs[wanted, labels].view(n, len(target_ids)).mean(1).mean()
            kl_now = logprobs[kl_slot]
            kl = kl_now_from_init(kl_now, kl_init)
            decay = settings.weight_decay * delta.norm() / base.norm() ** 2
            loss = nll + settings.kl_factor * kl + decay
            record = {"nll": nll.item(), "kl": kl.item(), "steps": step + 1}
            if loss.item() < 5e-2:
                break
            if step == settings.steps - 1:
                break
            loss.backward()
            optimizer.step()
            with torch.no_grad():
                if delta.norm() > max_norm:
                    delta.mul_(max_norm / delta.norm())
    finally:
        for param in trainable:
            param.requires_grad_(True)
    record["delta_norm_ratio"] = (delta.detach().norm() / base.norm()).item()
    return (base + delta).detach().cpu(), record
