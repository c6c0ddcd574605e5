"""Settings of the knowledge-edit pipeline: the fact set, fact training, statistics and the edit sequence.

Defaults follow the AlphaEdit reference configs (clamp 0.75, weight decay 0.5, KL 0.0625, null-space threshold
2e-2) with steps and learning rate for the tiny preset. The two terms whose scale depends on the keys' size are
rescaled: AlphaEdit's λ (10 for Llama3-8B, whose keys have thousands of dimensions) is 0.1 here because the
tiny preset's keys have E‖k‖² ≈ 6; MEMIT's C0 weight (15,000 for GPT-J, d_ff = 16,384) is scaled by d_ff, since
E[kᵀ C0⁻¹ k] = d_ff sets the balance between C0 and the new keys.
Standard library only: the pipeline reads these while compiling.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from components.common.base_model import BaseModelConfig
from components.common.config import StepConfig, setting

METHODS = ("alphaedit", "memit")
FACT_SETS = ("auto", "catalogue", "world")


@dataclass(frozen=True)
class FactConfig(BaseModelConfig):
    """The fact set and the model that knows it (`base_model`: a random-init preset is trained on catalogue facts;
    a pretrained preset, saved model or hub id is used as it is, and only the facts it already knows are kept)."""

    section: ClassVar[str] = "facts"

    fact_set: str = setting(
        "auto",
        "catalogue (movie genre and year), world (geography from GeoNames), auto: catalogue for a random-init"
        " preset, world otherwise",
    )
    fact_city_population: int = setting(1_000_000, "world facts: smallest population of a city asked about")
    fact_items: int = setting(600, "catalogue items whose genre and year facts the model learns")
    fact_edits: int = setting(200, "counterfactual edits in the sequence, one fact of each drawn subject")
    fact_neighbours: int = setting(5, "neighbourhood prompts per edit: other items with the same relation and answer")
    fact_epochs: int = setting(60, "passes over the fact sentences when training a preset")
    fact_lr: float = setting(3e-3, "learning rate of fact training (AdamW, cosine)")
    fact_batch_size: int = setting(64, "fact sentences per training step")
    fact_vocab_size: int = setting(4096, "BPE vocabulary of a preset's tokenizer")
    fact_seed: int = setting(42, "seed of item choice, counterfactual targets and model initialisation")

    def __post_init__(self) -> None:
        self.check_types()
        self.check_choice("fact_set", FACT_SETS)
        self.check_range("fact_city_population", 1)
        self.check_range("fact_items", 2)
        self.check_range("fact_edits", 1)
        self.check_range("fact_neighbours", 0)
        self.check_range("fact_epochs", 0)
        self.check_range("fact_lr", 0.0, low_open=True)
        self.check_range("fact_batch_size", 1)
        self.check_range("fact_vocab_size", 300)


@dataclass(frozen=True)
class EditConfig(StepConfig):
    """The edit sequence: layers, the target-value optimisation, the update and the evaluation."""

    section: ClassVar[str] = "edit"

    edit_layers: str = setting("auto", "comma-separated layer indices to edit; auto: the family default")
    edit_batch_size: int = setting(20, "edits applied together; the sequence runs batch after batch")
    edit_v_lr: float = setting(0.5, "Adam learning rate of the residual delta behind the target value v*")
    edit_v_steps: int = setting(25, "optimisation steps for v*")
    edit_clamp_norm: float = setting(0.75, "the delta's norm is clamped to this factor times the original's")
    edit_v_weight_decay: float = setting(0.5, "weight of ‖δ‖ / ‖h‖² in the v* loss")
    edit_kl_factor: float = setting(0.0625, "weight of the KL term on '<subject> is a' in the v* loss")
    edit_context_templates: int = setting(5, "generated prefixes the keys and targets are averaged over (+ none)")
    nullspace_threshold: float = setting(2e-2, "eigenvalues of C0 below this span the preserved null space")
    edit_l2: float = setting(0.1, "AlphaEdit's ridge term lambda (10 for 7B-scale keys; 0.1 suits the tiny preset)")
    memit_mom2_weight: float = setting(0.0, "MEMIT's weight of C0; 0: GPT-J's 15,000 scaled by d_ff / 16,384")
    preserved_corpus: str = setting(
        "auto",
        "knowledge to preserve (C0): a text file (one text per line), wikitext-2 ($RECFORGE_DATA_DIR/wikitext-2),"
        " facts (the unedited facts), auto: wikitext-2 for world facts, facts otherwise",
    )
    stats_max_length: int = setting(256, "tokens per statistics sequence; longer texts are cut into pieces")
    stats_max_texts: int = setting(0, "preserved texts used for C0; 0: all")
    stats_batch_size: int = setting(32, "texts per forward pass of the statistics pass")
    stats_cache_dir: str = setting("", "C0 cache folder; empty: $RECFORGE_CHECKPOINT_ROOT/edit-stats")
    fluency_prompts: int = setting(20, "edited subjects whose generations measure fluency")
    edit_seed: int = setting(0, "seed of the generation steps (context templates, fluency)")

    def __post_init__(self) -> None:
        self.check_types()
        self.check_range("edit_batch_size", 1)
        self.check_range("edit_v_lr", 0.0, low_open=True)
        self.check_range("edit_v_steps", 1)
        self.check_range("edit_clamp_norm", 0.0, low_open=True)
        self.check_range("edit_v_weight_decay", 0.0)
        self.check_range("edit_kl_factor", 0.0)
        self.check_range("edit_context_templates", 0)
        self.check_range("nullspace_threshold", 0.0, low_open=True)
        self.check_range("edit_l2", 0.0)
        self.check_range("memit_mom2_weight", 0.0)
        self.check_range("stats_max_texts", 0)
        self.check_range("stats_batch_size", 1)
        self.check_range("stats_max_length", 8)
        self.check_range("fluency_prompts", 0)
        self.layer_list()

    def layer_list(self) -> list[int] | None:
        """The explicit layers, or None for the family default; ConfigError for a malformed list."""
        if self.edit_layers.strip() == "auto":
            return None
        try:
            layers = sorted({int(part) for part in self.edit_layers.split(",") if part.strip()})
        except ValueError:
            layers = []
        if not layers or layers[0] < 0:
            from components.common.errors import ConfigError

            raise ConfigError(
                "edit.edit_layers", f"got {self.edit_layers!r}; expected 'auto' or comma-separated layer indices >= 0"
            )
        return layers
