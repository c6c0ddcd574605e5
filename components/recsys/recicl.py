"""RecICL's in-context format (Bao et al., "Real-Time Personalization for LLM-based Recommendation with
Customized In-Context Learning", arXiv 2410.23136; Findings of ACL 2025).

Each sample groups K examples of one user in time order: K-1 answered demonstrations (the user's most recent
interactions before the query) and the query, each a Yes/No question "will the user enjoy <title>?" over the
user's up to 10 most recent liked titles at that time. Labels come from ratings (liked = rating >= threshold).
The model is trained once; at serving time the demonstrations are refreshed from the newest interactions, so new
interests enter only through the prompt. Everything a sample shows happened strictly before its query in time:
timestamps are whole seconds and a user often rates several items in the same second (16 % of MovieLens
interactions share the previous one's second), so interactions in the query's second are neither demonstrations
nor history, whatever their order in the file.
A model with a chat template (a pretrained instruct model) gets each sample as the user's turn and answers "Yes" or
"No" as the assistant (`as_turns`); the model folder records which (`model.json` "chat").
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow.parquet as pq

from components.common.errors import ConfigError, DataError
from components.common.prepared import Prepared
from components.recsys.icl_config import ICLConfig, parse_as_of
from components.recsys.prompts import chat_prompt

log = logging.getLogger(__name__)

NOUNS = {"movie": ("movie", "movies"), "artist": ("artist", "artists"), "product": ("product", "products")}
HEADER = (
    "You are a smart {noun} recommendation system that predicts whether a user will enjoy a {noun} based on their "
    "preferences. Below are a few examples:\n\n"
)
QUESTION = (
    "#Example {index}:\n#Question: A user has given high ratings to the following {nouns}: {history}. Leverage the "
    'information to predict whether the user would enjoy the {noun} titled "{title}"? Answer with "Yes" or "No". '
    "\n#Answer:"
)


@dataclass
class UserTimeline:
    """Every interaction sorted by user then time: user u owns positions [starts[u], starts[u] + counts[u])."""

    user: np.ndarray  # (n,) int64
    item: np.ndarray  # (n,) int64
    timestamp: np.ndarray  # (n,) int64
    liked: np.ndarray  # (n,) bool
    starts: np.ndarray  # (n_users,) int64
    first_same: np.ndarray  # (n,) int64: index of the user's first interaction in the same second

    @property
    def earlier(self) -> np.ndarray:
        """(n,) how many of the user's interactions are strictly earlier in time than each interaction."""
        return self.first_same - self.starts[self.user]

    @classmethod
    def load(cls, data: Prepared, like_threshold: float) -> UserTimeline:
        table = pq.read_table(data.path / "interactions.parquet")
        if table["timestamp"].null_count:
            raise ConfigError(
                "icl", f"{data.stats['dataset']} has no timestamps; expected a dataset with time (MovieLens, Amazon)"
            )
        user = table["user_id"].to_numpy().astype(np.int64)
        timestamp = table["timestamp"].to_numpy().astype(np.int64)
        counts = np.bincount(user, minlength=data.n_users)
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        return cls(
            user=user,
            item=table["item_id"].to_numpy().astype(np.int64),
            timestamp=timestamp,
            liked=table["rating"].to_numpy() >= like_threshold,
            starts=starts,
            first_same=same_second_starts(user, timestamp),
        )

    def liked_before(self, index: int, limit: int) -> np.ndarray:
        """Up to `limit` most recent liked items of the user strictly before interaction `index` in time (oldest
        first): none from `index`'s own second."""
        start = self.starts[self.user[index]]
        earlier = np.arange(start, self.first_same[index])
        return self.item[earlier[self.liked[earlier]]][-limit:]


def same_second_starts(user: np.ndarray, timestamp: np.ndarray) -> np.ndarray:
    """(n,) for rows sorted by user then time: the index of the first row with the same user and timestamp."""
    index = np.arange(len(user))
    new = np.ones(len(user), dtype=bool)
    new[1:] = (user[1:] != user[:-1]) | (timestamp[1:] != timestamp[:-1])
    return np.maximum.accumulate(np.where(new, index, 0))


def time_boundaries(timestamp: np.ndarray, train_fraction: float, windows: int, as_of: int = 0) -> np.ndarray:
    """(windows + 2,) boundaries: [min, b0, b1, ..., end]; window 0 (training) is [min, b0), window w >= 1 is
    [b_{w-1}, b_w). Later windows split the interactions after b0 into equal quantiles. `as_of` > 0 drops
    everything after that time first."""
    ts = timestamp[timestamp <= as_of] if as_of else timestamp
    if len(ts) == 0:
        raise DataError("interactions.parquet", f"no interaction at or before as_of={as_of}; expected some")
    fractions = train_fraction + (1 - train_fraction) * np.arange(windows + 1) / windows
    inner = np.quantile(ts, fractions[:-1], method="lower")
    return np.concatenate([[ts.min()], inner, [ts.max() + 1]]).astype(np.int64)


@dataclass
class ICLSamples:
    prompts: list[str]
    labels: np.ndarray  # (n,) 0/1 of each query
    users: np.ndarray  # (n,)
    queries: np.ndarray  # (n,) interaction indices of the queries
    left_out: int  # queries without K-1 earlier interactions


def build_samples(
    timeline: UserTimeline,
    titles: list[str],
    queries: np.ndarray,
    demos: int,
    history_len: int,
    domain: str = "movie",
) -> ICLSamples:
    """One prompt per query interaction: `demos` answered demonstrations (the user's latest interactions strictly
    before it in time, oldest first), then the query. Queries with fewer than `demos` earlier interactions are
    left out."""
    if demos < 0:
        raise ConfigError("icl.icl_demos", f"got {demos}; expected >= 0")
    noun, nouns = NOUNS[domain]
    keep = timeline.earlier[queries] >= demos
    chosen = queries[keep]
    prompts = []
    for query in chosen:
        parts = [HEADER.format(noun=noun)] if demos else []
        first_same = int(timeline.first_same[query])
        examples = [*range(first_same - demos, first_same), query]
        for n, index in enumerate(examples, start=1):
            history = ", ".join(f'"{titles[i]}"' for i in timeline.liked_before(index, history_len)) or "(none yet)"
            text = QUESTION.format(index=n, nouns=nouns, noun=noun, history=history, title=titles[timeline.item[index]])
            if index != query:
                text += ("Yes" if timeline.liked[index] else "No") + "\n\n"
            parts.append(text)
        prompts.append("".join(parts))
    return ICLSamples(
        prompts, timeline.liked[chosen].astype(np.int64), timeline.user[chosen], chosen, int((~keep).sum())
    )


def as_turns(prompts: list[str], tokenizer: Any, chat: bool) -> list[str]:
    """The prompts as the user's turn of the tokenizer's chat template when `chat`, else unchanged."""
    return [chat_prompt(tokenizer, p) for p in prompts] if chat else list(prompts)


def window_queries(timeline: UserTimeline, bounds: np.ndarray, window: int, limit: int, seed: int) -> np.ndarray:
    """Interaction indices whose time falls in `window` (0 = training), a seeded sample of at most `limit`."""
    inside = np.flatnonzero((timeline.timestamp >= bounds[window]) & (timeline.timestamp < bounds[window + 1]))
    if limit and len(inside) > limit:
        inside = np.sort(np.random.default_rng([seed, window]).choice(inside, limit, replace=False))
    return inside


def windows(data: Prepared, icl: ICLConfig) -> tuple[UserTimeline, np.ndarray]:
    """The liked-interaction timeline and the window boundaries (window 0 is training) under `icl`."""
    timeline = UserTimeline.load(data, icl.icl_like_threshold)
    bounds = time_boundaries(timeline.timestamp, icl.icl_train_fraction, icl.icl_windows, parse_as_of(icl.as_of))
    return timeline, bounds
