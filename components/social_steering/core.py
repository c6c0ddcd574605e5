"""The `social-steering` steps as plain functions (NIRec, Pan et al., arXiv 2409.08934): simulate on a prepared
dataset with a friendship graph, train one click estimator, optimise every policy, evaluate one policy under the
ground truth. Each writes its output folder atomically."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import torch

from components.common.atomic import atomic_dir
from components.common.errors import ConfigError, DataError
from components.common.prepared import Prepared
from components.social_steering import completion, metrics, policies, simulate, store
from components.social_steering.config import ESTIMATORS, POLICIES, EstimatorConfig, PolicyConfig, SimulationConfig
from components.social_steering.estimators import Biased
from components.social_steering.graph import read as read_graph
from components.social_steering.train import Batches, evaluate, fit, make_model
from components.social_steering.truth import Truth

MODEL_FILE = "estimator.pt"
INFO_FILE = "estimator.json"
POLICIES_FILE = "policies.npz"


def simulate_social(config: SimulationConfig, dataset_dir: str | Path, out_dir: str | Path) -> dict:
    """The semi-simulation of a prepared dataset with a friendship graph; returns its stats."""
    started = time.time()
    prepared = Prepared(dataset_dir)
    n_users, n_catalogue = prepared.n_users, prepared.n_items
    graph = read_graph(dataset_dir, n_users)
    path = Path(dataset_dir) / "interactions.parquet"
    table = pq.read_table(path, columns=["user_id", "item_id", "rating"])
    users = table["user_id"].to_numpy().astype(np.int64)
    items = table["item_id"].to_numpy().astype(np.int64)
    counts = table["rating"].to_numpy().astype(np.float64)
    if len(counts) and counts.min() < 0:
        raise DataError(path, f"negative rating {counts.min()}; expected listening counts or ratings >= 0")
    keep = completion.top_items(items, n_catalogue, config.sim_items)
    remap = np.full(n_catalogue, -1, dtype=np.int64)
    remap[keep] = np.arange(len(keep))
    observed = remap[items] >= 0
    ratings = completion.ratings_of(users[observed], counts[observed])
    fitted = completion.complete(
        users[observed], remap[items[observed]], ratings, n_users, len(keep), config.sim_dim,
        config.sim_als_iterations, config.sim_als_reg, config.sim_seed,
    )  # fmt: skip
    truth = Truth(fitted.users, fitted.items, config.sim_beta)
    rng = np.random.default_rng(config.sim_seed)
    logs = simulate.draw_logs(truth, graph, config, rng)
    targets = simulate.choose_targets(truth, graph, config, rng)
    stats = {
        "users": n_users, "items": len(keep), "friendships": graph.n_edges // 2,
        "users_without_friends": int((graph.degree == 0).sum()), "observed_ratings": int(observed.sum()),
        "completion_rmse": round(fitted.rmse, 4), "exposures": len(logs.user),
        "click_rate": round(float(logs.click.mean()), 4),
        "target_items": len(targets.items), "target_pairs": len(targets.users),
        "source_items": [int(i) for i in keep[targets.items]], "seconds": round(time.time() - started, 1),
    }  # fmt: skip
    with atomic_dir(out_dir) as tmp:
        store.write_simulation(tmp, graph, logs, targets, truth, stats)
    return stats


def check_estimator(name: str) -> None:
    if name not in ESTIMATORS:
        raise ConfigError("estimator", f"unknown estimator {name!r}; expected one of {', '.join(ESTIMATORS)}")


def edge_effect_correlation(model: Biased, sim_dir: str | Path) -> float:
    """Pearson correlation of NIRec's per-edge terms with the ground truth's on the pairs the policies decide: every
    edge into a target user, for its target item (the ground truth is read only here, after training)."""
    graph, truth, targets = store.read_graph(sim_dir), store.read_truth(sim_dir), store.read_targets(sim_dir)
    edges, items = [], []
    for g, item in enumerate(targets.items):
        hood = policies.neighbourhood(graph, int(item), targets.group(g))
        edges.append(hood.edges)
        items.append(np.full(len(hood.edges), item))
    return interference_correlation(model, graph, truth, np.concatenate(edges), np.concatenate(items))


def interference_correlation(model: Biased, graph, truth: Truth, edges: np.ndarray, items: np.ndarray) -> float:
    """Pearson correlation of the estimated per-edge logit terms with the ground truth's, over (edge, item) pairs."""
    with torch.no_grad():
        estimated = model.edge_rewards(torch.as_tensor(edges), torch.as_tensor(items)).double().numpy()
    return float(np.corrcoef(estimated, truth.edge_effects(graph, edges, items))[0, 1])


def train_estimator(
    name: str,
    config: EstimatorConfig,
    sim_dir: str | Path,
    out_dir: str | Path,
    on_epoch: Callable[[int, dict], None] | None = None,
) -> dict:
    """Train `name` on the logged exposures; save the best-validation state; returns its record."""
    check_estimator(name)
    started = time.time()
    graph, logs = store.read_graph(sim_dir), store.read_logs(sim_dir)
    batches = Batches.of(logs, graph)
    model, history = fit(name, logs, graph, config, on_epoch, batches)
    valid, test = evaluate(model, batches, logs.part("valid")), evaluate(model, batches, logs.part("test"))
    best = int(np.argmin([h["valid_logloss"] for h in history])) + 1
    record = {
        "estimator": name, "best_epoch": best, "valid_logloss": valid["logloss"], "valid_auc": valid["auc"],
        "test_logloss": test["logloss"], "test_auc": test["auc"], "history": history,
        "config": config.to_params(), "seconds": round(time.time() - started, 1),
    }  # fmt: skip
    if name == "nirec":
        record["edge_effect_corr"] = edge_effect_correlation(model, sim_dir)
    with atomic_dir(out_dir) as tmp:
        torch.save(model.state_dict(), tmp / MODEL_FILE)
        (tmp / INFO_FILE).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return record


def load_estimator(model_dir: str | Path, sim_dir: str | Path) -> tuple[str, Biased, dict]:
    path = Path(model_dir) / INFO_FILE
    if not path.is_file():
        raise DataError(path, "file not found; expected an estimator written by the train-estimator step")
    record = json.loads(path.read_text(encoding="utf-8"))
    config = EstimatorConfig.from_params(record["config"])
    model = make_model(record["estimator"], store.read_logs(sim_dir), store.read_graph(sim_dir), config)
    model.load_state_dict(torch.load(Path(model_dir) / MODEL_FILE, weights_only=True))
    model.eval()
    return record["estimator"], model, record


def optimise_policies(config: PolicyConfig, sim_dir: str | Path, model_dirs: list[str], out_dir: str | Path) -> dict:
    """Every policy's exposure flips for every target item and lambda, into `out_dir`/policies.npz."""
    models = {name: model for name, model, _ in (load_estimator(d, sim_dir) for d in model_dirs)}
    missing = [name for name in ESTIMATORS if name not in models]
    if missing:
        raise ConfigError("estimators", f"no trained {missing[0]!r}; expected one of each of {', '.join(ESTIMATORS)}")
    started = time.time()
    graph, logs, targets = store.read_graph(sim_dir), store.read_logs(sim_dir), store.read_targets(sim_dir)
    chosen = policies.optimise(graph, logs, targets, models, config.lambdas, config.policy_top_k, config.policy_seed)
    arrays = {"items": chosen["items"], "top": chosen["top"], "lambdas": np.array(config.lambdas)}
    for g in range(len(chosen["items"])):
        for key in ("neighbours", "base_exposed", "groups", *POLICIES):
            arrays[f"{key}_{g}"] = chosen[key][g]
    with atomic_dir(out_dir) as tmp:
        np.savez(tmp / POLICIES_FILE, **arrays)
    flips = {name: float(np.mean([m.sum(axis=1).mean() for m in chosen[name]])) for name in POLICIES}
    return {"seconds": round(time.time() - started, 1), **{f"flips_{k}": v for k, v in flips.items()}}


def read_policies(folder: str | Path) -> dict:
    path = Path(folder) / POLICIES_FILE
    if not path.is_file():
        raise DataError(path, "file not found; expected the output of the optimise-policies step")
    with np.load(path) as data:
        out = {key: data[key] for key in ("items", "top", "lambdas")}
        for key in ("neighbours", "base_exposed", "groups", *POLICIES):
            out[key] = [data[f"{key}_{g}"] for g in range(len(out["items"]))]
    return out


def evaluate_policy(policy: str, sim_dir: str | Path, policies_dir: str | Path) -> dict:
    """IoIP and DtNE of `policy` at every lambda under the ground truth."""
    if policy not in POLICIES:
        raise ConfigError("policy", f"unknown policy {policy!r}; expected one of {', '.join(POLICIES)}")
    chosen = read_policies(policies_dir)
    graph, logs, truth = store.read_graph(sim_dir), store.read_logs(sim_dir), store.read_truth(sim_dir)
    items = metrics.item_truths(truth, graph, chosen, policies.clicked(logs, graph.n_users))
    rows, base = metrics.curve(items, chosen[policy]), metrics.curve(items, None)[0]
    return {"policy": policy, "lambdas": [float(x) for x in chosen["lambdas"]], "curve": rows, "base": base}
