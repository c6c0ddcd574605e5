"""The knowledge-edit steps as plain functions: fact model, preserved statistics, one method's edit sequence.

Folders passed between steps:
- facts/: `facts.json` (every fact), `requests.json` (the edit sequence with paraphrases and neighbours),
  `preserved.txt` (one preserved sentence per line: the facts of subjects that are not edited);
- model/: a saved transformers model and tokenizer;
- stats/: `moment-<layer>.pt` (Σ k kᵀ and the token count) and `stats.json`;
- evaluation/: `curve.json` (the four metrics after every batch) and `edits.json` (timings, settings).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from components.common.atomic import atomic_dir
from components.common.errors import ConfigError, DataError
from components.common.training import best_device
from components.edit_knowledge import facts as fact_sets
from components.edit_knowledge.config import EditConfig, FactConfig

log = logging.getLogger(__name__)


def _read_items(dataset_dir: str | Path) -> list[dict]:
    import pyarrow.parquet as pq

    path = Path(dataset_dir) / "items.parquet"
    if not path.is_file():
        raise DataError(path, "file not found; expected the items table of a prepared Dataset")
    table = pq.read_table(path)
    missing = [c for c in ("title", "genres", "year") if c not in table.column_names]
    if missing:
        raise DataError(path, f"missing column '{missing[0]}'; expected title, genres and year to build facts")
    return table.select(["title", "genres", "year"]).to_pylist()


def known_share(model: Any, tokenizer: Any, requests: list[fact_sets.EditRequest]) -> float:
    """Share of the edit facts where the model prefers the true object to the counterfactual (before editing)."""
    from components.edit_knowledge.evaluation import efficacy

    return 1.0 - efficacy(model, tokenizer, requests)


def resolve_fact_set(config: FactConfig) -> str:
    """'catalogue' or 'world': `fact_set`, or for 'auto' catalogue facts for a random-init preset (it is trained
    on them) and world facts for a pretrained model (it is asked what it already knows)."""
    from components.common.models import model_kind

    if config.fact_set != "auto":
        return config.fact_set
    return "catalogue" if model_kind(config.base_model) == "preset" else "world"


def _candidate_facts(config: FactConfig, fact_set: str, dataset_dir: str | Path) -> list[fact_sets.Fact]:
    if fact_set == "world":
        from components.edit_knowledge.world import world_facts

        return world_facts(config.fact_city_population)
    return fact_sets.choose_subjects(
        fact_sets.item_facts(_read_items(dataset_dir)), config.fact_items, config.fact_seed
    )


def build_fact_model(config: FactConfig, dataset_dir: str | Path, model_out: str | Path, facts_out: str | Path) -> dict:
    """Write the fact set and the edit sequence, and the model that knows the facts.

    A random-init preset is trained on every sentence of the fact set. Any other model (a pretrained preset, a
    saved model, a hub id) is used as it is, and only the facts it knows (greedy) are kept.
    """
    from components.common.models import load_base_model, model_kind, save_model
    from components.edit_knowledge.fact_model import train_on_sentences
    from components.edit_knowledge.known import keep_known
    from components.edit_knowledge.world import WORLD_RELATIONS

    fact_set = resolve_fact_set(config)
    templates = WORLD_RELATIONS if fact_set == "world" else fact_sets.RELATIONS
    facts = _candidate_facts(config, fact_set, dataset_dir)
    texts = fact_sets.sentences(facts, templates)  # a preset's tokenizer corpus and training sentences
    started = time.time()
    model, tokenizer = load_base_model(
        config.base_model, corpus=texts, seed=config.fact_seed, vocab_size=config.fact_vocab_size
    )
    model.to(best_device())
    curve: list[float] = []
    counts: dict[str, dict[str, int]] = {}
    if model_kind(config.base_model) == "preset":
        curve = train_on_sentences(
            model,
            tokenizer,
            texts,
            epochs=config.fact_epochs,
            lr=config.fact_lr,
            batch_size=config.fact_batch_size,
            seed=config.fact_seed,
        )
    else:
        model.eval()
        facts, counts = keep_known(model, tokenizer, facts, templates)
        log.info("facts the model knows: %s", counts)
        if not facts:
            raise ConfigError(
                "facts.fact_set", f"{config.base_model} knows none of the {fact_set} facts; expected a model that does"
            )
    model.eval()
    requests = fact_sets.edit_requests(facts, config.fact_edits, config.fact_neighbours, config.fact_seed, templates)
    share = known_share(model, tokenizer, requests)
    save_model(model.to("cpu"), tokenizer, model_out)
    with atomic_dir(facts_out) as tmp:
        (tmp / "facts.json").write_text(json.dumps([asdict(f) for f in facts]), encoding="utf-8")
        (tmp / "requests.json").write_text(json.dumps(fact_sets.to_json(requests)), encoding="utf-8")
        preserved = fact_sets.preserved_sentences(facts, requests, templates)
        (tmp / "preserved.txt").write_text("\n".join(preserved) + "\n", encoding="utf-8")
        (tmp / "fact_set.json").write_text(json.dumps({"fact_set": fact_set, "known": counts}), encoding="utf-8")
    return {
        "fact_set": fact_set,
        "facts": len(facts),
        "edits": len(requests),
        "preserved_sentences": len(preserved),
        "known_share": share,
        "train_seconds": time.time() - started,
        "loss_curve": curve,
        "known": counts,
    }


def read_requests(facts_dir: str | Path) -> list[fact_sets.EditRequest]:
    path = Path(facts_dir) / "requests.json"
    if not path.is_file():
        raise DataError(path, "file not found; expected the edit requests of the fact step")
    try:
        rows = json.loads(path.read_text(encoding="utf-8"))
        requests = fact_sets.from_json(rows)
    except (ValueError, TypeError, KeyError) as exc:
        raise DataError(path, f"not a list of edit requests ({exc}); expected the fact step's JSON") from None
    if not requests:
        raise ConfigError("edit requests", f"{path.name} holds no edits; expected at least one request")
    for index, request in enumerate(requests):
        fact_sets.check_request(request, f"{path.name} request {index}")
    return requests


def load_model(model_dir: str | Path) -> tuple[Any, Any]:
    from components.common.models import load_base_model

    model, tokenizer = load_base_model(str(model_dir))
    model.to(best_device()).eval()
    return model, tokenizer


def compute_statistics(
    config: EditConfig, model_dir: str | Path, facts_dir: str | Path, out_dir: str | Path, cache_dir: str | Path
) -> dict:
    """C0 sums over `preserved_corpus` for every edited layer (cached), the null-space size per layer, written to
    `out_dir`."""
    import torch

    from components.edit_knowledge.alphaedit import null_space_projector
    from components.edit_knowledge.corpus import preserved_texts
    from components.edit_knowledge.layers import key_size, resolve_layers
    from components.edit_knowledge.stats import cached_second_moments

    model, tokenizer = load_model(model_dir)
    layers = resolve_layers(model, config.layer_list())
    texts, corpus = preserved_texts(config, facts_dir)
    moments, record = cached_second_moments(
        model, tokenizer, texts, layers, cache_dir, config.stats_batch_size, max_length=config.stats_max_length
    )
    null_dims = {}
    with atomic_dir(out_dir) as tmp:
        for layer, (total, count) in moments.items():
            torch.save({"sum": total, "count": count}, tmp / f"moment-{layer}.pt")
            projector = null_space_projector(total / max(count, 1), config.nullspace_threshold)
            null_dims[layer] = round(float(torch.trace(projector)))
        summary = {
            **record,
            "layers": layers,
            "texts": len(texts),
            "corpus": corpus,
            "key_size": key_size(model, layers[0]),
            "null_space_dims": {str(k): v for k, v in null_dims.items()},
            "threshold": config.nullspace_threshold,
        }
        (tmp / "stats.json").write_text(json.dumps(summary), encoding="utf-8")
    return summary


def read_statistics(stats_dir: str | Path) -> tuple[list[int], dict[int, Any]]:
    """(layers, {layer: E[k kᵀ]}) from a statistics folder."""
    import torch

    path = Path(stats_dir) / "stats.json"
    if not path.is_file():
        raise DataError(path, "file not found; expected the statistics step's output")
    layers = [int(x) for x in json.loads(path.read_text(encoding="utf-8"))["layers"]]
    covs = {}
    for layer in layers:
        saved = torch.load(Path(stats_dir) / f"moment-{layer}.pt", weights_only=True)
        covs[layer] = saved["sum"] / max(int(saved["count"]), 1)
    return layers, covs


def target_settings(config: EditConfig) -> Any:
    """The v* optimisation settings (TargetSettings) of an EditConfig."""
    from components.edit_knowledge.targets import TargetSettings

    return TargetSettings(
        lr=config.edit_v_lr,
        steps=config.edit_v_steps,
        clamp=config.edit_clamp_norm,
        weight_decay=config.edit_v_weight_decay,
        kl_factor=config.edit_kl_factor,
    )


def memit_weight(config: EditConfig, d_ff: int) -> float:
    """MEMIT's C0 weight: the configured one, or GPT-J's 15,000 scaled by d_ff / 16,384 when it is 0."""
    return config.memit_mom2_weight or 15000.0 * d_ff / 16384


def run_edits(
    config: EditConfig,
    method: str,
    model_dir: str | Path,
    facts_dir: str | Path,
    stats_dir: str | Path,
    model_out: str | Path,
    eval_out: str | Path,
    on_batch: Any = None,
) -> dict:
    """Run the whole edit sequence with `method`, evaluating after every batch; save the edited model."""
    from components.common.models import save_model
    from components.edit_knowledge.alphaedit import null_space_projector, rule_for
    from components.edit_knowledge.evaluation import evaluate_edits
    from components.edit_knowledge.layers import key_size
    from components.edit_knowledge.sequence import EditState, run_sequence
    from components.edit_knowledge.targets import context_templates

    model, tokenizer = load_model(model_dir)
    requests = read_requests(facts_dir)
    layers, covs = read_statistics(stats_dir)
    rule = rule_for(method, l2=config.edit_l2, mom2_weight=memit_weight(config, key_size(model, layers[0])))
    started = time.time()
    projectors = {layer: null_space_projector(covs[layer], config.nullspace_threshold) for layer in layers}
    projector_seconds = time.time() - started
    templates = context_templates(model, tokenizer, config.edit_context_templates, seed=config.edit_seed)
    settings = target_settings(config)
    fluency_prompts = [r.text() for r in requests[: config.fluency_prompts]]
    # step 0: the whole edit set before any edit (efficacy there is 1 - the share of facts the model knows)
    curve = [{"edits": 0, **evaluate_edits(model, tokenizer, requests, requests, fluency_prompts, config.edit_seed)}]
    timings: list[dict] = []

    def after(edits: int, edited: Any, batch_timing: dict[str, float]) -> None:
        point = {
            "edits": edits,
            **evaluate_edits(model, tokenizer, edited, requests, fluency_prompts, config.edit_seed),
        }
        curve.append(point)
        timings.append(batch_timing)
        log.info("%s after %d edits: %s", method, edits, {k: round(v, 3) for k, v in point.items()})
        if on_batch is not None:
            on_batch(point, batch_timing)

    state = EditState(layers, rule, projectors=projectors if rule.project else {}, covs=covs)
    run_sequence(model, tokenizer, requests, state, templates, settings, config.edit_batch_size, after)
    save_model(model.to("cpu"), tokenizer, model_out)
    summary = {
        "method": method,
        "l2": rule.l2,
        "mom2_weight": rule.cov_weight,
        "layers": layers,
        "edits": len(requests),
        "batch_size": config.edit_batch_size,
        "context_templates": templates,
        "projector_seconds": projector_seconds,
        "seconds_per_batch": sum(t["seconds"] for t in timings) / len(timings),
        "final": curve[-1],
    }
    with atomic_dir(eval_out) as tmp:
        (tmp / "curve.json").write_text(json.dumps(curve), encoding="utf-8")
        (tmp / "edits.json").write_text(json.dumps({**summary, "batches": timings}), encoding="utf-8")
    return summary
