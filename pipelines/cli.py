"""The `recforge` command: list, compile, run --local, submit, schedule, runs and lineage.

Bad input ends with one line on stderr and exit code 2; `--debug` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from pathlib import Path

from components.common.errors import RecforgeError
from pipelines import catalog
from pipelines.settings import CompileSettings

DEFAULT_WORKDIR = "recforge-runs"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="recforge", description=__doc__.splitlines()[0])
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", required=True)

    sub.add_parser("list", help="the pipelines, one per line, name first")

    comp = sub.add_parser("compile", help="compile a pipeline to KFP IR YAML")
    comp.add_argument("name")
    comp.add_argument("-o", "--output", help="output file (default: NAME.yaml)")
    _cluster_arguments(comp)

    for command, text in (
        ("submit", "upload a pipeline version and start a run on a KFP cluster"),
        ("schedule", "upload a pipeline version and create a recurring run on a KFP cluster"),
    ):
        remote = sub.add_parser(command, help=text)
        remote.add_argument("name")
        _host_arguments(remote)
        remote.add_argument("--experiment", default="recforge", help="KFP experiment (created when missing)")
        remote.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE")
        if command == "schedule":
            remote.add_argument("--cron", required=True, help="6 fields, seconds first: '0 0 3 * * *' = 03:00 daily")
        _cluster_arguments(remote)

    runs = sub.add_parser("runs", help="list recent runs on a KFP cluster with state and MLflow links")
    _host_arguments(runs)
    runs.add_argument("--limit", type=int, default=20, help="how many runs, newest first (default 20)")
    runs.add_argument("--mlflow-ui", help="MLflow UI address for the links (default: MLFLOW_TRACKING_URI if http)")

    run = sub.add_parser("run", help="run a pipeline (`run NAME --help`: its parameters)", add_help=False)
    run.add_argument("name", nargs="?")
    run.add_argument("-h", "--help", action="store_true", help="this help, or with NAME that pipeline's parameters")
    run.add_argument("--local", action="store_true", help="with KFP's local SubprocessRunner (required)")
    run.add_argument("--workdir", default=DEFAULT_WORKDIR, help=f"where outputs go (default ./{DEFAULT_WORKDIR})")
    run.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE")
    run.add_argument("--no-cache", action="store_true", help="run every step, reusing no earlier run's outputs")
    run.add_argument("--verbose", action="store_true", help="kfp.local's whole output (executor inputs, step logs)")
    parser.run_parser = run  # type: ignore[attr-defined]  # printed by `run --help`

    models = sub.add_parser("models", help="the model presets and whether each is cached; `prepare NAME` caches one")
    models_sub = models.add_subparsers(dest="models_command")
    prep = models_sub.add_parser("prepare", help="fetch and convert a pretrained preset into the model cache")
    prep.add_argument("preset")

    lin = sub.add_parser(
        "lineage", help="print the chain from raw source to outputs of an MLflow run or a registered model"
    )
    lin.add_argument("run_id", help="a run id, or a registered model: name (its champion), name@alias or name/version")
    lin.add_argument("--workdir", default=DEFAULT_WORKDIR, help="holds mlflow.db unless MLFLOW_TRACKING_URI is set")
    return parser


def _host_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--host",
        default=os.environ.get("KF_PIPELINES_ENDPOINT"),
        help="KFP API endpoint (default $KF_PIPELINES_ENDPOINT)",
    )
    parser.add_argument("--namespace", default="kubeflow", help="Kubernetes namespace of the runs (default kubeflow)")
    parser.add_argument(
        "--token-file",
        help="file holding the KFP API's bearer token (default $KF_PIPELINES_TOKEN_FILE, else $KF_PIPELINES_TOKEN)",
    )


def _cluster_arguments(parser: argparse.ArgumentParser) -> None:
    images = parser.add_argument_group("images (see components/common/images.py)")
    images.add_argument("--image", help="runtime image of the CPU steps (default $RECFORGE_IMAGE or the release)")
    images.add_argument("--training-image", help="CUDA image of the training steps (default $RECFORGE_TRAINING_IMAGE)")
    group = parser.add_argument_group("GPU scheduling of the training steps (see pipelines/accelerators.py)")
    group.add_argument("--gpus", type=int, default=0, help="accelerators per training step (default 0: none)")
    group.add_argument("--gpu-type", default="nvidia.com/gpu", help="accelerator resource name")
    group.add_argument("--node-selector", action="append", default=[], metavar="KEY=VALUE")
    group.add_argument("--toleration", action="append", default=[], metavar="KEY[=VALUE]:EFFECT")
    group.add_argument("--shm", default="16Gi", help="size of the memory-backed /dev/shm (default 16Gi)")
    group.add_argument("--nodes", type=int, default=1, help="nodes per SFT/alignment step; >1: a Kubeflow TrainJob")
    group.add_argument("--workspace-size", default="100Gi", help="pipeline workspace with --nodes > 1 (default 100Gi)")


def _settings(args: argparse.Namespace, local: bool = False) -> CompileSettings:
    """The compile settings of this invocation: the flags, then the environment (read here, and nowhere else)."""
    from pipelines.accelerators import GpuSettings

    gpu = None
    if not local:
        gpu = GpuSettings.from_cli(
            args.gpus, args.gpu_type, args.node_selector, args.toleration, args.shm, args.nodes, args.workspace_size
        )
    image, training_image = (None, None) if local else (args.image, args.training_image)
    return CompileSettings.from_environment(
        os.environ, gpu=gpu, image=image, training_image=training_image, local=local
    )


def _list() -> None:
    width = max(len(name) for name in catalog.PIPELINES)
    for name, entry in catalog.PIPELINES.items():
        print(f"{name:<{width}}  {entry.description}")


def _compile(name: str, output: str | None, settings: CompileSettings) -> Path:
    from kfp import compiler

    entry = catalog.get(name)
    target = Path(output or f"{name}.yaml")
    if target.suffix not in (".yaml", ".yml", ".json"):
        raise RecforgeError(f"compile: output {target} should end with .yaml, .yml or .json")
    if settings.gpu.nodes > 1 and not entry.multi_node:
        raise RecforgeError(
            f"--nodes: {name} has no multi-node training step; expected --nodes 1 (sft-rec and rec-alignment have one)"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.stem}.tmp{target.suffix}")
    compiler.Compiler().compile(entry.build(settings), str(tmp))
    os.replace(tmp, target)
    gpus = settings.gpu
    shown = f" ({gpus.gpus} x {gpus.gpu_type} per training step)" if gpus.gpus else ""
    print(f"compiled {name} -> {target}{shown}")
    return target


def _remote(args: argparse.Namespace) -> None:
    """submit / schedule: compile with the flags, upload as a new version, start a run or a recurring run."""
    import tempfile

    from pipelines import remote
    from pipelines.local import parse_overrides

    entry = catalog.get(args.name)
    if not args.host:
        raise RecforgeError(f"{args.command}: no --host and no KF_PIPELINES_ENDPOINT; expected the KFP API endpoint")
    if args.command == "schedule":
        remote.check_cron(args.cron)
    arguments = parse_overrides(entry, args.sets)
    with tempfile.TemporaryDirectory() as tmp:
        package = _compile(args.name, str(Path(tmp) / f"{args.name}.yaml"), _settings(args))
        client = remote.connect(args.host, args.namespace, args.token_file)
        common = (client, args.host, args.name, package, arguments, args.experiment, args.namespace, entry.description)
        if args.command == "submit":
            run, uploaded = remote.submit(*common)
            print(f"submitted {args.name} (version {uploaded.version_name}) as run {run.run_id}")
            print(f"  {remote.redact(args.host)}/#/runs/details/{run.run_id}")
        else:
            recurring, uploaded = remote.schedule(*common, args.cron)
            cron = remote.check_cron(args.cron)
            print(f"scheduled {args.name} (version {uploaded.version_name}) as recurring run")
            print(f"  {recurring.recurring_run_id}: cron '{cron}', one run at a time, no catch-up")


def _runs(args: argparse.Namespace) -> None:
    from pipelines import remote

    if not args.host:
        raise RecforgeError("runs: no --host and no KF_PIPELINES_ENDPOINT; expected the KFP API endpoint")
    if args.limit < 1:
        raise RecforgeError(f"runs: --limit {args.limit}; expected a count >= 1")
    client = remote.connect(args.host, args.namespace, args.token_file)
    rows = remote.list_runs(
        client, args.host, args.namespace, args.limit, os.environ.get("MLFLOW_TRACKING_URI"), args.mlflow_ui
    )
    if not rows:
        print(f"no runs in namespace {args.namespace}")
        return
    width = max(len(r.name) for r in rows)
    for r in rows:
        print(f"{r.run_id}  {r.state:<10}  {r.created_at:<25}  {r.name:<{width}}  {r.mlflow}")


def pipeline_help(name: str) -> str:
    """`recforge run NAME --help`: the pipeline's parameters with their types, defaults and documentation."""
    entry = catalog.get(name)
    table = entry.table()
    usage = f"usage: recforge run {name} --local [--set KEY=VALUE ...] [--workdir DIR] [--no-cache] [--verbose]"
    lines = [usage, "", f"{name}: {entry.description}", "", "parameters (--set KEY=VALUE; lists as a,b or JSON):"]
    width = max(len(n) for n in table)
    for key, parameter in table.items():
        default = parameter.default if parameter.default != "" else "''"
        lines.append(f"  {key:<{width}}  {parameter.kind.__name__:<5}  default {default}")
        lines.append(f"  {'':<{width}}  {parameter.doc}")
    return "\n".join(lines)


def _run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    from pipelines.local import parse_overrides, run_local

    if args.help:
        print(pipeline_help(args.name) if args.name else parser.run_parser.format_help())  # type: ignore[attr-defined]
        return
    if not args.name:
        raise RecforgeError("run: no pipeline named; expected recforge run NAME --local (recforge list names them)")
    if not args.local:
        raise RecforgeError(f"run: expected --local (recforge run {args.name} --local); on a cluster use submit")
    name, workdir = args.name, args.workdir
    entry = catalog.get(name)
    arguments = parse_overrides(entry, args.sets)
    print(f"recforge: running {name} locally in {workdir}")
    result = run_local(
        entry, arguments, workdir, _settings(args, local=True), cache=not args.no_cache, verbose=args.verbose
    )
    print(f"\nrecforge: {name} finished in {result.seconds:.1f}s")
    if result.reused:
        print(f"  reused from earlier runs (kfp.local cache): {', '.join(result.reused)}")
    for output, path in result.outputs.items():
        print(f"  output {output}: {path}")
    print(f"  MLflow store: {result.tracking_uri}  (parent run {result.parent_run_id})")
    if result.tracking_uri.startswith("sqlite:"):
        print(f"  browse it: mlflow ui --backend-store-uri {result.tracking_uri}")
    groups: dict[str, list[str]] = {}
    for key, value in result.metrics.items():
        model, _, metric = key.rpartition(".")
        shown = str(int(value)) if float(value).is_integer() else f"{value:.4g}"
        groups.setdefault(model, []).append(f"{metric}={shown}")
    for model, values in groups.items():
        print(f"  {model + ': ' if model else ''}{', '.join(values)}")
    print(f"  lineage: recforge lineage {result.parent_run_id} --workdir {workdir}")


def _lineage(run_id: str, workdir: str) -> None:
    from components.common.lineage import format_lineage, lineage, model_lineage
    from components.common.tracking import tracking_uri

    db = Path(workdir) / "mlflow.db"
    if not os.environ.get("MLFLOW_TRACKING_URI") and not db.is_file():
        raise RecforgeError(
            f"lineage: no MLflow store at {db}; expected --workdir of a local run or MLFLOW_TRACKING_URI"
        )
    uri = tracking_uri(workdir)
    if len(run_id) == 32 and all(c in "0123456789abcdef" for c in run_id):
        print(format_lineage(lineage(run_id, uri)))
    else:
        print(model_lineage(run_id, uri))


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "list":
            _list()
        elif args.command == "compile":
            _compile(args.name, args.output, _settings(args))
        elif args.command in ("submit", "schedule"):
            _remote(args)
        elif args.command == "runs":
            _runs(args)
        elif args.command == "run":
            _run(args, parser)
        elif args.command == "models":
            from pipelines import models

            if args.models_command == "prepare":
                models.prepare_preset(args.preset)
            else:
                models.show()
        elif args.command == "lineage":
            _lineage(args.run_id, args.workdir)
    except RecforgeError as exc:
        if args.debug:
            traceback.print_exc()
        print(f"recforge: error: {exc.message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:  # local runs stop their steps and close their runs first (pipelines/local.py)
        from components.common.interrupts import Interrupted

        code = exc.exit_code if isinstance(exc, Interrupted) else 130
        print(
            f"recforge: interrupted ({exc or 'SIGINT'}); runs marked KILLED, partial outputs removed", file=sys.stderr
        )
        return code
    except Exception as exc:
        if args.debug:
            raise
        print(
            f"recforge: internal error: {type(exc).__name__}: {exc} (run with --debug for details)",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
