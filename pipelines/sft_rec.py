"""sft-rec: prepare a dataset, train popularity, SASRec and a LoRA-SFT LLM recommender, evaluate all three on
the same candidates, and compare them in one report."""

from typing import NamedTuple

from kfp import dsl

from components.evaluate.component import compare_models, evaluate_model
from components.evaluate.config import EvalConfig
from components.prepare_data.component import prepare_dataset
from components.prepare_data.config import PrepareConfig
from components.train_baseline.component import train_popularity, train_sasrec
from components.train_baseline.config import SASRecConfig
from components.train_sft.component import train_sft
from components.train_sft.config import SFTConfig
from pipelines.cluster import configure
from pipelines.params import pick

NAME = "sft-rec"
P, S, F, E = PrepareConfig(), SASRecConfig(), SFTConfig(), EvalConfig()


class Outputs(NamedTuple):
    dataset: dsl.Dataset
    sft_model: dsl.Model
    report: dsl.Markdown


@dsl.pipeline(name=NAME, description="LoRA SFT LLM recommender vs popularity and SASRec, evaluated side by side.")
def sft_rec_pipeline(
    # data
    dataset: str = P.dataset,
    data_dir: str = P.data_dir,
    split: str = P.split,
    time_cutoff: int = P.time_cutoff,
    time_fraction: float = P.time_fraction,
    num_negatives: int = P.num_negatives,
    seed: int = P.seed,
    min_rating: float = P.min_rating,
    kcore: int = P.kcore,
    duplicates: str = P.duplicates,
    unknown_items: str = P.unknown_items,
    # SASRec
    sasrec_max_len: int = S.sasrec_max_len,
    sasrec_hidden: int = S.sasrec_hidden,
    sasrec_blocks: int = S.sasrec_blocks,
    sasrec_heads: int = S.sasrec_heads,
    sasrec_dropout: float = S.sasrec_dropout,
    sasrec_lr: float = S.sasrec_lr,
    sasrec_batch_size: int = S.sasrec_batch_size,
    sasrec_epochs: int = S.sasrec_epochs,
    sasrec_eval_every: int = S.sasrec_eval_every,
    sasrec_seed: int = S.sasrec_seed,
    # SFT
    base_model: str = F.base_model,
    sft_template: str = F.sft_template,
    sft_history_len: int = F.sft_history_len,
    sft_max_examples: int = F.sft_max_examples,
    sft_eval_examples: int = F.sft_eval_examples,
    sft_epochs: float = F.sft_epochs,
    sft_lr: float = F.sft_lr,
    sft_batch_size: int = F.sft_batch_size,
    sft_grad_accum: int = F.sft_grad_accum,
    sft_max_length: int = F.sft_max_length,
    lora_r: int = F.lora_r,
    lora_alpha: int = F.lora_alpha,
    lora_dropout: float = F.lora_dropout,
    lora_targets: str = F.lora_targets,
    sft_train_embeddings: bool = F.sft_train_embeddings,
    sft_vocab_size: int = F.sft_vocab_size,
    sft_seed: int = F.sft_seed,
    sft_nproc: int = F.sft_nproc,
    sft_save_steps: int = F.sft_save_steps,
    sft_checkpoint_dir: str = F.sft_checkpoint_dir,
    # evaluation
    eval_split: str = E.eval_split,
    eval_users: int = E.eval_users,
    eval_batch_users: int = E.eval_batch_users,
    eval_generate: bool = E.eval_generate,
    eval_max_new_tokens: int = E.eval_max_new_tokens,
    eval_seed: int = E.eval_seed,
) -> Outputs:
    args = dict(locals())
    run = {"pipeline": NAME, "kfp_run_id": dsl.PIPELINE_JOB_ID_PLACEHOLDER}

    # 1. Prepare the dataset (splits and candidate sets shared by every model).
    prepared = configure(prepare_dataset(**run, **pick(args, PrepareConfig)), "data", caching=True)
    data = prepared.outputs["prepared"]

    # 2. Train the models; none depends on another.
    popularity = configure(train_popularity(**run, prepared=data), "light")
    sasrec = configure(train_sasrec(**run, prepared=data, **pick(args, SASRecConfig)), "train")
    sft = configure(train_sft(**run, prepared=data, **pick(args, SFTConfig)), "train")

    # 3. Evaluate each on the same users and candidates.
    evaluations = {}
    for name, task in (("popularity", popularity), ("sasrec", sasrec), ("sft", sft)):
        evaluated = evaluate_model(
            **run, model_name=name, prepared=data, model=task.outputs["model"], **pick(args, EvalConfig)
        )
        evaluations[name] = configure(evaluated.set_display_name(f"evaluate-{name}"), "evaluate")

    # 4. One report comparing them.
    report = compare_models(
        **run,
        title="sft-rec: popularity vs SASRec vs LoRA-SFT LLM",
        first=evaluations["popularity"].outputs["evaluation"],
        second=evaluations["sasrec"].outputs["evaluation"],
        third=evaluations["sft"].outputs["evaluation"],
    )
    configure(report, "light")

    return Outputs(dataset=data, sft_model=sft.outputs["model"], report=report.outputs["report"])
