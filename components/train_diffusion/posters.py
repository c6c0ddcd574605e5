"""Posters drawn from a catalogue's own metadata, so Pigeon runs with no image files (the default locally).

Each genre has a palette (background, accent) and a motif (circle, stripes, triangle, ...); a poster's
background comes from its first genre, its large motif from the first genre and smaller motifs from the next
two, and the title seeds small variations (positions, sizes, a title band). A user's genre taste is therefore
visible in their history images. Drawing is pure PIL on integer coordinates at 4x the size, then a box
downscale: the same metadata gives the same bytes on every machine. Genre names outside MovieLens' list get a
palette and motif picked by a stable hash of the name.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

MOTIFS = ("circle", "square", "triangle", "hstripes", "vstripes", "diagonal", "ring", "cross", "diamond", "dots")

# genre -> (background RGB, accent RGB, motif)
GENRE_STYLES: dict[str, tuple[tuple[int, int, int], tuple[int, int, int], str]] = {
    "Action": ((150, 20, 20), (255, 200, 0), "diagonal"),
    "Adventure": ((30, 100, 40), (240, 220, 120), "triangle"),
    "Animation": ((250, 200, 40), (40, 120, 250), "dots"),
    "Children": ((120, 220, 250), (250, 80, 160), "circle"),
    "Comedy": ((255, 230, 80), (230, 60, 40), "ring"),
    "Crime": ((40, 40, 50), (200, 30, 30), "vstripes"),
    "Documentary": ((200, 200, 190), (60, 60, 60), "square"),
    "Drama": ((70, 40, 110), (230, 200, 160), "hstripes"),
    "Fantasy": ((110, 40, 160), (180, 255, 200), "diamond"),
    "Film-Noir": ((15, 15, 15), (230, 230, 230), "vstripes"),
    "Horror": ((10, 10, 10), (180, 0, 0), "cross"),
    "IMAX": ((0, 60, 140), (255, 255, 255), "square"),
    "Musical": ((240, 120, 200), (255, 250, 200), "dots"),
    "Mystery": ((20, 50, 70), (120, 200, 200), "ring"),
    "Romance": ((250, 150, 170), (200, 0, 60), "circle"),
    "Sci-Fi": ((10, 20, 60), (0, 255, 220), "diamond"),
    "Thriller": ((60, 60, 70), (255, 120, 0), "diagonal"),
    "War": ((90, 90, 50), (200, 180, 120), "cross"),
    "Western": ((190, 110, 50), (90, 40, 10), "triangle"),
}
# MovieLens 100K / 1M spellings
GENRE_STYLES["Children's"] = GENRE_STYLES["Children"]
SCALE = 4


def _digest(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8")).digest()


def genre_style(genre: str) -> tuple[tuple[int, int, int], tuple[int, int, int], str]:
    """The palette and motif of a genre; unknown names get a stable hash-derived one."""
    if genre in GENRE_STYLES:
        return GENRE_STYLES[genre]
    d = _digest("genre:" + genre)
    return (d[0], d[1], d[2]), (255 - d[0], 255 - d[1], d[3]), MOTIFS[d[4] % len(MOTIFS)]


def _draw_motif(draw, motif: str, box: tuple[int, int, int, int], color: tuple[int, int, int]) -> None:
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    cx, cy = (x0 + x1) // 2, (y0 + y1) // 2
    if motif == "circle":
        draw.ellipse(box, fill=color)
    elif motif == "square":
        draw.rectangle((x0 + w // 6, y0 + h // 6, x1 - w // 6, y1 - h // 6), fill=color)
    elif motif == "triangle":
        draw.polygon([(cx, y0), (x1, y1), (x0, y1)], fill=color)
    elif motif == "hstripes":
        step = max(2, h // 4)
        for y in range(y0, y1, step * 2):
            draw.rectangle((x0, y, x1, min(y1, y + step - 1)), fill=color)
    elif motif == "vstripes":
        step = max(2, w // 4)
        for x in range(x0, x1, step * 2):
            draw.rectangle((x, y0, min(x1, x + step - 1), y1), fill=color)
    elif motif == "diagonal":
        width = max(2, w // 5)
        for off in range(-w, w, width * 3):
            draw.polygon([(x0 + off, y1), (x0 + off + width, y1), (x1 + off + width, y0), (x1 + off, y0)], fill=color)
    elif motif == "ring":
        draw.ellipse(box, outline=color, width=max(2, w // 6))
    elif motif == "cross":
        t = max(2, w // 6)
        draw.rectangle((cx - t, y0, cx + t, y1), fill=color)
        draw.rectangle((x0, cy - t, x1, cy + t), fill=color)
    elif motif == "diamond":
        draw.polygon([(cx, y0), (x1, cy), (cx, y1), (x0, cy)], fill=color)
    elif motif == "dots":
        r = max(2, w // 8)
        for fx, fy in ((1, 1), (3, 1), (2, 2), (1, 3), (3, 3)):
            px, py = x0 + fx * w // 4, y0 + fy * h // 4
            draw.ellipse((px - r, py - r, px + r, py + r), fill=color)


def render_poster(title: str, genres: Sequence[str], size: int = 32) -> np.ndarray:
    """(size, size, 3) uint8 poster of one item; identical bytes for identical (title, genres, size)."""
    from PIL import Image, ImageDraw

    genres = [g for g in genres if g and not g.startswith("(")] or ["(none)"]
    big = size * SCALE
    seed = _digest("title:" + title)
    bg, accent, motif = genre_style(genres[0])
    image = Image.new("RGB", (big, big), bg)
    draw = ImageDraw.Draw(image)
    # a darker lower half of the background: the same palette, a poster-like gradient band
    draw.rectangle((0, big * 2 // 3, big, big), fill=tuple(int(c * 0.6) for c in bg))
    # the first genre's large motif, jittered and scaled by the title
    jitter = big // 10
    dx, dy = seed[0] % (2 * jitter + 1) - jitter, seed[1] % (2 * jitter + 1) - jitter
    half = big * (28 + seed[2] % 9) // 100
    cx, cy = big // 2 + dx, big * 2 // 5 + dy
    _draw_motif(draw, motif, (cx - half, cy - half, cx + half, cy + half), accent)
    # the next genres' small motifs in two corners chosen by the title
    corners = [(0, 0), (1, 0), (0, 1), (1, 1)]
    start = seed[3] % 4
    for k, genre in enumerate(genres[1:3]):
        _, sub_accent, sub_motif = genre_style(genre)
        gx, gy = corners[(start + k * 2) % 4]
        s = big // 5
        x0 = big // 20 + gx * (big - s - big // 10)
        y0 = big // 20 + gy * (big * 2 // 3 - s - big // 10)
        _draw_motif(draw, sub_motif, (x0, y0, x0 + s, y0 + s), sub_accent)
    # a title band: light bar with dashes whose lengths follow the title's bytes
    band_top = big * 4 // 5
    draw.rectangle((big // 10, band_top, big - big // 10, band_top + big // 10), fill=(235, 235, 225))
    x = big // 8
    for byte in seed[4:10]:
        length = big // 24 + byte % (big // 12)
        if x + length > big - big // 8:
            break
        draw.rectangle((x, band_top + big // 40, x + length, band_top + big // 14), fill=(30, 30, 30))
        x += length + big // 32
    small = image.resize((size, size), Image.Resampling.BOX)
    return np.asarray(small, dtype=np.uint8)


def render_catalogue(titles: Sequence[str], genres: Sequence[Sequence[str]], size: int) -> np.ndarray:
    """(n_items, size, size, 3) uint8 posters, row = dense item id."""
    out = np.empty((len(titles), size, size, 3), dtype=np.uint8)
    for i, (title, item_genres) in enumerate(zip(titles, genres, strict=True)):
        out[i] = render_poster(title, item_genres, size)
    return out
