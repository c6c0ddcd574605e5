"""The evaluate step: score one model's candidates for every evaluated user and compute what the field reports.

Models are told apart by the `model.json` their training step writes: `popularity`, `sasrec`, `llm` (any
causal LM fine-tuned by recforge; scored by length-normalised title log-likelihood with a shared-prompt KV
cache, and asked to generate an answer that is matched back to the catalogue), `ilora`, or `base` (the untuned base
model of a resolve-base-model artifact, scored the same way on the default prompts). Writes `metrics.json` and
`predictions.parquet` into the output folder.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from components.common.atomic import atomic_dir
from components.common.errors import DataError
from components.common.prepared import Prepared, SplitArrays
from components.evaluate.bias import bias_metrics
from components.evaluate.config import EvalConfig
from components.recsys.metrics import ranking_metrics, ranks_from_scores
from components.recsys.popularity import train_popularity

log = logging.getLogger(__name__)


def model_info(model_dir: str | Path) -> dict:
    path = Path(model_dir) / "model.json"
    if not path.is_file():
        raise DataError(path, "file not found; expected a model folder written by a recforge training step")
    return json.loads(path.read_text())


def select_rows(split: SplitArrays, config: EvalConfig) -> SplitArrays:
    if config.eval_users and config.eval_users < len(split):
        rng = np.random.default_rng(config.eval_seed)
        return split.take(np.sort(rng.choice(len(split), config.eval_users, replace=False)))
    return split


def _llm_scores(model_dir: Path, info: dict, data: Prepared, split: SplitArrays, config: EvalConfig) -> tuple:
    from components.common.models import load_base_model

    model, tokenizer = load_base_model(str(model_dir / "model"))
    return _lm_scores(model, tokenizer, info["template"], info["history_len"], bool(info.get("chat")), data, split,
                      config)  # fmt: skip


def _base_scores(model_dir: Path, data: Prepared, split: SplitArrays, config: EvalConfig) -> tuple:
    """The untuned base model (a base-model artifact) on the default prompts: the dataset's template, the default
    history length, its chat template when it has one."""
    from components.common.base_model import read_reference
    from components.common.models import load_base_model
    from components.recsys.prompts import DEFAULT_HISTORY_LEN, template_for, uses_chat

    record = read_reference(model_dir)
    model, tokenizer = load_base_model(record["base_model"], corpus=data.titles)
    template = template_for(data.stats["dataset"])
    return _lm_scores(model, tokenizer, template, DEFAULT_HISTORY_LEN, uses_chat(tokenizer), data, split, config)


def _lm_scores(
    model: Any,
    tokenizer: Any,
    template: str,
    history_len: int,
    chat: bool,
    data: Prepared,
    split: SplitArrays,
    config: EvalConfig,
) -> tuple:
    """Candidate log-likelihoods of a causal LM, and (with eval_generate) its generated answers matched back to the
    catalogue."""
    from components.recsys.generative import TitleMatcher, generate_answers, generative_metrics
    from components.recsys.prompts import in_chat, split_examples
    from components.recsys.scoring import score_shared_prompt

    examples = split_examples(data, split, template, history_len)
    if chat:
        examples = in_chat(examples, tokenizer)
    texts = [[examples.answer(data.titles[c]) for c in row] for row in split.candidates]
    scores = score_shared_prompt(model, tokenizer, examples.prompts, texts, batch_users=config.eval_batch_users)
    extra: dict[str, Any] = {}
    answers: list[str] = []
    if config.eval_generate:
        answers = generate_answers(model, tokenizer, examples.prompts, max_new_tokens=config.eval_max_new_tokens)
        matcher = TitleMatcher(data.titles)
        matched = np.array([matcher.match(a, c) for a, c in zip(answers, split.candidates, strict=True)])
        extra = generative_metrics(matched, split.targets, split.candidates)
    return scores, extra, answers


def _ilora_scores(model_dir: Path, data: Prepared, split: SplitArrays, config: EvalConfig) -> tuple:
    """iLoRA: the gate from the SASRec representation of each prompt's history, set for every forward."""
    import torch

    from components.recsys.generative import TitleMatcher, generate_answers, generative_metrics
    from components.recsys.ilora_format import hybrid_prompt, load_ilora, sequence_representations
    from components.recsys.prompts import completion, split_examples
    from components.recsys.scoring import pad, score_shared_prompt

    model, tokenizer, sasrec, info = load_ilora(model_dir)
    examples = split_examples(data, split, info["template"], info["history_len"])
    reps = torch.from_numpy(sequence_representations(sasrec, examples.histories))  # (users, d)
    hybrid = info["ilora_prompt"] == "hybrid"
    prompts, soft = examples.prompts, None
    if hybrid:
        pairs = [
            hybrid_prompt(info["template"], data.titles, h, c)
            for h, c in zip(examples.histories, split.candidates, strict=True)
        ]
        prompts = [p for p, _ in pairs]
        soft, _ = pad([items for _, items in pairs], -1, left=False)

    def row_inputs(users: np.ndarray) -> dict:
        index = torch.from_numpy(users)
        inputs = {"user_repr": reps[index]}
        if soft is not None:
            inputs["soft_items"] = soft[index]
        return inputs

    texts = [[completion(data.titles[c]) for c in row] for row in split.candidates]
    scores = score_shared_prompt(model, tokenizer, prompts, texts, config.eval_batch_users, row_inputs)
    extra: dict[str, Any] = {}
    answers: list[str] = []
    if config.eval_generate and not hybrid:  # generation from hybrid prompts would need soft tokens in generate()

        def set_gate(users: np.ndarray) -> None:
            model.state.weights = model.gate_weights(reps[torch.from_numpy(users)])

        with torch.no_grad():
            answers = generate_answers(
                model.model, tokenizer, prompts, config.eval_max_new_tokens, before_batch=set_gate
            )
        model.state.weights = None
        matcher = TitleMatcher(data.titles)
        matched = np.array([matcher.match(a, c) for a, c in zip(answers, split.candidates, strict=True)])
        extra = generative_metrics(matched, split.targets, split.candidates)
    return scores, extra, answers


def evaluate(model_dir: str | Path, dataset_dir: str | Path, config: EvalConfig, out_dir: str | Path) -> dict:
    """Evaluate the model in `model_dir` on the prepared dataset; returns {'kind', 'users', 'metrics'}."""
    started = time.perf_counter()
    model_dir = Path(model_dir)
    info = model_info(model_dir)
    data = Prepared(dataset_dir)
    split = select_rows(data.split(config.eval_split), config)
    if len(split) == 0:
        raise DataError(data.path / f"{config.eval_split}.parquet", "no rows to evaluate; expected at least one")
    counts = train_popularity(data)
    kind = info.get("kind")
    scores, extra, answers = _scores(kind, model_dir, info, data, split, config)
    ranks = ranks_from_scores(scores, split.target_index())
    top1 = split.candidates[np.arange(len(split)), scores.argmax(axis=1)]
    metrics = ranking_metrics(ranks)
    metrics.update(bias_metrics(top1, split.targets, ranks, counts, len(data.split("train"))))
    # rankers choose among the candidates by construction; LLMs are measured on their generations
    if kind in ("popularity", "sasrec"):
        metrics.update({"valid_ratio": 1.0, "hallucination_rate": 0.0})
    metrics.update(extra)  # LLMs: measured on their generations (absent when generation is off)
    if config.eval_split == "test" and config.eval_valid_ranking:
        metrics.update(_valid_ranking(kind, model_dir, info, data, config))
    result = {"kind": kind, "users": len(split), "candidates": int(split.candidates.shape[1]), "metrics": metrics}
    with atomic_dir(out_dir) as tmp:
        columns: dict[str, Any] = {
            "user_id": pa.array(split.users.astype(np.int32)),
            "target": pa.array(split.targets.astype(np.int32)),
            "rank": pa.array(ranks.astype(np.int32)),
            "top1": pa.array(top1.astype(np.int32)),
            "candidates": pa.array(split.candidates.astype(np.int32).tolist(), pa.list_(pa.int32())),
            "scores": pa.array(scores.astype(np.float32).tolist(), pa.list_(pa.float32())),
        }
        if answers:
            columns["answer"] = pa.array(answers)
        pq.write_table(pa.table(columns), tmp / "predictions.parquet")
        (tmp / "metrics.json").write_text(json.dumps(result, indent=2))
    log.info("evaluated %s on %d users in %.1fs: %s", kind, len(split), time.perf_counter() - started,
             ", ".join(f"{k}={v:.4f}" for k, v in metrics.items()))  # fmt: skip
    return result


def _valid_ranking(kind: str, model_dir: Path, info: dict, data: Prepared, config: EvalConfig) -> dict[str, float]:
    """Ranking metrics on the valid split (a seeded sample of `eval_users` rows, no generation), prefixed
    `valid_`: what model selection reads, so the test split only reports."""
    split = select_rows(data.split("valid"), config)
    if len(split) == 0:
        return {}
    scores, _, _ = _scores(kind, model_dir, info, data, split, dataclasses.replace(config, eval_generate=False))
    ranks = ranks_from_scores(scores, split.target_index())
    return {f"valid_{name}": value for name, value in ranking_metrics(ranks).items()}


def _scores(
    kind: str, model_dir: Path, info: dict, data: Prepared, split: SplitArrays, config: EvalConfig
) -> tuple[np.ndarray, dict[str, float], list[str]]:
    """(scores (rows, candidates), generative metrics, generated answers) of one model kind on `split`."""
    answers: list[str] = []
    extra: dict[str, float] = {}
    if kind == "popularity":
        from components.recsys.popularity import load_popularity

        scores = load_popularity(model_dir)[split.candidates].astype(np.float64)
    elif kind == "sasrec":
        from components.recsys.sasrec import load_sasrec, score_split

        scores = score_split(load_sasrec(model_dir), split)
    elif kind == "llm":
        scores, extra, answers = _llm_scores(model_dir, info, data, split, config)
    elif kind == "ilora":
        scores, extra, answers = _ilora_scores(model_dir, data, split, config)
    elif kind == "base":
        scores, extra, answers = _base_scores(model_dir, data, split, config)
    else:
        raise DataError(
            model_dir / "model.json", f"unknown model kind {kind!r}; expected popularity, sasrec, llm, ilora or base"
        )
    return scores, extra, answers
