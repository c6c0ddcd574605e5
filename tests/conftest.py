"""Shared test setup: hermetic environment (no network, no telemetry), the shared real data, fixture writers."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = (ROOT.parent / "shared" / "data").resolve()

HERMETIC = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "RECFORGE_OFFLINE": "1",
}
os.environ.update(HERMETIC)
os.environ.setdefault("RECFORGE_DATA_DIR", str(SHARED_DATA))
os.environ["RECFORGE_DATA_DIR"] = str(Path(os.environ["RECFORGE_DATA_DIR"]).resolve())
os.environ.pop("MLFLOW_TRACKING_URI", None)
os.environ.pop("MLFLOW_RUN_ID", None)
os.environ.pop("RECFORGE_PARENT_RUN_ID", None)
os.environ.pop("MLFLOW_EXPERIMENT_ID", None)
if os.environ.get("PYTEST_XDIST_WORKER"):
    # pytest -n N runs N workers on N cores: one compute thread each (steps' subprocesses inherit it). Two workers
    # with torch's default of one thread per core spin against each other: two small trainings run side by side
    # took 13 s together, 4 s with one thread each (measured on the CI's 2 cores).
    for _name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(_name, "1")
    import torch

    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))


# rec-alignment with reduced settings: the pipeline test and the PostgreSQL test run it
REC_ALIGNMENT_REDUCED = {
    "losses": ["dpo", "alpha_dpo"],
    "sasrec_epochs": 4,
    "sasrec_eval_every": 2,
    "sft_max_examples": 64,
    "sft_epochs": 1.0,
    "sft_vocab_size": 1024,
    "pref_pairs": 24,
    "pref_eval_pairs": 8,
    "align_batch_size": 4,
    "eval_users": 20,
    "eval_max_new_tokens": 8,
}


TRACKING_ENV = ("MLFLOW_TRACKING_URI", "MLFLOW_RUN_ID", "MLFLOW_EXPERIMENT_ID", "RECFORGE_PARENT_RUN_ID")


@pytest.fixture(autouse=True)
def _tracking_environment_restored() -> Iterator[None]:
    """`mlflow.set_tracking_uri` (called by tests, by step runs inside the test process, and by module-scoped
    fixtures, which no function fixture wraps) writes MLFLOW_TRACKING_URI into os.environ; left there it would send
    every later local run of the same process into a deleted store. Every test ends with none of these set, as the
    session began."""
    yield
    for key in TRACKING_ENV:
        os.environ.pop(key, None)


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECFORGE_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    assert (SHARED_DATA / "ml-latest-small" / "ratings.csv").is_file(), f"shared data missing at {SHARED_DATA}"
    return SHARED_DATA


def write_ml100k(folder: Path) -> Path:
    """A small MovieLens-100K folder: 3 users, 5 movies (one Latin-1 title), tab-separated u.data."""
    folder.mkdir(parents=True, exist_ok=True)
    ratings = [
        (1, 1, 5, 100), (1, 2, 3, 200), (1, 3, 4, 300), (1, 4, 2, 400),
        (2, 2, 4, 150), (2, 3, 1, 250), (2, 1, 5, 350),
        (3, 4, 3, 500), (3, 1, 4, 600),
    ]  # fmt: skip
    (folder / "u.data").write_text("".join(f"{u}\t{i}\t{r}\t{t}\n" for u, i, r, t in ratings))
    genres = ["0"] * 19
    rows = []
    for item, title, flags in [
        (1, "Toy Story (1995)", {3, 4, 5}),
        (2, "GoldenEye (1995)", {1, 2, 16}),
        (3, "Café au lait (Métisse) (1993)", {5}),
        (4, "Unknown Film", set()),
        (5, "Nobody Rated (1999)", {8}),
    ]:
        g = ["1" if j in flags else "0" for j in range(19)] if flags else genres
        rows.append("|".join([str(item), title, "01-Jan-1995", "", "http://example.org/x", *g]))
    (folder / "u.item").write_bytes(("\n".join(rows) + "\n").encode("latin-1"))
    return folder


def write_ml1m(folder: Path) -> Path:
    """A small MovieLens-1M folder: '::'-separated, Latin-1 movies.dat."""
    folder.mkdir(parents=True, exist_ok=True)
    ratings = [(1, 10, 5, 978300760), (1, 20, 3, 978302109), (1, 30, 4, 978301968), (2, 20, 2, 978298413),
               (2, 10, 4, 978299000), (3, 30, 5, 978297000)]  # fmt: skip
    (folder / "ratings.dat").write_text("".join(f"{u}::{i}::{r}::{t}\n" for u, i, r, t in ratings))
    movies = [
        "10::Toy Story (1995)::Animation|Children's|Comedy",
        "20::Misérables, Les (1995)::Drama|Musical",
        "30::Heat (1995)::Action|Crime|Thriller",
        "40::Never Rated (2000)::Drama",
    ]
    (folder / "movies.dat").write_bytes(("\n".join(movies) + "\n").encode("latin-1"))
    return folder


def write_amazon(folder: Path, version: int = 2018) -> Path:
    """A small Amazon reviews folder (2018 or 2023 field names), one reviews and one metadata file."""
    folder.mkdir(parents=True, exist_ok=True)
    reviews = [("A1", "B01", 5.0, 1500000000), ("A1", "B02", 4.0, 1500000100), ("A1", "B03", 2.0, 1500000200),
               ("A2", "B02", 3.0, 1500000050), ("A2", "B01", 5.0, 1500000300)]  # fmt: skip
    meta = [("B01", "Espresso Maker", ["Home", "Kitchen"]), ("B02", "Tea Kettle", ["Kitchen"]),
            ("B03", "Crème Brûlée Torch", []), ("B04", None, ["Garden"])]  # fmt: skip
    if version == 2018:
        lines = [{"reviewerID": u, "asin": i, "overall": r, "unixReviewTime": t, "style": {"Size:": "L"}}
                 for u, i, r, t in reviews]  # fmt: skip
        metas = [{"asin": i, "title": t, "category": c, "price": "$9.99"} for i, t, c in meta]
        names = ("Home_and_Kitchen_5.json", "meta_Home_and_Kitchen.json")
    else:
        lines = [{"user_id": u, "parent_asin": i, "asin": i + "x", "rating": r, "timestamp": t * 1000, "text": "ok"}
                 for u, i, r, t in reviews]  # fmt: skip
        metas = [{"parent_asin": i, "title": t, "categories": c, "price": 9.99} for i, t, c in meta]
        names = ("Home_and_Kitchen.jsonl", "meta_Home_and_Kitchen.jsonl")
    (folder / names[0]).write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    (folder / names[1]).write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in metas), encoding="utf-8")
    return folder


def write_movielens_csv(folder: Path, ratings: str, movies: str | None = None) -> Path:
    """An ml-latest-small-format folder with the given ratings.csv text (and a default movies.csv)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "ratings.csv").write_text(ratings, encoding="utf-8")
    default_movies = (
        "movieId,title,genres\n1,Toy Story (1995),Animation|Comedy\n2,Heat (1995),Action\n3,Up,(no genres listed)\n"
    )
    (folder / "movies.csv").write_text(movies if movies is not None else default_movies, encoding="utf-8")
    return folder


@pytest.fixture(scope="session")
def preference_world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """ml-latest-small prepared, a briefly trained SASRec oracle and tiny SFT model, and 60 + 20 RosePO pairs."""
    from components.build_preferences.config import PreferenceConfig
    from components.build_preferences.core import build_preferences
    from components.common.prepared import Prepared
    from components.prepare_data.config import PrepareConfig
    from components.prepare_data.core import prepare
    from components.recsys.sasrec import save_sasrec
    from components.train_baseline.config import SASRecConfig
    from components.train_baseline.sasrec import train_sasrec
    from components.train_sft.config import SFTConfig
    from components.train_sft.trainer import train_sft

    root = tmp_path_factory.mktemp("preference-world")
    prepare(PrepareConfig(), root / "data")
    data = Prepared(root / "data")
    model, record = train_sasrec(data, SASRecConfig(sasrec_epochs=6, sasrec_eval_every=3), progress=False)
    save_sasrec(model, record, data, root / "sasrec")
    sft = SFTConfig(sft_max_examples=256, sft_eval_examples=8, sft_epochs=1.0, sft_batch_size=8, sft_vocab_size=1024,
                    sft_checkpoint_dir=str(root / "ck"))  # fmt: skip
    train_sft(sft, root / "data", root / "sft", progress=False)
    build_preferences(
        PreferenceConfig(pref_pairs=60, pref_eval_pairs=20),
        root / "data",
        root / "sft",
        root / "sasrec",
        root / "prefs",
    )
    return {
        "root": root,
        "data": root / "data",
        "sft": root / "sft",
        "sasrec": root / "sasrec",
        "prefs": root / "prefs",
    }


def write_wn18rr_slice(folder: Path, train_lines: int = 3000, held_out: int = 60) -> Path:
    """The first `train_lines` triples of WN18RR's train.txt and up to `held_out` valid/test triples among their
    entities, as a KG folder."""
    source = Path(os.environ["RECFORGE_DATA_DIR"]) / "WN18RR"
    train = (source / "train.txt").read_text(encoding="utf-8").splitlines()[:train_lines]
    entities = {part for line in train for part in line.split("\t")[::2]}
    folder.mkdir(parents=True)
    (folder / "train.txt").write_text("\n".join(train) + "\n", encoding="utf-8")
    for split in ("valid", "test"):
        lines = (source / f"{split}.txt").read_text(encoding="utf-8").splitlines()
        kept = [line for line in lines if set(line.split("\t")[::2]) <= entities][:held_out]
        (folder / f"{split}.txt").write_text("\n".join(kept) + "\n", encoding="utf-8")
    return folder
