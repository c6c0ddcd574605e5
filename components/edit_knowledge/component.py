"""KFP wrappers of the knowledge-edit steps (logic in core.py, track.py, sequence.py)."""

from kfp import dsl

from pipelines.images import RUNTIME_IMAGE, TRAINING_IMAGE


@dsl.component(base_image=TRAINING_IMAGE, install_kfp_package=False)
def build_fact_model(
    pipeline: str,
    kfp_run_id: str,
    prepared: dsl.Input[dsl.Dataset],
    base_model: str,
    fact_items: int,
    fact_edits: int,
    fact_neighbours: int,
    fact_epochs: int,
    fact_lr: float,
    fact_batch_size: int,
    fact_vocab_size: int,
    fact_seed: int,
    model: dsl.Output[dsl.Model],
    facts: dsl.Output[dsl.Dataset],
):
    """Genre and year facts of catalogue items, counterfactual edit requests, and a model that knows the facts."""
    params = {k: v for k, v in locals().items() if k.startswith("fact_") or k == "base_model"}
    from components.common.step import run_step
    from components.edit_knowledge.config import FactConfig
    from components.edit_knowledge.track import fact_model_and_track

    result = run_step(
        pipeline, "build-fact-model", kfp_run_id, FactConfig, params,
        lambda c: fact_model_and_track(c, prepared.path, model.path, facts.path),
    )  # fmt: skip
    model.metadata.update(result)


@dsl.component(base_image=TRAINING_IMAGE, install_kfp_package=False)
def edit_statistics(
    pipeline: str,
    kfp_run_id: str,
    model: dsl.Input[dsl.Model],
    facts: dsl.Input[dsl.Dataset],
    edit_layers: str,
    edit_batch_size: int,
    edit_v_lr: float,
    edit_v_steps: int,
    edit_clamp_norm: float,
    edit_v_weight_decay: float,
    edit_kl_factor: float,
    edit_context_templates: int,
    nullspace_threshold: float,
    edit_l2: float,
    memit_mom2_weight: float,
    preserved_corpus: str,
    stats_max_texts: int,
    stats_batch_size: int,
    stats_cache_dir: str,
    fluency_prompts: int,
    edit_seed: int,
    stats: dsl.Output[dsl.Artifact],
):
    """C0 = Σ k kᵀ of the preserved knowledge at every edited layer (cached by model, layer and corpus)."""
    params = {k: v for k, v in locals().items() if k not in ("pipeline", "kfp_run_id", "model", "facts", "stats")}
    from components.common.step import run_step
    from components.edit_knowledge.config import EditConfig
    from components.edit_knowledge.track import statistics_and_track

    result = run_step(
        pipeline, "edit-statistics", kfp_run_id, EditConfig, params,
        lambda c: statistics_and_track(c, model.path, facts.path, stats.path),
    )  # fmt: skip
    stats.metadata.update({"tokens": result["tokens"], "null_space_dims": result["null_space_dims"]})


@dsl.component(base_image=TRAINING_IMAGE, install_kfp_package=False)
def edit_model(
    pipeline: str,
    kfp_run_id: str,
    method: str,
    model: dsl.Input[dsl.Model],
    facts: dsl.Input[dsl.Dataset],
    stats: dsl.Input[dsl.Artifact],
    edit_layers: str,
    edit_batch_size: int,
    edit_v_lr: float,
    edit_v_steps: int,
    edit_clamp_norm: float,
    edit_v_weight_decay: float,
    edit_kl_factor: float,
    edit_context_templates: int,
    nullspace_threshold: float,
    edit_l2: float,
    memit_mom2_weight: float,
    preserved_corpus: str,
    stats_max_texts: int,
    stats_batch_size: int,
    stats_cache_dir: str,
    fluency_prompts: int,
    edit_seed: int,
    edited_model: dsl.Output[dsl.Model],
    evaluation: dsl.Output[dsl.Artifact],
):
    """The whole sequence of edits with one method (alphaedit or memit), evaluated after every batch."""
    params = {
        k: v
        for k, v in locals().items()
        if k not in ("pipeline", "kfp_run_id", "method", "model", "facts", "stats", "edited_model", "evaluation")
    }
    from components.common.step import run_step
    from components.edit_knowledge.config import EditConfig
    from components.edit_knowledge.track import edits_and_track

    result = run_step(
        pipeline, f"edit-{method}", kfp_run_id, EditConfig, params,
        lambda c: edits_and_track(c, method, model.path, facts.path, stats.path, edited_model.path, evaluation.path),
        tags={"recforge.method": method},
    )  # fmt: skip
    evaluation.metadata.update({"method": method, **result})


@dsl.component(base_image=RUNTIME_IMAGE, install_kfp_package=False)
def compare_edits(
    pipeline: str,
    kfp_run_id: str,
    evaluations: dsl.Input[list[dsl.Artifact]],
    stats: dsl.Input[dsl.Artifact],
    report: dsl.Output[dsl.Markdown],
    comparison: dsl.Output[dsl.Artifact],
):
    """Final metrics of every method, the per-batch table and the curves' plot."""
    from components.common.config import StepConfig
    from components.common.step import run_step
    from components.edit_knowledge.track import report_and_track

    run_step(
        pipeline, "compare-edits", kfp_run_id, StepConfig, {},
        lambda c: report_and_track([e.path for e in evaluations], stats.path, report.path, comparison.path),
    )  # fmt: skip
