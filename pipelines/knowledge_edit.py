"""knowledge-edit: prepare -> facts (catalogue items for a preset trained on them, world facts a pretrained model
already knows) and the model -> preserved statistics C0 (WikiText-2 for a pretrained model)
-> the same counterfactual edit sequence with AlphaEdit and MEMIT (dsl.ParallelFor over `methods`), evaluated
after every batch -> comparison report with the curves."""

from typing import Any, NamedTuple

from kfp import dsl

from components.edit_knowledge.component import build_fact_model, compare_edits, edit_model, edit_statistics
from components.edit_knowledge.config import METHODS, EditConfig, FactConfig
from components.prepare_data.config import PrepareConfig
from pipelines.checks import check_methods
from pipelines.cluster import configure
from pipelines.params import Parameters, pick
from pipelines.settings import CompileSettings
from pipelines.steps import prepare, resolve_base

NAME = "knowledge-edit"
DESCRIPTION = "facts and a model that knows them -> C0 -> AlphaEdit and MEMIT sequences -> report"
PARAMETERS = Parameters(
    (PrepareConfig, FactConfig, EditConfig),
    extra={"methods": (list, list(METHODS), "the methods run side by side on the same sequence")},
)
KEY_METRICS = ("efficacy", "generalization", "specificity", "fluency")
CHECKS = (check_methods,)


class Outputs(NamedTuple):
    fact_model: dsl.Model
    report: dsl.Markdown


def build(settings: CompileSettings) -> Any:
    """The knowledge-edit pipeline built with `settings`."""

    @dsl.pipeline(name=NAME, description=DESCRIPTION)
    @PARAMETERS.signature(settings)
    def knowledge_edit_pipeline(**args) -> Outputs:
        run = {"pipeline": NAME}
        edit_args = pick(args, EditConfig)

        # 1. Prepare the dataset (its items table holds titles, genres and years: the catalogue facts).
        prepared = prepare(args, settings, run)

        # 2. The fact set, the counterfactual edit sequence and a model that knows the facts.
        base = resolve_base(args, settings, run).outputs["model"]
        facts = build_fact_model(**run, prepared=prepared.outputs["prepared"], base=base, **pick(args, FactConfig))
        configure(facts, "gpu-1", settings)

        # 3. C0 of the knowledge to preserve at every edited layer (cached across runs).
        stats = edit_statistics(**run, model=facts.outputs["model"], facts=facts.outputs["facts"], **edit_args)
        configure(stats, "evaluate", settings)

        # 4. The same edit sequence with each method, evaluated after every batch.
        with dsl.ParallelFor(args["methods"], parallelism=settings.loop_parallelism) as method:
            edited = edit_model(
                **run,
                method=method,
                model=facts.outputs["model"],
                facts=facts.outputs["facts"],
                stats=stats.outputs["stats"],
                **edit_args,
            )
            configure(edited, "gpu-1", settings)

        # 5. One report with the four metrics against the number of edits.
        report = compare_edits(
            **run, evaluations=dsl.Collected(edited.outputs["evaluation"]), stats=stats.outputs["stats"]
        )
        configure(report, "light", settings)
        return Outputs(fact_model=facts.outputs["model"], report=report.outputs["report"])

    return knowledge_edit_pipeline
