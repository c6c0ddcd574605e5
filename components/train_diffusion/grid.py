"""Picture grids for the report: one row per sample user, history images | generated image(s) | target."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

GAP = 4


def compose_grid(history: np.ndarray, generated: Sequence[np.ndarray], target: np.ndarray, zoom: int = 2) -> np.ndarray:
    """history (U, H, S, S, 3), each generated (U, S, S, 3), target (U, S, S, 3) -> one (rows, cols, 3) uint8 image."""
    users, h, s = history.shape[0], history.shape[1], history.shape[2]
    cols = h + len(generated) + 1
    tile = s * zoom
    width = cols * tile + (cols - 1) * GAP + 2 * GAP  # an extra gap before and after the generated block
    canvas = np.full((users * tile + (users - 1) * GAP, width, 3), 255, dtype=np.uint8)
    for u in range(users):
        tiles = [*history[u], *(g[u] for g in generated), target[u]]
        x = 0
        for c, image in enumerate(tiles):
            if c in (h, h + len(generated)):
                x += GAP
            big = np.kron(image, np.ones((zoom, zoom, 1), dtype=np.uint8))
            canvas[u * (tile + GAP) : u * (tile + GAP) + tile, x : x + tile] = big
            x += tile + GAP
    return canvas


def save_grid(path: str | Path, history: np.ndarray, generated: Sequence[np.ndarray], target: np.ndarray) -> None:
    from PIL import Image

    Image.fromarray(compose_grid(history, generated, target)).save(path)
