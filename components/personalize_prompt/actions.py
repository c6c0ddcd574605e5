"""The sentences RPP's agents choose from (Mao et al., TOIS 2025; action sets of the reference code's ML-1M
prompts, worded for any item domain) and the prompt they assemble into.

A prompt is role + the user's last n titles + the 10 candidates, numbered 0-9 + a reasoning sentence + an
output-format sentence. History actions add 0, 1 or 2 titles to the length each round (from `HISTORY_START`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

PATTERNS = ("role", "history", "reasoning", "format")
MODES = ("likelihood", "generate")  # how the frozen LLM ranks (components/personalize_prompt/environment.py)
HISTORY_STEPS = (0, 1, 2)  # titles added to the history length per round
HISTORY_START = 1  # the reference's ini_len for ML-1M and LastFM


@dataclass(frozen=True)
class Domain:
    """How the prompt names the items and what a user does with them."""

    items: str  # "movies"
    verb: str  # "watched"
    future: str  # "watch"


DOMAINS: Mapping[str, Domain] = {
    "movielens-latest-small": Domain("movies", "watched", "watch"),
    "movielens-100k": Domain("movies", "watched", "watch"),
    "movielens-1m": Domain("movies", "watched", "watch"),
    "lastfm-hetrec-2k": Domain("artists", "listened to", "listen to"),
    "amazon-reviews": Domain("products", "bought", "buy"),
}


def action_sets(domain: Domain) -> dict[str, list[str]]:
    """pattern -> its sentences (history: the steps, as text)."""
    items = domain.items
    return {
        "role": [
            "",
            f"You are a {items[:-1]} expert.",
            f"You are a {items[:-1]} recommender.",
            f"You are a {items[:-1]} ranker who matches a user's interest.",
            f"You know {items} well and are good at catching people's interest in them.",
        ],
        "history": [str(step) for step in HISTORY_STEPS],
        "reasoning": [
            "Rank them in order of priority.",
            f"Rank them according to my {domain.verb.split()[0]} history.",
            "Think step by step.",
            "Infer my preferences from the history first.",
            "Update my preferences with the most recent history first.",
            "Rank them by their similarity to my preferences.",
            "Rank them by their similarity to my whole history.",
        ],
        "format": [
            "Only output the 10 order numbers, one per line.",
            "Output the order numbers of all 10 candidates, best first, split by line breaks.",
            "Answer with the 10 order numbers only, separated by commas, the best first.",
            "Output the ranking as order numbers, for example: 3, 0, 7, ...",
            "Give the ranking results with order numbers and nothing else.",
        ],
    }


@dataclass(frozen=True)
class Choice:
    """One user's chosen action per pattern (indices into `action_sets`) and the history length they give."""

    role: int
    history: int
    reasoning: int
    format: int
    history_len: int


def render(
    sets: Mapping[str, Sequence[str]],
    choice: Choice,
    domain: Domain,
    history_titles: Sequence[str],
    candidate_titles: Sequence[str],
    reasoning: str | None = None,
) -> str:
    """The user's prompt; `reasoning` replaces the chosen reasoning sentence (RPP+'s refinement)."""
    recent = list(history_titles)[-choice.history_len :] if choice.history_len > 0 else []
    past = "\n".join(f"{i}. {t}" for i, t in enumerate(recent)) or "(none)"
    candidates = "\n".join(f"{i}. {t}" for i, t in enumerate(candidate_titles))
    role = sets["role"][choice.role]
    sentence = reasoning if reasoning is not None else sets["reasoning"][choice.reasoning]
    return (
        f"{role + ' ' if role else ''}I've {domain.verb} the following {domain.items} in the past in order:\n{past}\n\n"
        f"Now there are {len(candidate_titles)} candidate {domain.items} that I can {domain.future} next:\n"
        f"{candidates}\n{sentence} {sets['format'][choice.format]}"
    )
