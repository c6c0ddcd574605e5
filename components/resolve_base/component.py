"""KFP wrapper of the resolve-base-model step (logic in components/common/base_model.py and body.py)."""

from kfp import dsl

from components.common.base_model import BaseModelConfig
from components.common.images import TRAINING_IMAGE
from components.common.wrapper import step_component


@step_component(BaseModelConfig, base_image=TRAINING_IMAGE)
def resolve_base_model(pipeline: str, model: dsl.Output[dsl.Model], **settings):
    """Resolve `base_model` (preset, pretrained preset, directory or hub id) into a reference artifact with its
    digest and source; training steps and the untuned evaluation consume it."""
    settings = dict(locals())  # first: the parameters, every generated setting included
    from components.common.base_model import BaseModelConfig
    from components.common.step import run_step
    from components.resolve_base.body import resolve_and_track

    record = run_step(
        pipeline, "resolve-base-model", (BaseModelConfig,), settings,
        lambda c: resolve_and_track(c.base_model, model.path),
    )  # fmt: skip
    model.metadata.update({k: record[k] for k in ("base_model", "model_kind", "digest", "source")})
