"""RosePO preference pairs (Liao et al. 2024, "RosePO: Aligning LLM-based Recommenders with Human Values").

For each training example (a prefix of a user's train sequence, its prompt listing the last titles and 20
candidates) chosen = the true next item's title, and rejected comes from one strategy, drawn per example by
the configured mix:

- self_hard: the SFT model's highest-scoring wrong candidate (helpfulness);
- popularity: the most popular wrong candidate (against popularity bias);
- hallucination: a title the SFT model generates that names no catalogue item, else a near-duplicate of the
  title of the chosen item's nearest neighbour (cosine of SASRec's item embeddings), not in the catalogue (its
  year shifted, or a sequel number added): a plausible, semantically close title that does not exist
  (against semantic hallucination);
- random: a uniformly drawn wrong candidate (the plain baseline).

Each pair gets a personalised smoothing factor eps = P_oracle(rejected > chosen | history) from the SASRec oracle,
clipped to [0, eps_max]; rejected titles that name no item get eps = 0 (certainly worse).
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from components.build_preferences.config import STRATEGIES, PreferenceConfig, parse_mix
from components.common.atomic import atomic_dir
from components.common.prepared import Prepared
from components.recsys.popularity import train_popularity
from components.recsys.prompts import Examples, in_chat, split_examples, training_examples

log = logging.getLogger(__name__)
NUM_NEGATIVES = 19
_YEAR = re.compile(r"\((\d{4})\)\s*$")

PAIRS = pa.schema(
    [
        pa.field("prompt", pa.string()),
        pa.field("chosen", pa.string()),
        pa.field("rejected", pa.string()),
        pa.field("strategy", pa.string()),
        pa.field("epsilon", pa.float32()),
        pa.field("user_id", pa.int32()),
        pa.field("chosen_item", pa.int32()),
        pa.field("rejected_item", pa.int32()),  # -1: a title that names no catalogue item
    ]
)


def near_duplicate(title: str, catalogue: set[str], rng: np.random.Generator) -> str:
    """A title close to `title` that is not in the catalogue: the year shifted, else a sequel number."""
    found = _YEAR.search(title)
    for _ in range(20):
        if found:
            year = int(found.group(1)) + int(rng.choice([-3, -2, -1, 1, 2, 3]))
            candidate = title[: found.start()] + f"({year})"
        else:
            candidate = f"{title} {int(rng.integers(2, 6))}"
        if candidate not in catalogue:
            return candidate
    return title + " (Special Edition)"


def _wrong(candidates: np.ndarray, target: int) -> np.ndarray:
    return candidates[candidates != target]


def nearest_items(sasrec_dir: Path, items: np.ndarray) -> np.ndarray:
    """(n,) for each item id, the other catalogue item whose SASRec embedding has the highest cosine with it."""
    import torch

    from components.recsys.sasrec import load_sasrec

    table = load_sasrec(sasrec_dir).item_emb.weight.detach()[1:]  # (n_items, H): row i is item i (0 pads)
    unit = torch.nn.functional.normalize(table, dim=-1)
    query = unit[torch.as_tensor(items, dtype=torch.long)]  # (n, H)
    cosine = query @ unit.T  # (n, n_items)
    cosine[torch.arange(len(items)), torch.as_tensor(items, dtype=torch.long)] = -2.0  # never the item itself
    return cosine.argmax(dim=-1).numpy().astype(np.int64)


def choose_rejected(
    strategy: np.ndarray,
    examples: Examples,
    titles: list[str],
    counts: np.ndarray,
    sft_scores: np.ndarray | None,
    generations: dict[int, str],
    rng: np.random.Generator,
    neighbours: np.ndarray | None = None,
) -> tuple[list[str], np.ndarray]:
    """Rejected texts (completions) and item ids (-1 = no catalogue item) for every example; `neighbours` (n,)
    is each example's chosen item's nearest item, whose near-duplicate a hallucination row falls back to (a
    random wrong candidate's without it)."""
    catalogue = set(titles)
    texts: list[str] = []
    items = np.full(len(strategy), -1, dtype=np.int64)
    for i, kind in enumerate(strategy):
        target = int(examples.targets[i])
        wrong = _wrong(examples.candidates[i], target)
        if kind == "self_hard":
            assert sft_scores is not None
            scores = sft_scores[i].copy()
            scores[examples.candidates[i] == target] = -np.inf
            items[i] = int(examples.candidates[i][int(np.argmax(scores))])
        elif kind == "popularity":
            items[i] = int(wrong[int(np.argmax(counts[wrong]))])
        elif kind == "random":
            items[i] = int(rng.choice(wrong))
        else:  # hallucination
            answer = generations.get(i, "").strip()
            if answer and answer not in catalogue and answer != titles[target]:
                texts.append(examples.answer(answer))
                continue
            close = int(neighbours[i]) if neighbours is not None else int(rng.choice(wrong))
            texts.append(examples.answer(near_duplicate(titles[close], catalogue, rng)))
            continue
        texts.append(examples.answer(titles[items[i]]))
    return texts, items


def _sft_signals(
    sft_dir: Path, examples: Examples, strategy: np.ndarray, titles: list[str], config: PreferenceConfig
) -> tuple[np.ndarray | None, dict[int, str]]:
    from components.common.models import load_base_model
    from components.recsys.generative import TitleMatcher, generate_answers
    from components.recsys.scoring import score_shared_prompt

    model, tokenizer = load_base_model(str(sft_dir / "model"))
    scores = None
    hard = np.flatnonzero(strategy == "self_hard")
    if len(hard):
        scores = np.zeros(examples.candidates.shape)
        texts = [[examples.answer(titles[c]) for c in examples.candidates[i]] for i in hard]
        scores[hard] = score_shared_prompt(model, tokenizer, [examples.prompts[i] for i in hard], texts)
    generations: dict[int, str] = {}
    halluc = np.flatnonzero(strategy == "hallucination")
    if len(halluc):
        answers = generate_answers(model, tokenizer, [examples.prompts[i] for i in halluc], config.pref_max_new_tokens)
        matcher = TitleMatcher(titles)
        for i, answer in zip(halluc, answers, strict=True):
            if matcher.match(answer, examples.candidates[i]) < 0:  # names no catalogue item at all
                generations[int(i)] = answer
    return scores, generations


def _epsilon(sasrec_dir: Path, examples: Examples, rejected: np.ndarray, eps_max: float) -> np.ndarray:
    from components.recsys.sasrec import load_sasrec, preference_probabilities

    eps = np.zeros(len(rejected), dtype=np.float32)
    known = np.flatnonzero(rejected >= 0)
    if len(known):
        oracle = load_sasrec(sasrec_dir)
        probs = preference_probabilities(
            oracle, [examples.histories[i] for i in known], rejected[known], examples.targets[known]
        )
        eps[known] = np.clip(probs, 0.0, eps_max)
    return eps


def _pairs(
    examples: Examples, config: PreferenceConfig, data: Prepared, sft_dir: Path, sasrec_dir: Path, seed: int
) -> tuple[pa.Table, dict[str, Any]]:
    rng = np.random.default_rng(seed)
    mix = parse_mix(config.pref_mix)
    names = list(mix)
    strategy = np.array(names)[rng.choice(len(names), size=len(examples.prompts), p=[mix[n] for n in names])]
    titles = data.titles
    scores, generations = _sft_signals(sft_dir, examples, strategy, titles, config)
    fallback = np.array([i for i in np.flatnonzero(strategy == "hallucination") if i not in generations], dtype=int)
    neighbours = np.zeros(len(strategy), dtype=np.int64)
    if len(fallback):
        neighbours[fallback] = nearest_items(sasrec_dir, examples.targets[fallback])
    rejected, rejected_items = choose_rejected(
        strategy, examples, titles, train_popularity(data), scores, generations, rng, neighbours
    )
    eps = _epsilon(sasrec_dir, examples, rejected_items, config.pref_epsilon_max)
    table = pa.table(
        {
            "prompt": examples.prompts,
            "chosen": examples.completions,
            "rejected": rejected,
            "strategy": strategy.tolist(),
            "epsilon": eps,
            "user_id": examples.users.astype(np.int32),
            "chosen_item": examples.targets.astype(np.int32),
            "rejected_item": rejected_items.astype(np.int32),
        },
        schema=PAIRS,
    )
    summary: dict[str, Any] = {}
    for name in STRATEGIES:
        rows = strategy == name
        summary[name] = {
            "pairs": int(rows.sum()),
            "mean_epsilon": float(eps[rows].mean()) if rows.any() else 0.0,
            "no_catalogue_item": int((rejected_items[rows] < 0).sum()),
        }
    summary["generated_hallucinations"] = len(generations)
    return table, summary


def build_preferences(
    config: PreferenceConfig, dataset_dir: str | Path, sft_dir: str | Path, sasrec_dir: str | Path, out_dir: str | Path
) -> dict[str, Any]:
    """Write `pairs.parquet` (training), `eval_pairs.parquet` (held out, from the valid split) and `stats.json`."""
    data = Prepared(dataset_dir)
    sft_dir, sasrec_dir = Path(sft_dir), Path(sasrec_dir)
    info = json.loads((sft_dir / "model.json").read_text())
    template, history_len = info["template"], info["history_len"]
    train = training_examples(data, template, history_len, config.pref_pairs, NUM_NEGATIVES, config.pref_seed + 1)
    valid = data.split("valid")
    rows = np.sort(
        np.random.default_rng(config.pref_seed).choice(
            len(valid), min(config.pref_eval_pairs, len(valid)), replace=False
        )
    )
    held_out = split_examples(data, valid, template, history_len, rows)
    if info.get("chat"):  # the SFT model was tuned on chat turns: its pairs are chat turns too
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(sft_dir / "model", local_files_only=True)
        train, held_out = in_chat(train, tokenizer), in_chat(held_out, tokenizer)
    train_table, train_summary = _pairs(train, config, data, sft_dir, sasrec_dir, config.pref_seed)
    eval_table, eval_summary = _pairs(held_out, config, data, sft_dir, sasrec_dir, config.pref_seed + 2)
    stats = {
        "pairs": train_table.num_rows,
        "eval_pairs": eval_table.num_rows,
        "train": train_summary,
        "eval": eval_summary,
    }
    with atomic_dir(out_dir) as tmp:
        pq.write_table(train_table, tmp / "pairs.parquet")
        pq.write_table(eval_table, tmp / "eval_pairs.parquet")
        (tmp / "stats.json").write_text(json.dumps(stats, indent=2))
        (tmp / "model.json").write_text(json.dumps(info))  # the prompt format the pairs were written in
    log.info(
        "built %d pairs: %s",
        train_table.num_rows,
        {k: v["pairs"] for k, v in train_summary.items() if isinstance(v, dict)},
    )
    return stats
