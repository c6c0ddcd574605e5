"""Experiment: does AlphaEdit's advantage over MEMIT (Fang et al., ICLR 2025) appear with larger fact models?

The knowledge-edit pipeline's default fact model is the 2-layer tiny preset. This script trains fact models of
other shapes (depth, width, MLP size, edited layers) on the same ml-latest-small fact set the pipeline builds
(600 items, 200 counterfactual edits, 5 neighbours each, seed 42), computes C0 and the null-space projector the
same way, and runs the same sequence with AlphaEdit and MEMIT at several regularisation strengths, reporting
efficacy / generalization / specificity after 20, half and all edits plus the null space of every edited layer.

Run on demand (one process per shape; on a GPU all shapes fit side by side):

    python tests/benchmarks/edit_shapes.py [--shapes 2x64x176 4x128x352@1 ...] [--methods ae:0.1 memit:0 ...]
        [--items 600] [--edits 200] [--every 0] [--jobs 8]

A shape is LAYERSxHIDDENxFF, optionally @EDITED_LAYERS (comma-separated; default: the pipeline's choice) and
:EPOCHS:LR (default 60 epochs, learning rate 3e-3 for hidden 64, 2e-3 up to 128, 1e-3 above). A method is
ae:LAMBDA or memit:WEIGHT (0: GPT-J's 15,000 scaled by d_ff / 16,384, the pipeline's default). `--every N` adds
an evaluation every N edits (for long sequences: `--items 1200 --edits 1000 --every 200`).
"""

from __future__ import annotations

import argparse
import copy
import json
import platform
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

DEFAULT_SHAPES = (
    "2x64x176",
    "4x128x352",
    "4x128x352@1",
    "6x128x352",
    "6x128x352@1,2",
    "4x256x704",
    "8x256x704",
    "4x128x1024",
)
DEFAULT_METHODS = ("ae:0.1", "memit:0", "ae:1", "memit:10", "ae:10")
RESULTS = Path(__file__).parent / "results"


@dataclass(frozen=True)
class Shape:
    layers: int
    hidden: int
    ff: int
    edited: tuple[int, ...] | None
    epochs: int
    lr: float

    @classmethod
    def parse(cls, text: str) -> Shape:
        body, _, training = text.partition(":")
        dims, _, edited = body.partition("@")
        layers, hidden, ff = (int(x) for x in dims.split("x"))
        epochs, lr = 60, 3e-3 if hidden <= 64 else 2e-3 if hidden <= 128 else 1e-3
        if training:
            epochs_text, lr_text = training.split(":")
            epochs, lr = int(epochs_text), float(lr_text)
        chosen = tuple(int(x) for x in edited.split(",")) if edited else None
        return cls(layers, hidden, ff, chosen, epochs, lr)


def run_shape(name: str, methods: list[str], items: int, edits: int, every: int, items_path: str) -> list[dict]:
    """Train one fact model, then run every method's sequence on a copy of it; one row per evaluation."""
    import pyarrow.parquet as pq
    import torch

    from components.common.tiny import Preset, build_model, build_tokenizer
    from components.edit_knowledge import facts as F
    from components.edit_knowledge.alphaedit import UpdateRule, null_space_projector
    from components.edit_knowledge.evaluation import efficacy, evaluate_edits
    from components.edit_knowledge.fact_model import train_on_sentences
    from components.edit_knowledge.layers import resolve_layers
    from components.edit_knowledge.sequence import EditState, run_sequence
    from components.edit_knowledge.stats import second_moments
    from components.edit_knowledge.targets import TargetSettings, context_templates

    torch.set_num_threads(1)
    shape = Shape.parse(name)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    facts = F.choose_subjects(F.item_facts(pq.read_table(items_path).to_pylist()), items, 42)
    requests = F.edit_requests(facts, edits, 5, 42)
    sentences = F.sentences(facts)
    tokenizer = build_tokenizer(sentences, 4096)
    preset = Preset("llama", shape.hidden, shape.ff, shape.layers, 4, 2, 2048)
    model = build_model(preset, len(tokenizer), 42, tokenizer).to(device)
    started = time.time()
    train_on_sentences(model, tokenizer, sentences, epochs=shape.epochs, lr=shape.lr, batch_size=64, seed=42)
    model.eval()
    layers = resolve_layers(model, list(shape.edited) if shape.edited else None)
    known = 1.0 - efficacy(model, tokenizer, requests)
    moments = second_moments(model, tokenizer, F.preserved_sentences(facts, requests), layers)
    covs = {layer: total / count for layer, (total, count) in moments.items()}  # E[k kᵀ] (d_ff, d_ff)
    projectors = {layer: null_space_projector(cov, 2e-2) for layer, cov in covs.items()}
    null = {}
    for layer, cov in covs.items():
        values = torch.linalg.eigvalsh(cov)
        share = float(values[values < 2e-2].sum() / values.sum())
        null[layer] = f"{int(torch.trace(projectors[layer]).round())}/{shape.ff} ({share:.1%} of the energy)"
    templates = context_templates(model, tokenizer, 5, seed=0)
    rows: list[dict] = []
    base = {"shape": name, "layers": layers, "known": known, "null": null, "train_s": time.time() - started}
    checkpoints = {20, edits // 2, edits, *(range(every, edits + 1, every) if every else ())}
    for method in methods:
        kind, value = method.split(":")
        weight = float(value) or 15000.0 * shape.ff / 16384
        rule = UpdateRule(True, True, 0.0, float(value)) if kind == "ae" else UpdateRule(False, False, weight, 0.0)
        edited_model = copy.deepcopy(model)
        state = EditState(layers, rule, projectors=projectors if rule.project else {}, covs=covs)

        def after(done: int, edited: list, timing: dict, method: str = method, m: object = edited_model) -> None:
            if done in checkpoints:
                rows.append(
                    {
                        **base,
                        "method": method,
                        "edits": done,
                        **evaluate_edits(m, tokenizer, edited, requests, fluency_prompts=[]),  # fluency: NaN
                        "v_nll": timing["target_nll"],
                    }
                )

        run_sequence(edited_model, tokenizer, requests, state, templates, TargetSettings(), 20, after)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", nargs="+", default=list(DEFAULT_SHAPES))
    parser.add_argument("--methods", nargs="+", default=list(DEFAULT_METHODS))
    parser.add_argument("--items", type=int, default=600)
    parser.add_argument("--edits", type=int, default=200)
    parser.add_argument("--every", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=8)
    parser.add_argument("--work", default=str(RESULTS / "scoring-data"))
    args = parser.parse_args()
    for shape in args.shapes:
        Shape.parse(shape)  # fail before any training
    work = Path(args.work)
    if not (work / "stats.json").is_file():
        from components.prepare_data.config import PrepareConfig
        from components.prepare_data.core import prepare

        prepare(PrepareConfig(), work)
    table = str(work / "items.parquet")
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        settings = (args.methods, args.items, args.edits, args.every, table)
        futures = [pool.submit(run_shape, shape, *settings) for shape in args.shapes]
        rows = [row for future in futures for row in future.result()]
    print(f"{platform.processor() or platform.machine()}, {args.edits} edits in batches of 20")
    print("| shape | edited layers | null space | method | efficacy | generalization | specificity | v* NLL |")
    print("|---|---|---|---|---|---|---|---|")
    for row in rows:
        if row["edits"] == args.edits:
            null = "; ".join(f"{layer}: {text}" for layer, text in row["null"].items())
            print(
                f"| {row['shape']} | {row['layers']} | {null} | {row['method']} | {row['efficacy']:.3f} | "
                f"{row['generalization']:.3f} | {row['specificity']:.3f} | {row['v_nll']:.2f} |"
            )
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "edit_shapes.json").write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
