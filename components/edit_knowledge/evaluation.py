"""CounterFact-style edit metrics (Meng et al., 2022; AlphaEdit's `eval_utils_counterfact.py`).

- efficacy: share of edit prompts where the new target is more likely than the true one;
- generalization: the same over paraphrased prompts;
- specificity: share of neighbourhood prompts (other subjects whose answer is the edited fact's true object)
  where the true object stays more likely than the new one;
- fluency: the mean of the weighted bigram and trigram entropies (weights 2/3 and 4/3, bits) of sampled
  generations, averaged over prompts: the reference's `compute_n_gram_entropy` with `agg="arith"` (papers' tables
  print it times 100: AlphaEdit's 622 is 6.22 here). Words are split on whitespace, where the reference uses
  NLTK's `word_tokenize`.
"More likely" compares the mean log-probability per target token, as the reference compares mean NLL.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from typing import Any

from components.edit_knowledge.facts import EditRequest
from components.edit_knowledge.probes import sample, target_logprobs


def _preference_share(model: Any, tokenizer: Any, prompts: list[str], first: list[str], second: list[str]) -> float:
    """Share of prompts where `first[i]` is more likely than `second[i]`; nan for no prompts."""
    if not prompts:
        return float("nan")
    a = target_logprobs(model, tokenizer, prompts, first)
    b = target_logprobs(model, tokenizer, prompts, second)
    return float((a > b).float().mean())


def efficacy(model: Any, tokenizer: Any, requests: Sequence[EditRequest]) -> float:
    return _preference_share(
        model,
        tokenizer,
        [r.text() for r in requests],
        [r.target_new for r in requests],
        [r.target_true for r in requests],
    )


def generalization(model: Any, tokenizer: Any, requests: Sequence[EditRequest]) -> float:
    prompts = [p for r in requests for p in r.paraphrases]
    new = [r.target_new for r in requests for _ in r.paraphrases]
    true = [r.target_true for r in requests for _ in r.paraphrases]
    return _preference_share(model, tokenizer, prompts, new, true)


def specificity(model: Any, tokenizer: Any, requests: Sequence[EditRequest]) -> float:
    prompts = [p for r in requests for p in r.neighbours]
    true = [r.target_true for r in requests for _ in r.neighbours]
    new = [r.target_new for r in requests for _ in r.neighbours]
    return _preference_share(model, tokenizer, prompts, true, new)


def ngram_entropy(text: str, weights: tuple[float, float] = (2 / 3, 4 / 3)) -> float:
    """mean_n w_n · H(n-gram frequencies) in bits over n = 2, 3 and whitespace words (an n with no n-gram counts
    as 0, as in the reference); 0 for too-short texts."""
    words = text.split()
    terms = []
    for n, weight in zip((2, 3), weights, strict=True):
        grams = Counter(tuple(words[i : i + n]) for i in range(len(words) - n + 1))
        count = sum(grams.values())
        entropy = -sum(c / count * math.log2(c / count) for c in grams.values()) if count else 0.0
        terms.append(weight * entropy)
    return sum(terms) / len(terms)


def fluency(model: Any, tokenizer: Any, prompts: Sequence[str], max_new_tokens: int = 40, seed: int = 0) -> float:
    """Mean n-gram entropy of top-k (5) sampled continuations of `prompts`; nan for no prompts."""
    import torch

    if not prompts:
        return float("nan")
    torch.manual_seed(seed)
    scores = []
    for prompt in prompts:
        scores.append(ngram_entropy(sample(model, tokenizer, prompt, max_new_tokens)))
    return sum(scores) / len(scores)


def evaluate_edits(
    model: Any,
    tokenizer: Any,
    edited: Sequence[EditRequest],
    neighbourhood: Sequence[EditRequest],
    fluency_prompts: Sequence[str],
    seed: int = 0,
) -> dict[str, float]:
    """The four metrics: efficacy and generalization over the edits so far, specificity over the neighbours of
    the whole sequence (a fixed set), fluency over fixed prompts."""
    return {
        "efficacy": efficacy(model, tokenizer, edited),
        "generalization": generalization(model, tokenizer, edited),
        "specificity": specificity(model, tokenizer, neighbourhood),
        "fluency": fluency(model, tokenizer, fluency_prompts, seed=seed),
    }
