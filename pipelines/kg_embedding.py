"""kg-embedding: prepare a knowledge graph -> train NFE-1/2/3, TransE, DistMult and PyKEEN's models in parallel
(dsl.ParallelFor over `models`) -> filtered test ranking of each -> one report.
(Xiao, He, Cao, Knowledge Graph Embedding by Normalizing Flows, AAAI 2023; PyKEEN side by side.)"""

from typing import Any, NamedTuple

from kfp import dsl

from components.train_kge.component import evaluate_kge_model, prepare_kg, report_kge, train_kge_model
from components.train_kge.config import KGDataConfig, KGEConfig
from pipelines.checks import check_kge_models
from pipelines.cluster import configure
from pipelines.params import Parameters, pick
from pipelines.settings import CompileSettings

NAME = "kg-embedding"
DESCRIPTION = "prepare a KG -> NFE, TransE, DistMult and PyKEEN models in parallel -> filtered ranking -> report"
DEFAULT_MODELS = [
    "nfe-1", "nfe-2", "nfe-3", "transe", "distmult", "pykeen-kg2e", "pykeen-transe", "pykeen-distmult",
]  # fmt: skip
PARAMETERS = Parameters(
    (KGDataConfig, KGEConfig),
    extra={
        "models": (
            list,
            DEFAULT_MODELS,
            "models trained side by side (JSON list or comma-separated): nfe-1, nfe-2, nfe-3, nfe-no-uncertainty,"
            " nfe-sigma, transe, distmult, pykeen-kg2e, pykeen-transe, pykeen-distmult, pykeen-rotate",
        )
    },
)
KEY_METRICS = ("mrr", "mr", "hits_1", "hits_3", "hits_10")
CHECKS = (check_kge_models,)

# The NFE reference's WN18RR settings (NFE-1's row; d = 1024, 50 epochs): a parameter set for a GPU, e.g.
# `recforge run kg-embedding --local --set kge_dim=1024 --set kge_epochs=50 ...` (README, kg-embedding).
REFERENCE = {
    "kge_dim": 1024,
    "kge_epochs": 50,
    "kge_batch_size": 128,
    "kge_lr": 0.005,
    "kge_decay": 0.9,
    "kge_loss": "bce",
    "kg_unseen": "keep",
}


class Outputs(NamedTuple):
    kg: dsl.Dataset
    report: dsl.Markdown


def build(settings: CompileSettings) -> Any:
    """The kg-embedding pipeline built with `settings`."""

    @dsl.pipeline(name=NAME, description=DESCRIPTION)
    @PARAMETERS.signature(settings)
    def kg_embedding_pipeline(**args) -> Outputs:
        run = {"pipeline": NAME}
        kge = pick(args, KGEConfig)

        # 1. Read, check and index the graph; reciprocal triples for every split.
        kg = configure(prepare_kg(**run, **pick(args, KGDataConfig)), "data", settings).outputs["kg"]

        # 2. One model per name, each trained and then ranked on test.
        with dsl.ParallelFor(args["models"], parallelism=settings.loop_parallelism) as name:
            trained = configure(train_kge_model(**run, kg=kg, model_name=name, **kge), "gpu-1", settings)
            evaluated = evaluate_kge_model(**run, kg=kg, model=trained.outputs["model"], **kge)
            configure(evaluated, "evaluate", settings)

        # 3. One table and the validation curves.
        report = report_kge(**run, kg=kg, evaluations=dsl.Collected(evaluated.outputs["evaluation"]))
        configure(report, "light", settings)
        return Outputs(kg=kg, report=report.outputs["report"])

    return kg_embedding_pipeline
