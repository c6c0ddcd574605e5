"""Entry point of one alignment training process (what torchrun starts on every rank):
`python -m components.align --config C --prefs P --sft S --out O`."""

from __future__ import annotations

import argparse
import json
import os
import sys

from components.align.config import AlignConfig
from components.common.distributed import RUN_ID_ENV
from components.common.errors import RecforgeError
from components.common.step import setup_logging


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name in ("--config", "--prefs", "--sft", "--out"):
        parser.add_argument(name, required=True)
    args = parser.parse_args(argv)
    setup_logging()
    from components.align.trainer import train_alignment

    try:
        with open(args.config, encoding="utf-8") as handle:
            config = AlignConfig.from_params(json.load(handle))
        train_alignment(config, args.prefs, args.sft, args.out, mlflow_run_id=os.environ.get(RUN_ID_ENV))
    except RecforgeError as exc:
        print(f"recforge: error: {exc.message}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
