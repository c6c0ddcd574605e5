"""A model that knows the catalogue's facts: the tiny preset trained as a plain causal LM on fact sentences.

Knowledge editing needs facts to edit; a random-initialised preset knows none, so this step teaches it every
sentence of the fact set (all templates, so paraphrases are known too) with AdamW and a cosine schedule, in
shuffled mini-batches, loss on every token. A saved model or hub id is used as it is instead.
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Sequence
from typing import Any

from components.common.training import warmup_cosine
from components.edit_knowledge.probes import batch_tokens

log = logging.getLogger(__name__)


def train_on_sentences(
    model: Any,
    tokenizer: Any,
    texts: Sequence[str],
    *,
    epochs: int,
    lr: float,
    batch_size: int,
    seed: int,
) -> list[float]:
    """Train in place; returns the mean loss of each epoch (for the learning curve)."""
    import torch

    if epochs == 0 or not texts:
        return []
    rows = list(texts)  # no BOS: edit prompts are tokenized without special tokens too
    steps = epochs * math.ceil(len(rows) / batch_size)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    scheduler = warmup_cosine(optimizer, steps)
    rng = random.Random(seed)
    torch.manual_seed(seed)
    device = next(model.parameters()).device
    model.train()
    curve = []
    started = time.time()
    for epoch in range(epochs):
        order = list(range(len(rows)))
        rng.shuffle(order)
        losses = []
        for start in range(0, len(order), batch_size):
            batch = [rows[i] for i in order[start : start + batch_size]]
            input_ids, mask, _ = batch_tokens(tokenizer, batch, device)
            labels = input_ids.masked_fill(mask == 0, -100)
            loss = model(input_ids=input_ids, attention_mask=mask, labels=labels).loss
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            scheduler.step()
            losses.append(loss.item())
        curve.append(sum(losses) / len(losses))
        if epoch == 0 or (epoch + 1) % 5 == 0 or epoch + 1 == epochs:
            log.info(
                "fact training: epoch %d/%d, loss %.4f, %.0fs elapsed",
                epoch + 1,
                epochs,
                curve[-1],
                time.time() - started,
            )
    model.eval()
    return curve
