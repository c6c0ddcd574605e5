"""Entry point of one training process, what torchrun starts on every rank (on this machine or on each node of a
TrainJob): `python -m components.common.launch --trainer MOD:FN --config-class MOD:CLS --config C.json
--input NAME=PATH ... --out O`. Runs `FN(CLS(**C), NAME=PATH..., out_dir=O, mlflow_run_id=...)`.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from typing import Any

from components.common.errors import RecforgeError
from components.common.launch.ranks import RUN_ID_ENV
from components.common.step import setup_logging


def resolve(ref: str) -> Any:
    """`module:name` -> the object (the trainer function or the config class)."""
    module, _, name = ref.partition(":")
    return getattr(importlib.import_module(module), name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trainer", required=True, help="module:function of the trainer")
    parser.add_argument("--config-class", required=True, help="module:Class of the step config")
    parser.add_argument("--config", required=True, help="JSON file of the config's settings")
    parser.add_argument("--input", action="append", default=[], metavar="NAME=PATH", help="a trainer input")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    setup_logging()
    inputs = dict(item.split("=", 1) for item in args.input)
    try:
        with open(args.config, encoding="utf-8") as handle:
            config = resolve(args.config_class).from_params(json.load(handle))
        trainer = resolve(args.trainer)
        trainer(config, **inputs, out_dir=args.out, mlflow_run_id=os.environ.get(RUN_ID_ENV))
    except RecforgeError as exc:
        print(f"recforge: error: {exc.message}", file=sys.stderr)
        return 2
    return 0


def exit_now(code: int) -> None:
    """Leave without the interpreter's teardown once the work is done and Python's exit handlers (MLflow's among
    them) have run: destroying the C++ threads of gloo / DeepSpeed at teardown once aborted a rank that had
    finished and saved ("terminate called without an active exception", exit -6), failing the whole run."""
    import atexit
    import logging

    atexit._run_exitfuncs()
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    exit_now(main())
