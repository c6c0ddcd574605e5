"""Benchmark: NIRec's greedy exposure optimisation (components/social_steering/greedy.py) against the target-group
size, on the real Last.fm friendship graph of the semi-simulation: our vectorised search (every flip's gain from one
pass over the group's edges, target logits updated in place) against the obvious per-flip recomputation (each
candidate flip evaluated by recomputing the objective from scratch, itself vectorised with NumPy), side by side on the
same problems; both must choose the same flips. The interference terms are the ground truth's (timing needs no
trained estimator). Run on demand:

    RECFORGE_DATA_DIR=... python tests/benchmarks/bench_social.py [--sizes 10,100,1000] [--lambdas 0.5,2]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

from components.prepare_data.config import PrepareConfig
from components.prepare_data.core import prepare
from components.social_steering import core, greedy, metrics, store
from components.social_steering.config import SimulationConfig
from components.social_steering.policies import base_lists, neighbourhood


def problem_for(sim_dir: Path, size: int, seed: int) -> greedy.Problem:
    """The largest target group of the simulation, cut to `size` targets, with ground-truth terms."""
    graph, truth, targets = store.read_graph(sim_dir), store.read_truth(sim_dir), store.read_targets(sim_dir)
    g = int(np.argmax(np.diff(targets.offsets)))
    item, group = int(targets.items[g]), targets.group(g)
    if len(group) < size:
        raise SystemExit(f"the largest target group has {len(group)} users; expected at least {size}")
    chosen = np.sort(np.random.default_rng(seed).choice(group, size, replace=False))
    hood = neighbourhood(graph, item, chosen)
    own = metrics.own_probabilities(truth, hood.neighbours)  # (V, n_items)
    no_history = np.zeros(own.shape, dtype=bool)
    top = base_lists(own, no_history, 20)
    exposed = (top[:, :-1] == item).any(axis=1)
    reward = truth.edge_effects(graph, hood.edges, np.full(len(hood.edges), item))
    base = truth.individual_logit(chosen, np.full(size, item)) + np.bincount(
        hood.edge_target, weights=reward * exposed[hood.edge_neighbour], minlength=size
    )
    change = greedy.top_k_change(own, top, item, no_history[:, item])
    return greedy.Problem(base, hood.edge_target, hood.edge_neighbour, reward, exposed, change)


def timed(search, problem: greedy.Problem, lam: float) -> tuple[np.ndarray, float]:
    started = time.perf_counter()
    flipped = search(problem, lam)
    return flipped, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10,100,1000")
    parser.add_argument("--lambdas", default="0.5,2")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "bench_social.json"))
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        prepare(PrepareConfig(dataset="lastfm-hetrec-2k"), Path(tmp) / "prepared")
        config = SimulationConfig(sim_target_items=1, sim_group_size=max(sizes))
        core.simulate_social(config, Path(tmp) / "prepared", Path(tmp) / "sim")
        rows = []
        print("| targets | neighbours | edges | lambda | flips | vectorised s | per-flip recomputation s | ratio |")
        print("|---|---|---|---|---|---|---|---|")
        for size in sizes:
            problem = problem_for(Path(tmp) / "sim", size, seed=0)
            for lam in (float(x) for x in args.lambdas.split(",")):
                fast, fast_s = timed(greedy.greedy, problem, lam)
                slow, slow_s = timed(greedy.greedy_recomputed, problem, lam)
                if fast.tolist() != slow.tolist():
                    raise SystemExit(f"the two searches disagree at {size} targets, lambda {lam}")
                row = {
                    "targets": size, "neighbours": problem.n_neighbours, "edges": len(problem.reward), "lambda": lam,
                    "flips": int(fast.sum()), "vectorised_s": fast_s, "recomputed_s": slow_s, "ratio": slow_s / fast_s,
                }  # fmt: skip
                rows.append(row)
                print(
                    f"| {size:,} | {row['neighbours']:,} | {row['edges']:,} | {lam:g} | {row['flips']} |"
                    f" {fast_s:.4f} | {slow_s:.2f} | {row['ratio']:.0f}x |",
                    flush=True,
                )
    machine = {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count()}
    Path(args.out).write_text(json.dumps({"machine": machine, "args": vars(args), "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
