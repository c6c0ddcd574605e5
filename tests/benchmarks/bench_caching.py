"""KFP's cache in local runs, measured: one pipeline run three times in one workdir, with the default settings
(plus any --set): cold, then identical (every cacheable step should be reused), then with one parameter changed
(only the steps that depend on it should run). Prints each run's wall time and, per step, its seconds or
"reused". Run on demand (sft-rec about 8 minutes cold on 2 cores):

    python tests/benchmarks/bench_caching.py --pipeline sft-rec --change eval_users=300 [--set key=value ...]
"""

from __future__ import annotations

import argparse
import io
import tempfile
from pathlib import Path

from pipelines import catalog
from pipelines.local import LocalRun, parse_overrides, run_local


def _cell(run: LocalRun, task: str) -> str:
    if task in run.reused:
        return "reused"
    return f"{run.step_seconds[task]:.1f}s" if task in run.step_seconds else "-"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pipeline", default="sft-rec")
    parser.add_argument("--change", default="eval_users=300", help="KEY=VALUE of the third run")
    parser.add_argument("--set", dest="sets", action="append", default=[])
    parser.add_argument("--workdir", default=None)
    args = parser.parse_args()
    entry = catalog.get(args.pipeline)
    base = parse_overrides(entry, args.sets)
    changed = {**base, **parse_overrides(entry, [args.change])}
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="bench-caching-"))
    runs = {}
    for label, arguments in (("cold", base), ("identical", base), (args.change, changed)):
        runs[label] = run_local(entry, arguments, workdir, out=io.StringIO())
        print(f"{label}: {runs[label].seconds:.1f}s, {len(runs[label].reused)} steps reused", flush=True)
    tasks = sorted(set().union(*(set(r.step_seconds) | set(r.reused) for r in runs.values())))
    print(f"\n{args.pipeline} ({', '.join(args.sets) or 'defaults'}), workdir {workdir}\n")
    print("| step | " + " | ".join(runs) + " |")
    print("|---|" + "---|" * len(runs))
    for task in tasks:
        print(f"| {task} | " + " | ".join(_cell(r, task) for r in runs.values()) + " |")
    print("| **run** | " + " | ".join(f"**{r.seconds:.1f}s**" for r in runs.values()) + " |")
    cold = runs["cold"].seconds
    for label, run in list(runs.items())[1:]:
        share, saved = run.seconds / cold, cold - run.seconds
        print(f"{label}: {run.seconds:.1f}s = {share:.1%} of the cold run, {saved:.0f}s saved")


if __name__ == "__main__":
    main()
