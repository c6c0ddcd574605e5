"""The base model as a pipeline artifact: the resolve-base-model step writes a small KFP `Model` folder naming the
model (`model.json`: kind "base", the `base_model` reference, its kind, source and content digest); training steps
and the evaluation of the untuned model consume that folder instead of resolving `base_model` on their own.

The folder is a reference, not a copy of the weights (517 MB for `smollm2-135m` in float32): each consumer loads the
model from recforge's model cache (baked into the training image by `recforge models prepare`) or its directory, and
refuses to go on when what it finds there no longer has the digest the resolve step recorded. Digests: a pretrained
preset's is the one its cache marker took at conversion; a directory's is over its files; a preset built from a
config (`tiny`) and a hub id are digested by name (their weights do not exist before the training step builds or
downloads them).

`BaseModelConfig` declares the `base_model` setting once: the resolve step's config, and the base of every config
whose step trains from a base model (SFT, RecICL, iLoRA, the fact model). Light at module level: pipelines read it
while compiling.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from components.common.config import StepConfig, setting
from components.common.errors import ConfigError, DataError

KIND = "base"
INFO = "model.json"


@dataclass(frozen=True)
class BaseModelConfig(StepConfig):
    """Which base model a pipeline trains from."""

    section: ClassVar[str] = "base"

    base_model: str = setting(
        "tiny", "preset (tiny: random init; smollm2-135m: pretrained), local model directory or hub id"
    )

    def __post_init__(self) -> None:
        self.check_types()


def _name_digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def describe(base_model: str) -> dict:
    """What the artifact records of `base_model`; prepares a pretrained preset (fetch + convert) when not cached."""
    from components.common.models import model_kind

    kind = model_kind(base_model)
    record = {"kind": KIND, "base_model": base_model, "model_kind": kind}
    if kind == "pretrained":
        from components.common.pretrained import MARKER, PRETRAINED, resolve

        folder = resolve(base_model)
        preset = PRETRAINED[base_model]
        marker = json.loads((folder / MARKER).read_text(encoding="utf-8"))
        record.update(source=preset.source, digest=marker["digest"], path=str(folder), gguf_sha256=preset.sha256)
    elif kind == "directory":
        from components.common.digests import digest_files

        folder = Path(base_model).expanduser().resolve()
        record.update(source=str(folder), digest=digest_files(p for p in folder.rglob("*") if p.is_file()))
        record["path"] = str(folder)
    elif kind == "preset":
        record.update(source=f"recforge preset {base_model} (random initialisation)", digest=_name_digest(base_model))
    else:
        from components.common.models import hub_reference

        name, revision = hub_reference(base_model)
        record.update(source=f"hub:{base_model}", digest=_name_digest(f"hub:{base_model}"), revision=revision or "")
        if revision is None:
            import logging

            logging.getLogger(__name__).warning(
                "base_model %s names no revision: the hub's main branch may change; pin one as %s@<commit>",
                name,
                name,
            )
    return record


def write_reference(base_model: str, out_dir: str | Path) -> dict:
    """Resolve `base_model` and write its reference folder atomically; returns the record."""
    from components.common.atomic import atomic_dir

    record = describe(base_model)
    with atomic_dir(out_dir) as tmp:
        (tmp / INFO).write_text(json.dumps(record, indent=2), encoding="utf-8")
    return record


def read_reference(folder: str | Path, expected: str | None = None) -> dict:
    """The record of a base-model artifact, checked: it is one, names `expected` (the consuming step's `base_model`
    setting, when given), and what the reference points at still has the recorded digest."""
    path = Path(folder) / INFO
    if not path.is_file():
        raise DataError(path, "file not found; expected the base-model artifact of a resolve-base-model step")
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(path, f"not valid JSON ({exc}); expected a base-model record") from None
    if not isinstance(record, dict) or record.get("kind") != KIND or "base_model" not in record:
        raise DataError(path, f"not a base-model record; expected kind {KIND!r} with a base_model")
    if expected is not None and record["base_model"] != expected:
        raise ConfigError(
            "base_model",
            f"the step's setting {expected!r} differs from the base-model artifact's {record['base_model']!r};"
            " expected both from the same pipeline parameter",
        )
    now = describe(record["base_model"])
    if now["digest"] != record["digest"]:
        raise DataError(
            path,
            f"{record['base_model']} now has digest {now['digest']}, not the {record['digest']} resolved for this run;"
            " expected the same model (re-run the pipeline to resolve it again)",
        )
    return record
