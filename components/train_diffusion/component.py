"""KFP wrappers of the pigeon steps (logic in data.py, stage1.py, stage2.py, evaluation.py, report.py)."""

from kfp import dsl

from pipelines.images import RUNTIME_IMAGE, TRAINING_IMAGE


@dsl.component(base_image=RUNTIME_IMAGE, install_kfp_package=False)
def image_data(
    pipeline: str,
    kfp_run_id: str,
    prepared: dsl.Input[dsl.Dataset],
    image_dir: str,
    image_size: int,
    history_len: int,
    window_stride: int,
    max_windows_per_user: int,
    split_seed: int,
    data: dsl.Output[dsl.Dataset],
):
    """User windows (5 history + 1 target, users split 8:1:1) and an image per item, rendered or loaded."""
    params = {k: v for k, v in locals().items() if k not in ("pipeline", "kfp_run_id", "prepared", "data")}
    from components.common.step import run_step
    from components.train_diffusion.config import ImageDataConfig
    from components.train_diffusion.track import image_data_and_track

    result = run_step(
        pipeline, "image-data", kfp_run_id, ImageDataConfig, params,
        lambda c: image_data_and_track(c, prepared.path, data.path),
    )  # fmt: skip
    data.metadata.update({k: v for k, v in result.items() if k in ("users", "test_users", "images")})


@dsl.component(base_image=TRAINING_IMAGE, install_kfp_package=False)
def pigeon_stage1(
    pipeline: str,
    kfp_run_id: str,
    data: dsl.Input[dsl.Dataset],
    diffusion_preset: str,
    lm_model: str,
    lm_lora_r: int,
    lm_lora_alpha: int,
    unet_lora_r: int,
    tokens_per_image: int,
    keep_ratio: float,
    gumbel_tau: float,
    history_dropout: float,
    encoder_epochs: int,
    vae_steps: int,
    stage1_steps: int,
    stage1_lr: float,
    batch_size: int,
    train_timesteps: int,
    prediction_type: str,
    model_seed: int,
    model: dsl.Output[dsl.Model],
):
    """Encoder and autoencoder on the catalogue's images, then masked preference reconstruction."""
    params = {k: v for k, v in locals().items() if k not in ("pipeline", "kfp_run_id", "data", "model")}
    from components.common.step import run_step
    from components.train_diffusion.config import Stage1Config
    from components.train_diffusion.track import stage1_and_track

    result = run_step(
        pipeline, "pigeon-stage1", kfp_run_id, Stage1Config, params,
        lambda c: stage1_and_track(c, data.path, model.path),
        tags={"recforge.model": "pigeon-stage1"},
    )  # fmt: skip
    model.metadata.update({"digest": result["digest"], "stage1_final_loss": result["stage1_final_loss"]})


@dsl.component(base_image=TRAINING_IMAGE, install_kfp_package=False)
def pigeon_stage2(
    pipeline: str,
    kfp_run_id: str,
    data: dsl.Input[dsl.Dataset],
    stage1: dsl.Input[dsl.Model],
    dpo_windows: int,
    dpo_samples: int,
    dpo_beta: float,
    dpo_steps: int,
    dpo_lr: float,
    dpo_batch_size: int,
    sample_steps: int,
    guidance_scale: float,
    dpo_seed: int,
    model: dsl.Output[dsl.Model],
):
    """History-similarity preference pairs from stage-1 samples, then Diffusion-DPO against stage 1."""
    params = {k: v for k, v in locals().items() if k not in ("pipeline", "kfp_run_id", "data", "stage1", "model")}
    from components.common.step import run_step
    from components.train_diffusion.config import Stage2Config
    from components.train_diffusion.track import stage2_and_track

    result = run_step(
        pipeline, "pigeon-stage2", kfp_run_id, Stage2Config, params,
        lambda c: stage2_and_track(c, data.path, stage1.path, model.path),
        tags={"recforge.model": "pigeon"},
    )  # fmt: skip
    model.metadata.update({"digest": result["digest"], "stage2_final_loss": result["stage2_final_loss"]})


@dsl.component(base_image=TRAINING_IMAGE, install_kfp_package=False)
def evaluate_images(
    pipeline: str,
    kfp_run_id: str,
    variant: str,
    data: dsl.Input[dsl.Dataset],
    model: dsl.Input[dsl.Model],
    eval_windows: int,
    eval_sample_steps: int,
    eval_guidance_scale: float,
    grid_users: int,
    eval_seed: int,
    evaluation: dsl.Output[dsl.Artifact],
):
    """Generate for held-out users' test windows; history similarity, history SSIM, target similarity."""
    params = {
        k: v
        for k, v in locals().items()
        if k not in ("pipeline", "kfp_run_id", "variant", "data", "model", "evaluation")
    }
    from components.common.step import run_step
    from components.train_diffusion.config import ImageEvalConfig
    from components.train_diffusion.track import evaluate_and_track

    result = run_step(
        pipeline, f"evaluate-{variant}", kfp_run_id, ImageEvalConfig, params,
        lambda c: evaluate_and_track(c, variant, data.path, model.path, evaluation.path),
        tags={"recforge.model": variant},
    )  # fmt: skip
    evaluation.metadata.update({"variant": variant, **result})


@dsl.component(base_image=RUNTIME_IMAGE, install_kfp_package=False)
def pigeon_report(
    pipeline: str,
    kfp_run_id: str,
    stage1_eval: dsl.Input[dsl.Artifact],
    no_history_eval: dsl.Input[dsl.Artifact],
    pigeon_eval: dsl.Input[dsl.Artifact],
    stage1: dsl.Input[dsl.Model],
    stage2: dsl.Input[dsl.Model],
    report: dsl.Output[dsl.Markdown],
    comparison: dsl.Output[dsl.Artifact],
):
    """The three variants side by side, paired differences, training summary and the picture grid."""
    from components.common.config import StepConfig
    from components.common.step import run_step
    from components.train_diffusion.track import report_and_track

    evaluations = [stage1_eval.path, no_history_eval.path, pigeon_eval.path]
    run_step(
        pipeline, "pigeon-report", kfp_run_id, StepConfig, {},
        lambda c: report_and_track(evaluations, [stage1.path, stage2.path], report.path, comparison.path),
    )  # fmt: skip
