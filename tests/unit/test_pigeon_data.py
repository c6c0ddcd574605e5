"""The image-data step on the real ml-latest-small: windows, held-out users, rendered posters, image folders."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from PIL import Image

from components.common.errors import DataError
from components.prepare_data.config import PrepareConfig
from components.prepare_data.core import prepare
from components.train_diffusion.config import ImageDataConfig
from components.train_diffusion.data import ImageData, build_image_data
from components.train_diffusion.posters import render_poster


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("pigeon") / "prepared"
    prepare(PrepareConfig(), folder)
    return folder


def test_rendered_image_data_on_movielens(prepared: Path, tmp_path: Path) -> None:
    config = ImageDataConfig(max_windows_per_user=2)
    summary = build_image_data(config, str(prepared), str(tmp_path / "a"))
    assert summary["users"] == 610 and summary["test_users"] == 61  # every user has >= 20 ratings
    assert summary["windows"] == {"train": 2 * 488, "valid": 2 * 61, "test": 2 * 61}
    data = ImageData(tmp_path / "a")
    test, train = data.split("test"), data.split("train")
    assert not set(test.users.tolist()) & set(train.users.tolist())  # held-out users
    assert test.histories.shape == (122, 5)
    # the windows are the users' latest interactions in time order
    ratings = pq.read_table(prepared / "interactions.parquet").to_pandas()
    user = int(test.users[-1])
    seq = ratings[ratings.user_id == user].item_id.to_numpy()
    assert test.targets[-1] == seq[-1] and test.histories[-1].tolist() == seq[-6:-1].tolist()
    # images: every item in a window is drawn, from its own title and genres
    items = pq.read_table(prepared / "items.parquet").to_pylist()
    target = int(test.targets[0])
    assert data.present[target] and data.images.shape[1:] == (32, 32, 3)
    assert np.array_equal(data.images[target], render_poster(items[target]["title"], items[target]["genres"], 32))
    assert data.genres[target].sum() == len([g for g in items[target]["genres"] if not g.startswith("(")])
    # deterministic
    build_image_data(config, str(prepared), str(tmp_path / "b"))
    assert (tmp_path / "a" / "images.npy").read_bytes() == (tmp_path / "b" / "images.npy").read_bytes()
    assert (tmp_path / "a" / "windows.parquet").read_bytes() == (tmp_path / "b" / "windows.parquet").read_bytes()


def test_a_folder_with_a_missing_image_fails_and_writes_nothing(prepared: Path, tmp_path: Path) -> None:
    folder = tmp_path / "posters"
    folder.mkdir()
    Image.new("RGB", (20, 30), (10, 200, 30)).save(folder / "1.png")  # Toy Story only
    out = tmp_path / "out"
    expected = r"^\d+\.png: no image for item \d+ \(.+\) in .*posters; expected \d+\.<png\|jpg"
    with pytest.raises(DataError, match=expected):
        build_image_data(ImageDataConfig(image_dir=str(folder), max_windows_per_user=1), str(prepared), str(out))
    assert not out.exists()


def test_a_complete_folder_of_real_images_is_used(prepared: Path, tmp_path: Path) -> None:
    items = pq.read_table(prepared / "items.parquet", columns=["source_id"])["source_id"].to_pylist()
    folder = tmp_path / "posters"
    folder.mkdir()
    for i, source in enumerate(items):  # a distinct colour per item, mixed formats
        colour = (i % 256, (i // 256) % 256, 90)
        Image.new("RGB", (24, 36), colour).save(folder / f"{source}.{'png' if i % 2 else 'jpg'}", quality=100)
    config = ImageDataConfig(image_dir=str(folder), image_size=16, max_windows_per_user=1)
    summary = build_image_data(config, str(prepared), str(tmp_path / "o"))
    assert summary["image_source"] == str(folder.resolve())
    data = ImageData(tmp_path / "o")
    item = int(data.split("train").targets[0])
    assert data.images.shape[1:] == (16, 16, 3)
    assert np.abs(data.images[item, 8, 8].astype(int) - [item % 256, (item // 256) % 256, 90]).max() <= 3
