"""The held-out evaluator of Pigeon's generations: an image encoder that no training step ever sees.

Pigeon (Xu et al., WWW 2025) scores generations by CLIP similarity to the user's history. Our pipeline picks the
stage-2 preference pairs with the stage-1 image encoder's similarity, so that encoder's score cannot be the
evidence that stage 2 helped. This encoder is trained in its own step, on the catalogue images only, with
another architecture (max-pooled convolutions, a 32-d bottleneck), another objective (softmax cross-entropy
against the item's genre distribution, where the stage-1 encoder fits independent per-genre logistic outputs)
and another seed; its output goes only to the evaluate steps. A tenth of the images is kept out of its training
to report its accuracy (the top predicted genre is one of the image's genres) against always predicting the
commonest genre. Folder layout: `evaluator.pt` (weights) and `evaluator.json` (sizes, training record).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from torch import nn

from components.common.atomic import atomic_dir
from components.common.errors import DataError
from components.train_diffusion.encoder import fit_epochs, to_tensor

EMBED_DIM = 32


class HeldoutEncoder(nn.Module):
    def __init__(self, n_genres: int, width: int = 48) -> None:
        super().__init__()
        self.n_genres = n_genres
        self.width = width
        self.body = nn.Sequential(
            nn.Conv2d(3, width // 2, 5, padding=2), nn.BatchNorm2d(width // 2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(width // 2, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(width, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(),
        )  # fmt: skip
        self.bottleneck = nn.Linear(2 * width, EMBED_DIM)
        self.head = nn.Linear(EMBED_DIM, n_genres)
        self.register_buffer("center", torch.zeros(EMBED_DIM))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, S, S) in [-1, 1] -> (N, EMBED_DIM): mean- and max-pooled feature map through the bottleneck."""
        fmap = self.body(x)  # (N, width, S/4, S/4)
        pooled = torch.cat([fmap.mean((2, 3)), fmap.amax((2, 3))], dim=1)  # (N, 2 * width)
        return self.bottleneck(pooled)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Genre logits (N, n_genres)."""
        return self.head(torch.relu(self.features(x)))

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, S, S) -> (N, EMBED_DIM) unit-norm embedding, centred on the catalogue's mean feature."""
        return nn.functional.normalize(self.features(x) - self.center, dim=-1)


def genre_distribution(genres: np.ndarray) -> torch.Tensor:
    """(N, G) multi-hot -> (N, G) rows summing to 1 (an item without genres: uniform)."""
    target = torch.from_numpy(genres).float()
    counts = target.sum(1, keepdim=True)
    return torch.where(counts > 0, target / counts.clamp(min=1), torch.full_like(target, 1.0 / target.shape[1]))


def train_evaluator(
    images: np.ndarray, genres: np.ndarray, epochs: int, seed: int, batch: int = 128
) -> tuple[HeldoutEncoder, dict[str, float | list[float]]]:
    """Fit on 90 % of the (N, S, S, 3) images; returns the frozen encoder and its record (losses, accuracy)."""
    if len(images) < 10:
        raise DataError("image-data", f"{len(images)} images; the held-out evaluator needs at least 10")
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(images))
    n_test = max(1, len(images) // 10)
    test, train = order[:n_test], order[n_test:]
    model = HeldoutEncoder(genres.shape[1])
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-4)
    x_all, y_all = to_tensor(images), genre_distribution(genres)

    def batch_loss(idx: torch.Tensor) -> torch.Tensor:
        logits = model(x_all[idx])  # (b, G)
        return -(y_all[idx] * logits.log_softmax(-1)).sum(-1).mean()

    losses = fit_epochs(model, opt, train, batch_loss, epochs, rng, batch)
    model.eval().requires_grad_(False)
    with torch.no_grad():
        model.center.copy_(torch.cat([model.features(x_all[s : s + 512]) for s in range(0, len(x_all), 512)]).mean(0))
        top = model(x_all[torch.from_numpy(test)]).argmax(-1).numpy()  # (n_test,)
    multi_hot = genres[test]
    commonest = int(genres[train].sum(0).argmax())
    record: dict[str, float | list[float]] = {
        "evaluator_losses": losses,
        "evaluator_accuracy": float(multi_hot[np.arange(len(test)), top].mean()),
        "evaluator_majority_accuracy": float(multi_hot[:, commonest].mean()),
        "evaluator_test_images": float(len(test)),
    }
    return model, record


def save_evaluator(model: HeldoutEncoder, record: dict, out_dir: str | Path) -> None:
    with atomic_dir(out_dir) as tmp:
        torch.save(model.state_dict(), tmp / "evaluator.pt")
        meta = {"n_genres": model.n_genres, "width": model.width, "embed_dim": EMBED_DIM, **record}
        (tmp / "evaluator.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")


def load_evaluator(folder: str | Path) -> HeldoutEncoder:
    path = Path(folder) / "evaluator.json"
    if not path.is_file():
        raise DataError(path, "file not found; expected the output of the train-evaluator step")
    meta = json.loads(path.read_text(encoding="utf-8"))
    model = HeldoutEncoder(meta["n_genres"], meta["width"])
    model.load_state_dict(torch.load(Path(folder) / "evaluator.pt", map_location="cpu", weights_only=True))
    return model.eval().requires_grad_(False)


def pairwise_diversity(embeddings: torch.Tensor, users: np.ndarray) -> float:
    """Mean cosine distance 1 − cos over pairs of rows of different users; embeddings (N, D) unit-norm."""
    cos = embeddings @ embeddings.T  # (N, N)
    owner = torch.from_numpy(np.asarray(users))
    other = owner[:, None] != owner[None, :]  # (N, N) pairs of two different users
    if not bool(other.any()):
        return float("nan")
    return float((1.0 - cos)[other].mean())
