"""What a local run prints (pipelines/console.py) and `recforge run NAME --help`."""

from __future__ import annotations

import io

import pytest

from pipelines import catalog
from pipelines.cli import main
from pipelines.console import StepConsole

KFP_OUTPUT = (
    "01:12:01.216 - INFO - Running pipeline: \x1b[95m'prepare-data'\x1b[0m\n"
    "01:12:01.218 - INFO - Executing task \x1b[96m'prepare-dataset'\x1b[0m\n"
    "01:12:01.218 - INFO - Streamed logs:\n\n"
    "    [KFP Executor 2026-12-06 01:12:01,267 INFO]: Got executor_input:\n"
    '    {"inputs": {"parameterValues": {"seed": 42}}}\n'
    "    2026-12-06 01:12:03,125 INFO components.prepare_data.core: reading movielens\n"
    "    2026-12-06 01:12:03,126 WARNING components.prepare_data.encode: 3 unknown items dropped\n"
    "    tqdm junk 45%|#####\n"
    "01:12:03.832 - INFO - Task \x1b[96m'prepare-dataset'\x1b[0m finished with status \x1b[92mSUCCESS\x1b[0m\n"
    "01:12:03.832 - INFO - Task \x1b[96m'prepare-dataset'\x1b[0m outputs:\n"
    "    prepared: Dataset( name='prepared', uri='/x' )\n"
    "01:12:03.900 - INFO - Task data-report cache hit (key=0123456789ab); skipping execution.\n"
    "01:12:04.000 - INFO - Executing task \x1b[96m'train-sft'\x1b[0m\n"
    "    recforge: error in step train-sft: sft_epochs: got -1; expected > 0\n"
    "01:12:05.000 - ERROR - Task \x1b[96m'train-sft'\x1b[0m finished with status \x1b[91mFAILURE\x1b[0m\n"
)


def _feed(console: StepConsole, text: str) -> None:
    for start in range(0, len(text), 7):  # arbitrary chunks: lines are reassembled
        console.write(text[start : start + 7])
    console.flush()


def test_one_line_per_step_with_progress_and_no_executor_dumps() -> None:
    out = io.StringIO()
    console = StepConsole(out)
    _feed(console, KFP_OUTPUT)
    lines = out.getvalue().splitlines()
    assert lines[0] == "          prepare-dataset: reading movielens"
    assert lines[1] == "          prepare-dataset: WARNING: 3 unknown items dropped"
    assert lines[2].split() == ["ok", "prepare-dataset", lines[2].split()[-1]] and lines[2].endswith("s")
    assert lines[3].split()[:2] == ["reused", "data-report"]
    assert lines[4] == "  recforge: error in step train-sft: sft_epochs: got -1; expected > 0"
    assert lines[5].split()[:2] == ["FAILED", "train-sft"] and len(lines) == 6
    assert console.events.finished == {"prepare-dataset": "SUCCESS", "train-sft": "FAILURE"}
    assert console.events.reused == {"data-report": "0123456789ab"}


def test_verbose_passes_everything_and_colour_only_to_a_terminal() -> None:
    plain, coloured = io.StringIO(), io.StringIO()
    _feed(StepConsole(plain, verbose=True), KFP_OUTPUT)
    _feed(StepConsole(coloured, verbose=True, color=True), KFP_OUTPUT)
    assert "executor_input" in plain.getvalue() and "\x1b[" not in plain.getvalue()
    assert coloured.getvalue() == KFP_OUTPUT
    assert StepConsole(io.StringIO()).color is False  # a StringIO is no terminal


def test_run_help_lists_the_pipelines_parameters(capsys: pytest.CaptureFixture) -> None:
    assert main(["run", "sft-rec", "--help"]) == 0
    out = capsys.readouterr().out
    table = catalog.get("sft-rec").table()
    assert out.startswith("usage: recforge run sft-rec --local")
    for name, parameter in table.items():
        assert f"  {name} " in out and parameter.doc in out
    assert "sft_epochs" in out and f"default {table['sft_epochs'].default}" in out
    assert main(["run", "nope", "--help"]) == 2
    assert "unknown pipeline 'nope'" in capsys.readouterr().err
    assert main(["run", "sft-rec"]) == 2
    assert "expected --local" in capsys.readouterr().err
