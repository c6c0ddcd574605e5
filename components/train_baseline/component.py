"""KFP wrappers of the baseline steps (logic in sasrec.py, body.py and the shared floor's popularity.py)."""

from kfp import dsl

from components.common.images import RUNTIME_IMAGE
from components.common.wrapper import step_component
from components.train_baseline.config import SASRecConfig


@dsl.component(base_image=RUNTIME_IMAGE, install_kfp_package=False)
def train_popularity(pipeline: str, prepared: dsl.Input[dsl.Dataset], model: dsl.Output[dsl.Model]):
    """Popularity ranker: train-split interaction counts."""
    from components.common.step import run_step
    from components.train_baseline.body import popularity_and_track

    result = run_step(
        pipeline,
        "train-popularity",
        (),
        {"model": model},
        lambda: popularity_and_track(prepared.path, model.path),
    )
    model.metadata.update(result)


@step_component(SASRecConfig, base_image=RUNTIME_IMAGE)
def train_sasrec(
    pipeline: str,
    prepared: dsl.Input[dsl.Dataset],
    model: dsl.Output[dsl.Model],
    **settings,
):
    """SASRec: model, item embeddings, sequence representations, preference oracle."""
    settings = dict(locals())  # first: the parameters, every generated setting included
    from components.common.step import run_step
    from components.train_baseline.body import sasrec_and_track
    from components.train_baseline.config import SASRecConfig

    result = run_step(
        pipeline,
        "train-sasrec",
        (SASRecConfig,),
        settings,
        lambda c: sasrec_and_track(c, prepared.path, model.path),
    )
    model.metadata.update(result)
