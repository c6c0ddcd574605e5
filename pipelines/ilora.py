"""ilora: prepare -> SASRec (the gate's sequence encoder) -> iLoRA and plain LoRA of the same total rank ->
evaluate both on the same candidates (ranking and generation) -> one comparison report."""

from typing import NamedTuple

from kfp import dsl

from components.evaluate.component import compare_models, evaluate_model
from components.evaluate.config import EvalConfig
from components.prepare_data.component import prepare_dataset
from components.prepare_data.config import PrepareConfig
from components.train_baseline.component import train_sasrec
from components.train_baseline.config import SASRecConfig
from components.train_sft.component import train_ilora
from components.train_sft.config import SFTConfig
from components.train_sft.ilora_config import ILoRAConfig
from pipelines.cluster import configure, schedule_time
from pipelines.params import parameters_of, pick

NAME = "ilora"


class Outputs(NamedTuple):
    ilora_model: dsl.Model
    report: dsl.Markdown


@dsl.pipeline(name=NAME, description="iLoRA (instance-wise mixture of LoRA experts) vs LoRA of the same rank.")
@parameters_of(PrepareConfig, SASRecConfig, SFTConfig, ILoRAConfig, EvalConfig)
def ilora_pipeline(**args) -> Outputs:
    run = {"pipeline": NAME, "kfp_run_id": dsl.PIPELINE_JOB_ID_PLACEHOLDER}
    training = {**pick(args, SFTConfig), **pick(args, ILoRAConfig)}

    # 1. Prepare the dataset.
    prepared = configure(
        prepare_dataset(**run, schedule_time=schedule_time(), **pick(args, PrepareConfig)), "data", caching=True
    )
    data = prepared.outputs["prepared"]

    # 2. SASRec: the sequence representation that drives iLoRA's gate.
    sasrec = configure(train_sasrec(**run, prepared=data, **pick(args, SASRecConfig)), "train")

    # 3. iLoRA and plain LoRA (one expert) with the same total rank, the same data and schedule.
    models = {}
    for name, experts in (("ilora", args["ilora_experts"]), ("lora", 1)):
        task = train_ilora(
            **run, model_name=name, experts=experts, prepared=data, sasrec_model=sasrec.outputs["model"], **training
        )
        models[name] = configure(task.set_display_name(f"train-{name}"), "gpu-1")

    # 4. Both evaluated on the same users and candidates.
    evaluations = {}
    for name, task in models.items():
        evaluated = evaluate_model(
            **run, model_name=name, prepared=data, model=task.outputs["model"], **pick(args, EvalConfig)
        )
        evaluations[name] = configure(evaluated.set_display_name(f"evaluate-{name}"), "evaluate")

    # 5. One report.
    report = compare_models(
        **run,
        title="ilora: iLoRA vs LoRA of the same total rank",
        first=evaluations["ilora"].outputs["evaluation"],
        second=evaluations["lora"].outputs["evaluation"],
    )
    configure(report, "light")

    return Outputs(ilora_model=models["ilora"].outputs["model"], report=report.outputs["report"])
