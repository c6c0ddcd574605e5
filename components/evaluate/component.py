"""KFP wrappers of the evaluate step and the comparison report (logic in core.py, report.py and track.py)."""

from kfp import dsl

from pipelines.images import RUNTIME_IMAGE


@dsl.component(base_image=RUNTIME_IMAGE, install_kfp_package=False)
def evaluate_model(
    pipeline: str,
    kfp_run_id: str,
    model_name: str,
    prepared: dsl.Input[dsl.Dataset],
    model: dsl.Input[dsl.Model],
    eval_split: str,
    eval_users: int,
    eval_batch_users: int,
    eval_generate: bool,
    eval_max_new_tokens: int,
    eval_seed: int,
    evaluation: dsl.Output[dsl.Artifact],
):
    """Rank each user's candidates with one model; ranking, generative and bias metrics to MLflow."""
    params = {k: v for k, v in locals().items() if k.startswith("eval_")}
    from components.common.step import run_step
    from components.evaluate.config import EvalConfig
    from components.evaluate.track import evaluate_and_track

    result = run_step(
        pipeline,
        f"evaluate-{model_name}",
        kfp_run_id,
        EvalConfig,
        params,
        lambda c: evaluate_and_track(model_name, model.path, prepared.path, c, evaluation.path),
        tags={"recforge.model": model_name},
    )
    evaluation.metadata.update({"model": model_name, **result["metrics"]})


@dsl.component(base_image=RUNTIME_IMAGE, install_kfp_package=False)
def compare_models(
    pipeline: str,
    kfp_run_id: str,
    title: str,
    report: dsl.Output[dsl.Markdown],
    first: dsl.Input[dsl.Artifact],
    second: dsl.Input[dsl.Artifact] = None,
    third: dsl.Input[dsl.Artifact] = None,
    fourth: dsl.Input[dsl.Artifact] = None,
    fifth: dsl.Input[dsl.Artifact] = None,
    sixth: dsl.Input[dsl.Artifact] = None,
):
    """A Markdown table of every evaluated model side by side (also logged to MLflow)."""
    from components.common.config import StepConfig
    from components.common.step import run_step
    from components.evaluate.track import compare_and_track

    paths = [a.path for a in (first, second, third, fourth, fifth, sixth) if a is not None]
    run_step(
        pipeline, "compare-models", kfp_run_id, StepConfig, {}, lambda c: compare_and_track(paths, report.path, title)
    )


@dsl.component(base_image=RUNTIME_IMAGE, install_kfp_package=False)
def evaluate_realtime(
    pipeline: str,
    kfp_run_id: str,
    schedule_time: str,
    prepared: dsl.Input[dsl.Dataset],
    models: dsl.Input[dsl.Model],
    retrained: dsl.Input[dsl.Model],
    icl_demos: int,
    icl_history_len: int,
    icl_like_threshold: float,
    icl_train_fraction: float,
    icl_windows: int,
    icl_max_examples: int,
    icl_epochs: float,
    icl_max_length: int,
    icl_eval_queries: int,
    icl_seed: int,
    as_of: str,
    icl_model_dir: str,
    retrain: bool,
    evaluation: dsl.Output[dsl.Artifact],
    report: dsl.Output[dsl.Markdown],
):
    """AUC and UAUC per later window for RecICL, RecICL without demonstrations, plain SFT and the retrained bound."""
    params = {k: v for k, v in locals().items() if k.startswith("icl_") or k in ("as_of", "retrain")}
    from components.common.step import run_step
    from components.evaluate.realtime_track import realtime_and_track
    from components.train_sft.icl_config import ICLConfig

    def body(config: ICLConfig) -> dict:
        result = realtime_and_track(config, prepared.path, models.path, retrained.path, evaluation.path, schedule_time)
        import shutil

        shutil.copyfile(f"{evaluation.path}/report.md", report.path)
        return result

    run_step(pipeline, "evaluate-realtime", kfp_run_id, ICLConfig, params, body)
