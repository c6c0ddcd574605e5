"""Learning-rate schedule shared by the Pigeon training loops: linear warm-up, then cosine decay to zero."""

from __future__ import annotations

import math
from collections.abc import Callable


def warmup_cosine(total: int, warmup_share: float = 0.05) -> Callable[[int], float]:
    """LambdaLR factor for step s of `total`: (s+1)/w during the w warm-up steps, then a cosine to 0."""
    warm = max(1, int(total * warmup_share))

    def factor(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        return 0.5 * (1 + math.cos(math.pi * (step - warm) / max(1, total - warm)))

    return factor
