"""Checks of a local run's parameters against the machine before anything runs: folders that must exist, the base
model, the modules `lora_targets` names and the layers `edit_layers` names (the README promises validation before
any step; without these a typo failed minutes later inside a step). Applies to every pipeline by parameter name.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from components.common.errors import ConfigError

FOLDERS = {  # parameter -> what the folder must hold
    "data_dir": "the raw dataset's files",
    "image_dir": "item images named <source item id>.<ext>",
    "icl_model_dir": "a RecICL model written by train-recicl (recicl/ and sft/)",
}


def preflight(params: dict[str, Any]) -> None:
    """Raise a ConfigError for the first parameter that names something this machine does not have."""
    for key, holds in FOLDERS.items():
        value = params.get(key)
        if value and not Path(value).expanduser().is_dir():
            raise ConfigError(key, f"{value} is not a folder; expected one holding {holds}")
    if params.get("icl_model_dir"):
        for variant in ("recicl", "sft"):
            if not (Path(params["icl_model_dir"]).expanduser() / variant / "model.json").is_file():
                raise ConfigError(
                    "icl_model_dir",
                    f"{params['icl_model_dir']} has no {variant}/model.json; expected {FOLDERS['icl_model_dir']}",
                )
    if "base_model" not in params:
        return
    from components.common.model_shape import model_shape

    shape = model_shape(params["base_model"])
    if shape is None:  # a hub id: its parts are known once it is downloaded
        return
    if "lora_targets" in params:
        targets = [t.strip() for t in str(params["lora_targets"]).split(",") if t.strip()]
        if not targets:
            raise ConfigError("lora_targets", "empty; expected module names such as q_proj,v_proj")
        for target in targets:
            if target not in shape.modules:
                raise ConfigError(
                    "lora_targets",
                    f"{params['base_model']} has no module named {target!r}; expected names among "
                    f"{', '.join(sorted(shape.modules))}",
                )
    layers = str(params.get("edit_layers", "auto")).strip()
    if layers != "auto":
        for part in layers.split(","):
            if part.strip().isdigit() and int(part) >= shape.layers:
                raise ConfigError(
                    "edit_layers",
                    f"layer {int(part)} is outside {params['base_model']} ({shape.layers} layers); "
                    f"expected indices 0..{shape.layers - 1}",
                )
