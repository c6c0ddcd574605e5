"""A synthetic world for the `social-steering` tests and benchmark (NIRec, Pan et al., arXiv 2409.08934): ground-truth
embeddings whose dot products centre on the paper's rating 3, and a random friendship graph with planted
interference through the same click model as the semi-simulation."""

from __future__ import annotations

import numpy as np

from components.social_steering.graph import Graph, from_pairs
from components.social_steering.truth import Truth


def world(n_users: int, n_items: int, dim: int, degree: float, beta: float, seed: int) -> tuple[Truth, Graph]:
    """Truth with x_ui = 3 + z_u . z_i (z ~ N(0, 1/sqrt(dim)) scaled to spread x over about 1..5) and an
    Erdos-Renyi-like graph of mean `degree`."""
    rng = np.random.default_rng(seed)
    scale = (1.5 / np.sqrt(dim)) ** 0.5
    users = np.concatenate([np.full((n_users, 1), np.sqrt(3.0)), rng.normal(0, scale, (n_users, dim))], axis=1)
    items = np.concatenate([np.full((n_items, 1), np.sqrt(3.0)), rng.normal(0, scale, (n_items, dim))], axis=1)
    n_pairs = int(n_users * degree / 2)
    a, b = rng.integers(0, n_users, n_pairs), rng.integers(0, n_users, n_pairs)
    keep = a != b
    return Truth(users, items, beta), from_pairs(a[keep], b[keep], n_users)
