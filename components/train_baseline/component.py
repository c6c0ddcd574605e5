"""KFP wrappers of the baseline steps (logic in popularity.py, sasrec.py and track.py)."""

from kfp import dsl

from pipelines.images import RUNTIME_IMAGE


@dsl.component(base_image=RUNTIME_IMAGE, install_kfp_package=False)
def train_popularity(pipeline: str, kfp_run_id: str, prepared: dsl.Input[dsl.Dataset], model: dsl.Output[dsl.Model]):
    """Popularity ranker: train-split interaction counts."""
    from components.common.config import StepConfig
    from components.common.step import run_step
    from components.train_baseline.track import popularity_and_track

    result = run_step(
        pipeline,
        "train-popularity",
        kfp_run_id,
        StepConfig,
        {},
        lambda c: popularity_and_track(prepared.path, model.path),
    )
    model.metadata.update(result)


@dsl.component(base_image=RUNTIME_IMAGE, install_kfp_package=False)
def train_sasrec(
    pipeline: str,
    kfp_run_id: str,
    prepared: dsl.Input[dsl.Dataset],
    sasrec_max_len: int,
    sasrec_hidden: int,
    sasrec_blocks: int,
    sasrec_heads: int,
    sasrec_dropout: float,
    sasrec_lr: float,
    sasrec_batch_size: int,
    sasrec_epochs: int,
    sasrec_eval_every: int,
    sasrec_seed: int,
    model: dsl.Output[dsl.Model],
):
    """SASRec: model, item embeddings, sequence representations, preference oracle."""
    params = {k: v for k, v in locals().items() if k.startswith("sasrec_")}
    from components.common.step import run_step
    from components.train_baseline.config import SASRecConfig
    from components.train_baseline.track import sasrec_and_track

    result = run_step(
        pipeline,
        "train-sasrec",
        kfp_run_id,
        SASRecConfig,
        params,
        lambda c: sasrec_and_track(c, prepared.path, model.path),
    )
    model.metadata.update(result)
