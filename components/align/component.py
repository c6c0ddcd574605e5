"""KFP wrappers of the alignment step and of registering the best aligned model (logic in trainer.py, track.py,
registry.py)."""

from kfp import dsl

from pipelines.images import RUNTIME_IMAGE, TRAINING_IMAGE


@dsl.component(base_image=TRAINING_IMAGE, install_kfp_package=False)
def align_model(
    pipeline: str,
    kfp_run_id: str,
    kfp_job_name: str,
    preferences: dsl.Input[dsl.Dataset],
    sft_model: dsl.Input[dsl.Model],
    align_loss: str,
    align_hparams: str,
    align_lr: float,
    align_epochs: float,
    align_batch_size: int,
    align_grad_accum: int,
    align_max_length: int,
    align_lora_r: int,
    align_lora_alpha: int,
    align_lora_dropout: float,
    align_ema_decay: float,
    align_seed: int,
    align_nproc: int,
    align_nodes: int,
    align_deepspeed: str,
    align_save_steps: int,
    align_checkpoint_dir: str,
    model: dsl.Output[dsl.Model],
):
    """LoRA preference optimisation of the SFT model with one loss of the LOSSES table."""
    params = {k: v for k, v in locals().items() if k.startswith("align_")}
    from components.align.config import AlignConfig
    from components.align.track import align_and_track
    from components.common.step import run_step

    result = run_step(
        pipeline, f"align-{align_loss}", kfp_run_id, AlignConfig, params,
        lambda c: align_and_track(c, preferences.path, sft_model.path, model.path, kfp_job_name),
        tags={"recforge.model": align_loss},
    )  # fmt: skip
    model.metadata.update({"loss": align_loss, **result})


@dsl.component(base_image=RUNTIME_IMAGE, install_kfp_package=False)
def register_best(
    pipeline: str,
    kfp_run_id: str,
    registered_name: str,
    selection_metric: str,
    prepared: dsl.Input[dsl.Dataset],
    evaluations: dsl.Input[list[dsl.Artifact]],
    models: dsl.Input[list[dsl.Model]],
    sft_evaluation: dsl.Input[dsl.Artifact],
    sft_model: dsl.Input[dsl.Model],
    report: dsl.Output[dsl.Markdown],
):
    """Compare every aligned model, then register the best one in the MLflow model registry with lineage tags."""
    from components.align.registry import compare_and_register
    from components.common.config import StepConfig
    from components.common.step import run_step

    run_step(
        pipeline, "register-best", kfp_run_id, StepConfig, {},
        lambda c: compare_and_register(
            [sft_evaluation.path, *(e.path for e in evaluations)],
            [sft_model.path, *(m.path for m in models)],
            prepared.path, registered_name, selection_metric, report.path,
        ),
    )  # fmt: skip
