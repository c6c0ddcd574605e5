"""Bad input: each case stops with one line naming the file, the line or column, and what was expected."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
from conftest import write_amazon, write_ml1m, write_ml100k, write_movielens_csv

from components.common.errors import ConfigError, DataError
from components.prepare_data.config import PrepareConfig
from components.prepare_data.core import prepare
from components.prepare_data.readers import read_amazon, read_lastfm, read_movielens_1m, read_movielens_100k
from components.prepare_data.sources import resolve_source

HEADER = "userId,movieId,rating,timestamp\n"


def _prepare(folder: Path, tmp_path: Path, **overrides: object) -> dict:
    return prepare(PrepareConfig(data_dir=str(folder), **overrides), tmp_path / "out")


def _fails(folder: Path, tmp_path: Path, pattern: str, **overrides: object) -> str:
    with pytest.raises(DataError, match=pattern) as info:
        _prepare(folder, tmp_path, **overrides)
    message = str(info.value)
    assert "\n" not in message
    assert not (tmp_path / "out").exists()
    return message


def test_missing_file(tmp_path: Path) -> None:
    folder = tmp_path / "ml"
    folder.mkdir()
    (folder / "ratings.csv").write_text(HEADER + "1,1,4.0,5\n")
    _fails(folder, tmp_path, r"ml: no movielens-latest-small files here; expected ratings.csv, movies.csv")


def test_incomplete_folder_under_data_dir_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "ml-latest-small").mkdir()
    (tmp_path / "ml-latest-small" / "ratings.csv").write_text(HEADER)
    monkeypatch.setenv("RECFORGE_DATA_DIR", str(tmp_path))
    with pytest.raises(DataError, match=r"movies.csv: file not found; the movielens-latest-small folder needs"):
        resolve_source("movielens-latest-small")


def test_renamed_column(tmp_path: Path) -> None:
    folder = write_movielens_csv(tmp_path / "ml", "userId,movieId,score,timestamp\n1,1,4.0,5\n")
    _fails(
        folder,
        tmp_path,
        r"^ratings.csv line 1: missing column 'rating' \(found userId, movieId, score, timestamp\); "
        r"expected columns userId, movieId, rating, timestamp$",
    )


def test_missing_column(tmp_path: Path) -> None:
    movies = "movieId,genres\n1,Drama\n"
    folder = write_movielens_csv(tmp_path / "ml", HEADER + "1,1,4.0,5\n", movies)
    _fails(folder, tmp_path, r"^movies.csv line 1: missing column 'title'")


def test_non_numeric_id_names_file_line_and_column(tmp_path: Path) -> None:
    folder = write_movielens_csv(tmp_path / "ml", HEADER + "1,1,4.0,5\n1,2,3.0,6\nabc,1,2.0,7\n")
    _fails(folder, tmp_path, r"^ratings.csv line 4, column 'userId': expected an integer, got 'abc'$")


def test_non_numeric_rating(tmp_path: Path) -> None:
    folder = write_movielens_csv(tmp_path / "ml", HEADER + "1,1,good,5\n")
    _fails(folder, tmp_path, r"^ratings.csv line 2, column 'rating': expected a number, got 'good'$")


def test_empty_value(tmp_path: Path) -> None:
    folder = write_movielens_csv(tmp_path / "ml", HEADER + "1,1,4.0,5\n2,,4.0,6\n")
    _fails(folder, tmp_path, r"^ratings.csv line 3, column 'movieId': empty value; expected an integer$")


def test_wrong_number_of_fields(tmp_path: Path) -> None:
    folder = write_movielens_csv(tmp_path / "ml", HEADER + "1,1,4.0,5\n1,2,3.0\n")
    _fails(folder, tmp_path, r"^ratings.csv line 3: found 3 fields; expected 4 \(userId, movieId, rating, timestamp\)$")


def test_undecodable_bytes(tmp_path: Path) -> None:
    folder = write_movielens_csv(tmp_path / "ml", HEADER + "1,1,4.0,5\n")
    (folder / "movies.csv").write_bytes(b"movieId,title,genres\n1,Am\xe9lie (2001),Drama\n")
    _fails(
        folder,
        tmp_path,
        r"^movies.csv line 2: undecodable bytes b'\\xe9lie' \(byte 5 of the line\); expected UTF-8 text$",
    )


def test_undecodable_bytes_in_lastfm_artists(tmp_path: Path, shared_data: Path) -> None:
    folder = tmp_path / "lastfm"
    folder.mkdir()
    for name in ("user_artists.dat", "user_friends.dat"):
        (folder / name).write_bytes((shared_data / "hetrec2011-lastfm-2k" / name).read_bytes())
    (folder / "artists.dat").write_bytes(b"id\tname\turl\tpictureURL\n1\tR\xf6yksopp\tu\tp\n")
    with pytest.raises(DataError, match=r"^artists.dat line 2: undecodable bytes"):
        read_lastfm(folder)


def test_empty_file(tmp_path: Path) -> None:
    folder = write_movielens_csv(tmp_path / "ml", "")
    _fails(folder, tmp_path, r"^ratings.csv: file is empty; expected a header line and data rows$")


def test_header_without_rows(tmp_path: Path) -> None:
    folder = write_movielens_csv(tmp_path / "ml", HEADER)
    _fails(folder, tmp_path, r"^ratings.csv: file has no data rows; expected at least one$")


def test_no_user_with_two_interactions(tmp_path: Path) -> None:
    folder = write_movielens_csv(tmp_path / "ml", HEADER + "1,1,4.0,5\n2,2,3.0,6\n3,1,2.0,7\n")
    _fails(folder, tmp_path, r"^ratings.csv: no user has enough interactions for a test row \(2 needed")


def test_ml100k_non_numeric_id(tmp_path: Path) -> None:
    folder = write_ml100k(tmp_path / "ml-100k")
    (folder / "u.data").write_text("1\t1\t5\t100\n1\tx2\t3\t200\n")
    with pytest.raises(DataError, match=r"^u.data line 2, column 'item': expected an integer, got 'x2'$"):
        read_movielens_100k(folder)


def test_ml1m_wrong_separator(tmp_path: Path) -> None:
    folder = write_ml1m(tmp_path / "ml-1m")
    (folder / "ratings.dat").write_text("1::10::5::978300760\n1,20,3,978302109\n")
    with pytest.raises(DataError, match=r"^ratings.dat line 2: found 1 fields; expected 4"):
        read_movielens_1m(folder)


def test_amazon_bad_json_line(tmp_path: Path) -> None:
    folder = write_amazon(tmp_path / "amazon")
    path = folder / "Home_and_Kitchen_5.json"
    path.write_text(path.read_text() + '{"reviewerID": "A3", "asin": \n')
    with pytest.raises(DataError, match=r"^Home_and_Kitchen_5.json line 6: invalid JSON"):
        read_amazon(folder)


def test_amazon_missing_field_and_gzip(tmp_path: Path) -> None:
    folder = write_amazon(tmp_path / "amazon")
    path = folder / "Home_and_Kitchen_5.json"
    text = path.read_text().replace('"overall": 4.0, ', "", 1)
    path.unlink()
    (folder / "Home_and_Kitchen_5.json.gz").write_bytes(gzip.compress(text.encode()))
    with pytest.raises(DataError, match=r"^Home_and_Kitchen_5.json.gz line 2: missing field 'overall'$"):
        read_amazon(folder)


def test_amazon_needs_one_reviews_and_one_meta_file(tmp_path: Path) -> None:
    folder = write_amazon(tmp_path / "amazon")
    (folder / "meta_Home_and_Kitchen.json").unlink()
    with pytest.raises(DataError, match="found 1 review and 0 metadata JSON-lines files; expected exactly one of each"):
        read_amazon(folder)


@pytest.mark.parametrize(
    ("overrides", "pattern"),
    [
        ({"dataset": "movielens-25m"}, r"^prepare_data.dataset: got 'movielens-25m'; expected one of movielens-latest"),
        ({"split": "random"}, r"^prepare_data.split: got 'random'; expected one of leave-one-out, time$"),
        ({"num_negatives": 0}, r"^prepare_data.num_negatives: got 0; expected a value >= 1 and <= 100000$"),
        ({"time_fraction": 1.5}, r"^prepare_data.time_fraction: got 1.5; expected a value > 0.0 and < 1.0$"),
        ({"seed": "abc"}, r"^prepare_data.seed: got 'abc'; expected a value of type int$"),
        ({"duplicates": "keep"}, r"^prepare_data.duplicates: got 'keep'; expected one of last, first, error$"),
    ],
)
def test_invalid_parameters(overrides: dict, pattern: str) -> None:
    with pytest.raises(ConfigError, match=pattern):
        PrepareConfig(**overrides)


def test_unknown_setting_and_string_coercion() -> None:
    with pytest.raises(ConfigError, match=r"^prepare_data.negatives: unknown setting; expected one of dataset, "):
        PrepareConfig.from_params({"negatives": 3})
    with pytest.raises(ConfigError, match=r"^prepare_data.kcore: got '2.5'; expected a value of type int$"):
        PrepareConfig.from_params({"kcore": "2.5"})
    config = PrepareConfig.from_params({"kcore": "5", "min_rating": "4", "seed": 3})
    assert (config.kcore, config.min_rating, config.seed) == (5, 4.0, 3)
    assert PrepareConfig.from_params(config.to_params()) == config


def test_data_dir_that_does_not_exist(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"nowhere: data_dir is not an existing folder$"):
        resolve_source("movielens-1m", str(tmp_path / "nowhere"))


def test_unknown_deepspeed_config_is_refused() -> None:
    from components.align.config import AlignConfig
    from components.train_sft.config import SFTConfig

    with pytest.raises(
        ConfigError, match=r"^sft.sft_deepspeed: got 'zero1'; expected one of '' \(empty\), zero2, zero3$"
    ):
        SFTConfig(sft_deepspeed="zero1")
    with pytest.raises(
        ConfigError, match=r"^align.align_deepspeed: got 'ZeRO-2'; expected one of '' \(empty\), zero2, zero3$"
    ):
        AlignConfig(align_deepspeed="ZeRO-2")


@pytest.mark.parametrize("overrides", [{"sft_nproc": 2}, {"sft_nodes": 2}, {"sft_deepspeed": "zero2"}])
def test_one_process_trainers_refuse_distributed_settings(overrides: dict) -> None:
    from components.train_sft.config import SFTConfig

    SFTConfig().require_one_process("RecICL")  # the defaults are fine
    with pytest.raises(ConfigError, match=r"^sft.sft_nproc: got .*; RecICL training runs in one process without"):
        SFTConfig(**overrides).require_one_process("RecICL")


GOOD = "1,1,4.0,964982703\n1,2,3.5,964982704\n1,3,4.0,964982705\n"


@pytest.mark.parametrize(
    ("row", "pattern"),
    [
        ("1,4,99.0,964982706", r"line 5, column 'rating': got 99.0; expected a finite rating between 0.5 and 5.0"),
        ("1,4,-3.0,964982706", r"line 5, column 'rating': got -3.0; expected a finite rating between 0.5 and 5.0"),
        ("1,4,nan,964982706", r"line 5, column 'rating': got nan; expected a finite rating"),
        ("1,4,inf,964982706", r"line 5, column 'rating': got inf; expected a finite rating"),
        ("1,4,4.0,-99999999999999", r"line 5, column 'timestamp': got -99999999999999; expected Unix seconds"),
        ("1,4,4.0,99999999999", r"line 5, column 'timestamp': got 99999999999; expected Unix seconds between 0 and"),
    ],
)
def test_implausible_values_are_refused_with_their_line(row: str, pattern: str, tmp_path: Path) -> None:
    folder = write_movielens_csv(tmp_path / "ml", HEADER + GOOD + row + "\n")
    _fails(folder, tmp_path, "^ratings.csv " + pattern)


def test_rating_scale_is_per_dataset(tmp_path: Path) -> None:
    folder = write_ml100k(tmp_path / "ml-100k")
    (folder / "u.data").write_text("1\t1\t5\t100\n1\t2\t0.5\t200\n")  # half stars do not exist in ml-100k
    _fails(
        folder,
        tmp_path,
        r"^u.data line 2, column 'rating': got 0.5; expected a finite rating between 1.0 and 5.0 for movielens-100k$",
        dataset="movielens-100k",
    )


def test_last_line_cut_mid_number(tmp_path: Path) -> None:
    folder = write_movielens_csv(tmp_path / "ml", HEADER + GOOD + "1,4,4.0,96498")
    _fails(folder, tmp_path, r"^ratings.csv line 5: the last line has no line end, so the file looks cut short")


def test_truncated_gzip(tmp_path: Path) -> None:
    folder = write_amazon(tmp_path / "amazon")
    path = folder / "Home_and_Kitchen_5.json"
    packed = gzip.compress(path.read_bytes())
    path.unlink()
    (folder / "Home_and_Kitchen_5.json.gz").write_bytes(packed[: len(packed) // 2])
    with pytest.raises(DataError, match=r"^Home_and_Kitchen_5.json.gz: not a complete gzip file \(.*\); expected"):
        read_amazon(folder)


def test_sizes_beyond_64_bits_are_config_errors() -> None:
    with pytest.raises(
        ConfigError, match=r"^prepare_data.num_negatives: got 99999999999999999999; expected an integer"
    ):
        PrepareConfig(num_negatives=99999999999999999999)
