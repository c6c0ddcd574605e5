"""Item images for Pigeon: rendered posters, or a folder of real images keyed by the item's source id.

A folder holds `<source id>.<ext>` files in any format Pillow reads (png, jpg, webp, gif, bmp, ...); each image
is converted to RGB, centre-cropped to a square and resized. Every item that appears in a window needs one:
a missing or unreadable file is an error naming the file (or the name it should have).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from components.common.errors import DataError

EXTENSIONS = ("png", "jpg", "jpeg", "webp", "gif", "bmp", "tif", "tiff")


def square_resize(image, size: int) -> np.ndarray:
    """(size, size, 3) uint8 from a PIL image: RGB, centre square crop, Lanczos resize."""
    from PIL import Image

    rgb = image.convert("RGB")
    w, h = rgb.size
    side = min(w, h)
    left, top = (w - side) // 2, (h - side) // 2
    rgb = rgb.crop((left, top, left + side, top + side)).resize((size, size), Image.Resampling.LANCZOS)
    return np.asarray(rgb, dtype=np.uint8)


def index_folder(folder: Path) -> dict[str, Path]:
    """Source id -> image file; two files for one id is an error."""
    if not folder.is_dir():
        raise DataError(folder, "folder not found; expected a folder of item images named <source id>.<ext>")
    found: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if path.suffix.lower().lstrip(".") not in EXTENSIONS or not path.is_file():
            continue
        if path.stem in found:
            raise DataError(path, f"a second image for item {path.stem} (also {found[path.stem].name}); expected one")
        found[path.stem] = path
    return found


def load_folder(folder: str | Path, source_ids: Sequence[str], titles: Sequence[str], needed: np.ndarray, size: int):
    """(n_items, size, size, 3) uint8 with the images of the `needed` item ids (others stay black)."""
    from PIL import Image, UnidentifiedImageError

    folder = Path(folder).expanduser()
    files = index_folder(folder)
    out = np.zeros((len(source_ids), size, size, 3), dtype=np.uint8)
    for item in needed.tolist():
        source = source_ids[item]
        path = files.get(source)
        if path is None:
            raise DataError(
                folder / f"{source}.png",
                f"no image for item {source} ({titles[item]}) in {folder}; expected {source}.<{'|'.join(EXTENSIONS)}>",
            )
        try:
            with Image.open(path) as image:
                out[item] = square_resize(image, size)
        except (UnidentifiedImageError, OSError, ValueError) as exc:
            problem = f"unreadable image in {folder} ({type(exc).__name__}: {exc}); expected a picture Pillow opens"
            raise DataError(path, problem) from None
    return out
