"""What the KFP UI shows of a step: its scalar metrics as a `dsl.Metrics` output, a ROC curve as a
`dsl.ClassificationMetrics` output, and its Markdown report as a self-contained `dsl.HTML` page (the images the
report shows embedded as data URIs, so the page renders without MLflow or the artifact store beside it).

Called by the KFP wrappers after the step's body; kfp and the standard library at import time.
"""

from __future__ import annotations

import base64
import json
import math
import mimetypes
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

IMAGE_SRC = re.compile(r'(<img\s[^>]*?src=")([^"]+)(")')
STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:72rem;margin:2rem auto;padding:0 1rem;line-height:1.45}"
    "table{border-collapse:collapse;margin:1rem 0}th,td{border:1px solid #ccc;padding:.25rem .5rem;text-align:right}"
    "th:first-child,td:first-child{text-align:left}img{max-width:100%}code{background:#f4f4f4;padding:0 .2rem}"
)


def seal(artifact: Any) -> None:
    """Write a metadata-only artifact's metadata to its file as JSON. KFP creates no file for Metrics outputs, and
    kfp.local's cache treats an entry whose artifact file is missing as a miss: without a file the step never hits."""
    target = Path(artifact.path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(artifact.metadata, sort_keys=True), encoding="utf-8")


def log_scalars(metrics: Any, values: Mapping[str, Any]) -> dict[str, float]:
    """Log every finite number of `values` (booleans and text skipped) on a dsl.Metrics output; returns them."""
    logged = {}
    for key, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            continue
        metrics.log_metric(str(key), float(value))
        logged[str(key)] = float(value)
    seal(metrics)
    return logged


def log_roc(output: Any, roc: Mapping[str, list[float]]) -> None:
    """A ROC curve {fpr, tpr, threshold} (components/recsys/metrics.py roc_curve) on a ClassificationMetrics output;
    an empty `roc` logs nothing (the output is still written)."""
    if roc:
        output.log_roc_curve(list(roc["fpr"]), list(roc["tpr"]), list(roc["threshold"]))
    seal(output)


def _data_uri(path: Path) -> str:
    kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return f"data:{kind};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"


def render_html(
    markdown_text: str, title: str, image_dirs: Iterable[str | Path] = (), extra_images: Iterable[str | Path] = ()
) -> str:
    """The report as one HTML page: Markdown with tables rendered, every relative image found in `image_dirs`
    embedded, and `extra_images` (files) appended as figures."""
    from html import escape

    from markdown_it import MarkdownIt

    body = MarkdownIt("commonmark", {"html": False}).enable("table").render(markdown_text)
    folders = [Path(d) for d in image_dirs]

    def embed(match: re.Match) -> str:
        source = match.group(2)
        if ":" not in source:
            for folder in folders:
                if (folder / source).is_file():
                    return match.group(1) + _data_uri(folder / source) + match.group(3)
        return match.group(0)

    body = IMAGE_SRC.sub(embed, body)
    for image in (Path(p) for p in extra_images):
        if image.is_file():
            name = escape(image.name)
            body += f'<figure><img src="{_data_uri(image)}" alt="{name}"><figcaption>{name}</figcaption></figure>\n'
    return (
        f'<!doctype html>\n<html><head><meta charset="utf-8"><title>{escape(title)}</title>'
        f"<style>{STYLE}</style></head>\n<body>\n{body}</body></html>\n"
    )


def write_html(
    markdown_path: str | Path,
    html_path: str | Path,
    title: str,
    image_dirs: Iterable[str | Path] = (),
    extra_images: Iterable[str | Path] = (),
) -> None:
    """render_html of the Markdown file at `markdown_path`, written to `html_path`."""
    text = Path(markdown_path).read_text(encoding="utf-8")
    target = Path(html_path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render_html(text, title, image_dirs, extra_images), encoding="utf-8")
