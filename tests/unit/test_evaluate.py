"""The evaluate step on real data, and its bad inputs: empty candidates, unknown item ids, broken model folders."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from components.common.errors import ConfigError, DataError
from components.common.models import load_base_model
from components.common.prepared import Prepared
from components.common.tiny import build_model, build_tokenizer
from components.evaluate.config import EvalConfig
from components.evaluate.core import evaluate
from components.prepare_data.config import PrepareConfig
from components.prepare_data.core import prepare
from components.recsys.popularity import save_popularity, train_popularity


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("ml") / "prepared"
    prepare(PrepareConfig(), out)
    return out


@pytest.fixture(scope="module")
def popularity(dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("pop") / "model"
    save_popularity(train_popularity(Prepared(dataset)), out)
    return out


def test_popularity_beats_random_and_writes_predictions(dataset: Path, popularity: Path, tmp_path: Path) -> None:
    result = evaluate(popularity, dataset, EvalConfig(), tmp_path / "eval")
    metrics = result["metrics"]
    assert result["users"] == 610 and result["candidates"] == 20
    assert metrics["hr_10"] > 0.75  # random: 0.5
    assert metrics["hr_1"] <= metrics["hr_5"] <= metrics["hr_10"]
    assert set(metrics) >= {
        "hr_1",
        "hr_5",
        "hr_10",
        "ndcg_5",
        "ndcg_10",
        "mrr",
        "valid_ratio",
        "hallucination_rate",
        "avg_pop",
    }
    assert metrics["hr_10_pop_high"] > metrics["hr_10_pop_low"]  # popularity serves popular targets best
    predictions = pq.read_table(tmp_path / "eval" / "predictions.parquet")
    assert predictions.num_rows == 610
    row = predictions.slice(0, 1).to_pylist()[0]
    assert row["top1"] == row["candidates"][max(range(20), key=lambda i: row["scores"][i])]
    sample = evaluate(popularity, dataset, EvalConfig(eval_users=50, eval_split="valid"), tmp_path / "eval2")
    assert sample["users"] == 50
    assert not any(k.startswith("valid_hr") for k in sample["metrics"])  # evaluating valid itself adds nothing
    # a test evaluation also ranks the valid split (the model-selection numbers): the same values as evaluating
    # the valid split directly
    valid = evaluate(popularity, dataset, EvalConfig(eval_split="valid"), tmp_path / "eval3")["metrics"]
    for name in ("hr_1", "hr_10", "ndcg_10", "mrr"):
        assert metrics[f"valid_{name}"] == pytest.approx(valid[name])
    assert metrics["valid_ndcg_10"] != metrics["ndcg_10"]
    no_valid = evaluate(popularity, dataset, EvalConfig(eval_valid_ranking=False), tmp_path / "eval4")["metrics"]
    assert not any(k.startswith("valid_hr") for k in no_valid) and no_valid["ndcg_10"] == metrics["ndcg_10"]


def _edit_test_split(dataset: Path, tmp_path: Path, column: str, row: int, value: list[int] | int) -> Path:
    copy = tmp_path / "prepared"
    shutil.copytree(dataset, copy)
    table = pq.read_table(copy / "test.parquet")
    values = table[column].to_pylist()
    values[row] = value
    table = table.set_column(
        table.schema.get_field_index(column), column, pa.array(values, table.schema.field(column).type)
    )
    pq.write_table(table, copy / "test.parquet")
    return copy


def test_empty_candidate_list(dataset: Path, popularity: Path, tmp_path: Path) -> None:
    broken = _edit_test_split(dataset, tmp_path, "candidates", 3, [])
    with pytest.raises(DataError, match=r"^test.parquet row 3, column 'candidates': empty candidate list; expected"):
        evaluate(popularity, broken, EvalConfig(), tmp_path / "eval")
    assert not (tmp_path / "eval").exists()


def test_unknown_item_id(dataset: Path, popularity: Path, tmp_path: Path) -> None:
    table = pq.read_table(dataset / "test.parquet")
    candidates = table["candidates"][5].as_py()
    target = table["target"][5].as_py()
    candidates[next(i for i, c in enumerate(candidates) if c != target)] = 99999
    broken = _edit_test_split(dataset, tmp_path, "candidates", 5, candidates)
    with pytest.raises(
        DataError, match=r"^test.parquet row 5, column 'candidates': item id 99999 is not in items.parquet"
    ):
        evaluate(popularity, broken, EvalConfig(), tmp_path / "eval")


def test_model_directory_without_weights(dataset: Path, tmp_path: Path) -> None:
    tokenizer = build_tokenizer(["Toy Story (1995)"] * 5, vocab_size=300)
    model = build_model("tiny", len(tokenizer), 0, tokenizer)
    folder = tmp_path / "sft"
    (folder / "model").mkdir(parents=True)
    model.config.save_pretrained(folder / "model")
    tokenizer.save_pretrained(folder / "model")
    (folder / "model.json").write_text(
        json.dumps({"kind": "llm", "template": "{history} {candidates}", "history_len": 3})
    )
    with pytest.raises(ConfigError, match=r"model has config.json but no weights; expected \*.safetensors"):
        evaluate(folder, dataset, EvalConfig(), tmp_path / "eval")
    with pytest.raises(ConfigError, match="no weights"):
        load_base_model(str(folder / "model"))


def test_folder_that_is_not_a_model(dataset: Path, tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"^model.json: file not found; expected a model folder written by a recforge"):
        evaluate(tmp_path, dataset, EvalConfig(), tmp_path / "eval")
    (tmp_path / "model.json").write_text(json.dumps({"kind": "svd"}))
    with pytest.raises(DataError, match="unknown model kind 'svd'; expected popularity, sasrec, llm, ilora or base"):
        evaluate(tmp_path, dataset, EvalConfig(), tmp_path / "eval")
