"""LLaRA-style recommendation prompts and the SFT examples built from them.

Prompt (LLaRA's text-only form, Liao et al. 2024): "This user has watched <t1>, ..., <tN> in the previous.
Please predict the next movie this user will watch. Choose the answer from the following 20 movie titles:
<c1>, ..., <c20>. Answer:" with completion " <target title>" (TRL appends the end-of-sequence token).
Nouns and verbs follow the dataset's domain; templates are configurable with {history}, {candidates}, {n}.

A model with a chat template (a pretrained instruct model such as SmolLM2-135M-Instruct) gets the same prompt as
the user's turn, ending where the assistant's turn starts, and answers with the bare title (`in_chat`), unless the
template is overridden; the model folder records which format it was trained in (`model.json` "chat").
"""

from __future__ import annotations

import dataclasses
import string
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from components.common.errors import ConfigError
from components.common.prepared import Prepared, SplitArrays
from components.recsys.candidates import candidate_sets, seen_keys

TEMPLATES = {
    "movie": (
        "This user has watched {history} in the previous. Please predict the next movie this user will watch. "
        "Choose the answer from the following {n} movie titles: {candidates}. Answer:"
    ),
    "artist": (
        "This user has listened to {history} in the previous. Please predict the next artist this user will "
        "listen to. Choose the answer from the following {n} artist names: {candidates}. Answer:"
    ),
    "product": (
        "This user has bought {history} in the previous. Please predict the next product this user will buy. "
        "Choose the answer from the following {n} product titles: {candidates}. Answer:"
    ),
}
DOMAINS = {"lastfm-hetrec-2k": "artist", "amazon-reviews": "product"}
FIELDS = {"history", "candidates", "n"}
DEFAULT_HISTORY_LEN = 10  # LLaRA: the last 10 titles (SFTConfig's default; a test keeps them equal)


def check_template(template: str, where: str) -> None:
    try:
        names = {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    except ValueError as exc:
        raise ConfigError(where, f"not a valid template ({exc})") from None
    unknown = names - FIELDS
    if unknown or not {"history", "candidates"} <= names:
        raise ConfigError(
            where, f"uses {sorted(names)}; expected {{history}} and {{candidates}} (and optionally {{n}}) only"
        )


def template_for(dataset: str, template: str = "") -> str:
    return template or TEMPLATES[DOMAINS.get(dataset, "movie")]


def render(template: str, titles: Sequence[str], history: Sequence[int], candidates: Sequence[int]) -> str:
    return template.format(
        history=", ".join(titles[i] for i in history),
        candidates=", ".join(titles[i] for i in candidates),
        n=len(candidates),
    )


def completion(title: str, chat: bool = False) -> str:
    """The answer text after a prompt: " <title>" after a plain prompt, the bare title as a chat assistant turn."""
    return title if chat else " " + title


def uses_chat(tokenizer: Any, template_override: str = "") -> bool:
    """Whether prompts go through the tokenizer's chat template: it has one and the prompt template is the default."""
    return bool(getattr(tokenizer, "chat_template", None)) and not template_override


def chat_prompt(tokenizer: Any, text: str) -> str:
    """`text` as the user's turn of the model's chat template, up to where the assistant's answer starts."""
    turn = [{"role": "user", "content": text}]
    return tokenizer.apply_chat_template(turn, tokenize=False, add_generation_prompt=True)


@dataclass
class Examples:
    """Prompt/completion pairs and what they were built from."""

    prompts: list[str]
    completions: list[str]
    users: np.ndarray  # (n,)
    targets: np.ndarray  # (n,)
    candidates: np.ndarray  # (n, n_candidates)
    histories: list[np.ndarray]  # the history items each prompt names, oldest first
    chat: bool = False  # prompts are chat turns (see `in_chat`)

    def answer(self, title: str) -> str:
        """The completion text of `title` in these examples' format."""
        return completion(title, self.chat)


def in_chat(examples: Examples, tokenizer: Any) -> Examples:
    """The same examples as chat turns: each prompt as the user's message, each completion the bare title."""
    return dataclasses.replace(
        examples,
        prompts=[chat_prompt(tokenizer, p) for p in examples.prompts],
        completions=[c.removeprefix(" ") for c in examples.completions],
        chat=True,
    )


def fit_to_length(
    examples: Examples, titles: Sequence[str], template: str, tokenizer: Any, max_length: int
) -> tuple[Examples, int]:
    """Drop the oldest history titles of prompts whose prompt + completion + EOS exceed `max_length` tokens
    (rather than letting the trainer cut the completion off). Returns the examples and how many were shortened."""
    shortened = 0
    for i, (prompt, answer) in enumerate(zip(examples.prompts, examples.completions, strict=True)):
        history = examples.histories[i]
        while len(tokenizer(prompt + answer, add_special_tokens=False).input_ids) + 1 > max_length and len(history) > 1:
            history = history[1:]
            prompt = render(template, titles, history, examples.candidates[i])
            if examples.chat:
                prompt = chat_prompt(tokenizer, prompt)
        if len(history) < len(examples.histories[i]):
            examples.prompts[i], examples.histories[i] = prompt, history
            shortened += 1
    return examples, shortened


def split_examples(
    data: Prepared, split: SplitArrays, template: str, history_len: int, rows: np.ndarray | None = None
) -> Examples:
    """One example per split row, with the row's stored candidates."""
    rows = np.arange(len(split)) if rows is None else rows
    titles = data.titles
    histories = [split.history(int(r))[-history_len:] for r in rows]
    prompts = [render(template, titles, h, split.candidates[r]) for h, r in zip(histories, rows, strict=True)]
    return Examples(
        prompts,
        [completion(titles[t]) for t in split.targets[rows]],
        split.users[rows],
        split.targets[rows],
        split.candidates[rows],
        histories,
    )


def training_examples(
    data: Prepared, template: str, history_len: int, max_examples: int, num_negatives: int, seed: int
) -> Examples:
    """Next-item examples from every prefix of the train sequences (history + target), sampled uniformly
    without replacement up to `max_examples`, each with fresh seeded candidates the user never interacted with."""
    train = data.split("train")
    lengths = np.diff(train.offsets) + 1  # sequence = history + target
    per_row = lengths - 1  # targets at positions 1..len-1
    total = int(per_row.sum())
    rng = np.random.default_rng(seed)
    picks = np.sort(rng.choice(total, size=min(max_examples, total), replace=False))
    row_of = np.repeat(np.arange(len(train)), per_row)[picks]
    first = np.concatenate([[0], np.cumsum(per_row)[:-1]])
    position = picks - first[row_of] + 1  # index of the target inside the sequence
    sequences = {int(r): np.append(train.history(int(r)), train.targets[r]) for r in np.unique(row_of)}
    targets = np.array([sequences[int(r)][p] for r, p in zip(row_of, position, strict=True)], dtype=np.int64)
    users = train.users[row_of]
    seen = seen_keys(*data.interactions, data.n_items)
    cands = candidate_sets(targets, users, seen, data.n_items, num_negatives, seed, stream=7)
    titles = data.titles
    histories = [sequences[int(r)][max(0, p - history_len) : p] for r, p in zip(row_of, position, strict=True)]
    prompts = [render(template, titles, h, c) for h, c in zip(histories, cands, strict=True)]
    order = rng.permutation(len(prompts))
    return Examples(
        [prompts[i] for i in order],
        [completion(titles[t]) for t in targets[order]],
        users[order],
        targets[order],
        cands[order],
        [histories[i] for i in order],
    )
