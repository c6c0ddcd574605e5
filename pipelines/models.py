"""`recforge models`: the model presets (built from a config, or pretrained and cached) with size, licence, source
and whether each is ready; `recforge models prepare NAME` fetches and converts a pretrained one ahead of time
(what an image build or CI runs before going offline)."""

from __future__ import annotations

from dataclasses import dataclass

from components.common.pretrained import PRETRAINED, cache_root, cached, prepare
from components.common.tiny import PRESETS


@dataclass(frozen=True)
class Row:
    name: str
    kind: str
    size: str
    licence: str
    ready: str
    source: str


def rows() -> list[Row]:
    """One row per preset: config-built ones first, then the pretrained ones."""
    out = []
    for name, shape in PRESETS.items():
        kind = "config" if name.startswith("tiny") else "shape"
        size = f"{shape.num_hidden_layers} x {shape.hidden_size}, random init"
        use = "tests and quick local runs" if kind == "config" else "GPU throughput benchmarks"
        out.append(Row(name, kind, size, "-", "built on use", f"{shape.architecture} built from a config ({use})"))
    for name, preset in PRETRAINED.items():
        folder = cached(name)
        size = f"{preset.parameters / 1e6:.1f} M params, {preset.size / 2**20:.0f} MiB GGUF"
        ready = f"cached in {folder}" if folder else "not cached"
        out.append(Row(name, "pretrained", size, preset.licence, ready, preset.source))
    return out


def show() -> None:
    table = rows()
    widths = [max(len(getattr(r, f)) for r in table) for f in ("name", "kind", "size", "licence")]
    for r in table:
        cells = (r.name, r.kind, r.size, r.licence)
        print("  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + f"  {r.ready}; {r.source}")
    print(f"model cache: {cache_root()} (RECFORGE_MODEL_CACHE)")


def prepare_preset(name: str) -> None:
    """Prepare one preset, its fetch and conversion reporting progress on stderr for the length of the call."""
    import logging
    import sys

    from components.common.pretrained import get

    preset = get(name)
    logger = logging.getLogger("components.common.pretrained")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        folder = prepare(name, preset)
    finally:  # nothing of this call stays in the process's logging
        logger.removeHandler(handler)
        logger.setLevel(level)
    print(f"{name}: ready in {folder}")
