"""Settings of the `social-steering` steps (NIRec, Pan et al., arXiv 2409.08934): the semi-simulation on a real
friendship graph, the interference estimators and the exposure policies. Defaults are sized for 2 CPU cores."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from components.common.config import StepConfig, setting
from components.common.errors import ConfigError

ESTIMATORS = ("nirec", "mf", "lightgcn")
POLICIES = ("nirec", "independent", "mf", "random")


def parse_floats(text: str, where: str) -> list[float]:
    """'0,0.5,2' -> [0.0, 0.5, 2.0]; a clear error naming `where` otherwise."""
    parts = [p.strip() for p in text.split(",")]
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise ConfigError(where, f"got {text!r}; expected comma-separated numbers") from None
    return values


@dataclass(frozen=True)
class SimulationConfig(StepConfig):
    """The semi-simulation: ground-truth embeddings by matrix completion, the click model with neighbour
    interference, the logged exposures and the target (user, item) groups."""

    section: ClassVar[str] = "social_simulation"

    sim_items: int = setting(1000, "simulation catalogue: the most-listened items (by number of users)")
    sim_dim: int = setting(20, "dimension of the completion's ground-truth embeddings (the paper's 20)")
    sim_als_iterations: int = setting(15, "alternating least-squares sweeps of the completion")
    sim_als_reg: float = setting(1.0, "ridge penalty of each least-squares solve of the completion")
    sim_beta: float = setting(10.0, "beta: neighbour interference strength of the ground-truth click model")
    sim_exposures: int = setting(100, "logged exposures per user (duplicates removed, so at most this many)")
    sim_uniform: float = setting(0.1, "share of exposures drawn uniformly at random (alpha_1)")
    sim_preference: float = setting(0.2, "share drawn from the user's own ground-truth preference (alpha_2)")
    sim_neighbour: float = setting(0.7, "share copied from a random friend's exposures (alpha_3)")
    sim_target_items: int = setting(100, "target items, each with its own group of target users")
    sim_group_size: int = setting(50, "target users per target item (fewer where fewer qualify)")
    sim_seed: int = setting(0, "seed of the completion, the exposures, the clicks and the targets")

    def __post_init__(self) -> None:
        self.check_types()
        self.check_range("sim_items", 10, 100_000)
        self.check_range("sim_dim", 1, 512)
        self.check_range("sim_als_iterations", 1, 1000)
        self.check_range("sim_als_reg", 0.0, 1e6, low_open=True)
        self.check_range("sim_beta", 0.0, 1000.0)
        self.check_range("sim_exposures", 2, 10_000)
        for name in ("sim_uniform", "sim_preference", "sim_neighbour"):
            self.check_range(name, 0.0, 1.0)
        total = self.sim_uniform + self.sim_preference + self.sim_neighbour
        if abs(total - 1.0) > 1e-6:
            problem = f"shares sum to {total:g}; expected sim_uniform + sim_preference + sim_neighbour = 1"
            raise ConfigError(self._where("sim_neighbour"), problem)
        self.check_range("sim_target_items", 1, 100_000)
        self.check_range("sim_group_size", 1, 100_000)
        self.check_range("sim_seed", 0)


@dataclass(frozen=True)
class EstimatorConfig(StepConfig):
    """Training of one click estimator on the logged exposures (80/10/10 split; best validation epoch kept)."""

    section: ClassVar[str] = "social_estimator"

    est_dim: int = setting(20, "embedding dimension of every estimator (NIRec's 20)")
    est_epochs: int = setting(15, "epochs; the epoch with the lowest validation log-loss is kept")
    est_batch_size: int = setting(1024, "logged exposures per step")
    est_lr: float = setting(0.01, "Adam learning rate")
    est_weight_decay: float = setting(1e-4, "Adam weight decay")
    est_layers: int = setting(2, "LightGCN propagation layers")
    est_seed: int = setting(0, "seed of initialisation and batch order")

    def __post_init__(self) -> None:
        self.check_types()
        self.check_range("est_dim", 1, 1024)
        self.check_range("est_epochs", 1, 10_000)
        self.check_range("est_batch_size", 1, 1_000_000)
        self.check_range("est_lr", 0.0, 10.0, low_open=True)
        self.check_range("est_weight_decay", 0.0, 1.0)
        self.check_range("est_layers", 1, 10)
        self.check_range("est_seed", 0)


@dataclass(frozen=True)
class PolicyConfig(StepConfig):
    """The exposure policies: the base recommendation they start from and the neighbour-damage weights swept."""

    section: ClassVar[str] = "social_policy"

    policy_lambdas: str = setting("0,0.1,0.2,0.5,1,2,5,10", "lambda grid of the neighbour-damage penalty, ascending")
    policy_top_k: int = setting(20, "K: length of each neighbour's base recommendation list (the paper's 20)")
    policy_seed: int = setting(0, "seed of the random policy")

    def __post_init__(self) -> None:
        self.check_types()
        self.check_range("policy_top_k", 1, 10_000)
        self.check_range("policy_seed", 0)
        values = self.lambdas
        if any(v < 0 for v in values) or values != sorted(values) or len(set(values)) != len(values):
            raise ConfigError(self._where("policy_lambdas"), f"got {values}; expected distinct numbers >= 0, ascending")

    @property
    def lambdas(self) -> list[float]:
        return parse_floats(self.policy_lambdas, self._where("policy_lambdas"))
