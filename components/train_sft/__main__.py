"""Entry point of one SFT training process: `python -m components.train_sft --config C --dataset D --out O`
(what torchrun starts on every rank)."""

from __future__ import annotations

import argparse
import json
import os
import sys

from components.common.distributed import RUN_ID_ENV
from components.common.errors import RecforgeError
from components.common.step import setup_logging
from components.train_sft.config import SFTConfig


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, help="JSON file of SFTConfig settings")
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    setup_logging()
    from components.train_sft.trainer import train_sft

    try:
        with open(args.config, encoding="utf-8") as handle:
            config = SFTConfig.from_params(json.load(handle))
        train_sft(config, args.dataset, args.out, mlflow_run_id=os.environ.get(RUN_ID_ENV))
    except RecforgeError as exc:
        print(f"recforge: error: {exc.message}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
