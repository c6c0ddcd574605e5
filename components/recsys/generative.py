"""Generative evaluation as in LLaRA / iLoRA: generate an answer, match it to the catalogue.

Matching: the exact title among the candidates, then a normalised title among the candidates (case, accents,
punctuation, a trailing year and MovieLens' trailing articles "Matrix, The" ignored), then the same two
steps over the whole catalogue. An answer matching a candidate is valid; one matching no catalogue item at all
is a hallucination. HR@1 here divides by all users (the LLaRA code divides by valid answers only).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

_YEAR = re.compile(r"\(\s*\d{4}\s*\)\s*$")
_ARTICLE = re.compile(r"^(?P<body>.*), (?P<article>the|a|an|les|la|le|il|el|der|die|das)$")
_PUNCT = re.compile(r"[^\w\s]")


def normalise_title(title: str) -> str:
    text = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode().lower().strip()
    text = _YEAR.sub("", text).strip()
    found = _ARTICLE.match(text)
    if found:
        text = f"{found['article']} {found['body']}"
    return " ".join(_PUNCT.sub(" ", text).split())


class TitleMatcher:
    """Maps generated answers to item ids: candidates first, then the catalogue; -1 for no match."""

    def __init__(self, titles: Sequence[str]) -> None:
        self.titles = list(titles)
        self.exact: dict[str, int] = {}
        self.normal: dict[str, int] = {}
        for item, title in enumerate(self.titles):
            self.exact.setdefault(title.strip(), item)
            self.normal.setdefault(normalise_title(title), item)

    def match(self, answer: str, candidates: Sequence[int]) -> int:
        text = answer.strip()
        for candidate in candidates:
            if self.titles[candidate].strip() == text:
                return int(candidate)
        key = normalise_title(text)
        for candidate in candidates:
            if normalise_title(self.titles[candidate]) == key:
                return int(candidate)
        if text in self.exact:
            return self.exact[text]
        return self.normal.get(key, -1) if key else -1


@torch.no_grad()
def generate_answers(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[str],
    max_new_tokens: int = 32,
    batch_size: int = 16,
    before_batch: Callable[[np.ndarray], None] | None = None,
    first_line: bool = True,
) -> list[str]:
    """Greedy answers (the text before the end-of-sequence token, and before the first newline when `first_line`),
    in the order of `prompts`.

    Prompts are batched in order of length (little left padding); `before_batch(indices)` runs before each batch's
    generation with the indices of its prompts (iLoRA sets its gate there)."""
    model.eval()
    device = next(model.parameters()).device
    answers = [""] * len(prompts)
    lengths = [len(tokenizer(p, add_special_tokens=False).input_ids) for p in prompts]
    order = np.argsort(lengths, kind="stable")
    side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    try:
        for start in range(0, len(prompts), batch_size):
            users = order[start : start + batch_size]
            if before_batch is not None:
                before_batch(users)
            batch = tokenizer([prompts[u] for u in users], return_tensors="pt", padding=True,
                              add_special_tokens=False).to(device)  # fmt: skip
            with torch.inference_mode():
                out = model.generate(
                    **batch,
                    max_new_tokens=max_new_tokens,
                    do_sample=False,
                    pad_token_id=tokenizer.pad_token_id,
                    eos_token_id=tokenizer.eos_token_id,
                )
            new = out[:, batch["input_ids"].shape[1] :]
            for user, row in zip(users, tokenizer.batch_decode(new, skip_special_tokens=True), strict=True):
                answers[user] = (row.split("\n")[0] if first_line else row).strip()
    finally:
        tokenizer.padding_side = side
    return answers


def generative_metrics(matched: np.ndarray, targets: np.ndarray, candidates: np.ndarray) -> dict[str, float]:
    """matched: (users,) item ids or -1; candidates: (users, C)."""
    valid = (candidates == matched[:, None]).any(axis=1)
    return {
        "gen_hr_1": float((matched == targets).mean()),
        "valid_ratio": float(valid.mean()),
        "hallucination_rate": float((matched < 0).mean()),
    }
