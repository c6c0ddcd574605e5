"""ilora: prepare -> SASRec (the gate's sequence encoder) -> iLoRA and plain LoRA of the same total rank ->
evaluate both on the same candidates (ranking and generation) -> one comparison report."""

from typing import Any, NamedTuple

from kfp import dsl

from components.evaluate.component import compare_models
from components.evaluate.config import EvalConfig
from components.prepare_data.config import PrepareConfig
from components.recsys.ilora_config import ILoRAConfig
from components.train_baseline.component import train_sasrec
from components.train_baseline.config import SASRecConfig
from components.train_sft.component import train_ilora
from components.train_sft.config import SFTConfig
from pipelines.cluster import configure
from pipelines.params import Parameters, pick
from pipelines.settings import CompileSettings
from pipelines.steps import evaluate, prepare, resolve_base

NAME = "ilora"
DESCRIPTION = "prepare -> SASRec -> iLoRA (gated LoRA experts) and LoRA of the same rank -> evaluate both -> report"
PARAMETERS = Parameters(
    (PrepareConfig, SASRecConfig, SFTConfig, ILoRAConfig, EvalConfig),
)
KEY_METRICS = ("hr_1", "hr_10", "ndcg_10", "valid_ratio")


class Outputs(NamedTuple):
    ilora_model: dsl.Model
    report: dsl.Markdown


def build(settings: CompileSettings) -> Any:
    """The ilora pipeline built with `settings`."""

    @dsl.pipeline(name=NAME, description=DESCRIPTION)
    @PARAMETERS.signature(settings)
    def ilora_pipeline(**args) -> Outputs:
        run = {"pipeline": NAME}
        training = {**pick(args, SFTConfig), **pick(args, ILoRAConfig)}

        # 1. Prepare the dataset.
        prepared = prepare(args, settings, run)
        data = prepared.outputs["prepared"]
        base = resolve_base(args, settings, run).outputs["model"]

        # 2. SASRec: the sequence representation that drives iLoRA's gate.
        sasrec = configure(train_sasrec(**run, prepared=data, **pick(args, SASRecConfig)), "train", settings)

        # 3. iLoRA and plain LoRA (one expert) with the same total rank, the same data and schedule.
        models = {}
        for name, experts in (("ilora", args["ilora_experts"]), ("lora", 1)):
            task = train_ilora(
                **run,
                model_name=name,
                experts=experts,
                prepared=data,
                base=base,
                sasrec_model=sasrec.outputs["model"],
                **training,
            )
            models[name] = configure(task.set_display_name(f"train-{name}"), "gpu-1", settings)

        # 4. Both evaluated on the same users and candidates.
        evaluations = {}
        for name, task in models.items():
            evaluations[name] = evaluate(args, settings, run, name, data, task.outputs["model"])

        # 5. One report.
        report = compare_models(
            **run,
            title="ilora: iLoRA vs LoRA of the same total rank",
            first=evaluations["ilora"].outputs["evaluation"],
            second=evaluations["lora"].outputs["evaluation"],
        )
        configure(report, "light", settings)

        return Outputs(ilora_model=models["ilora"].outputs["model"], report=report.outputs["report"])

    return ilora_pipeline
