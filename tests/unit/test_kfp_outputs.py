"""The KFP UI's view of a step (components/common/kfp_outputs.py) and the ROC curve it shows
(components/recsys/metrics.py roc_curve)."""

from __future__ import annotations

import base64
from pathlib import Path

import numpy as np
import pytest
from kfp import dsl

from components.common.kfp_outputs import log_roc, log_scalars, render_html
from components.recsys.metrics import auc, roc_curve

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


def test_roc_curve_by_hand() -> None:
    # scores 0.9(+) 0.8(-) 0.8(+) 0.3(-): thresholds inf, 0.9, 0.8, 0.3
    roc = roc_curve([1, 0, 1, 0], [0.9, 0.8, 0.8, 0.3])
    assert roc["fpr"] == [0.0, 0.0, 0.5, 1.0]
    assert roc["tpr"] == [0.0, 0.5, 1.0, 1.0]
    assert roc["threshold"][1:] == [0.9, 0.8, 0.3] and roc["threshold"][0] > 0.9
    area = np.trapezoid(roc["tpr"], roc["fpr"])
    assert area == pytest.approx(auc([1, 0, 1, 0], [0.9, 0.8, 0.8, 0.3])) == 0.875


def test_roc_curve_is_thinned_with_its_ends_and_keeps_the_area() -> None:
    rng = np.random.default_rng(0)
    labels = rng.random(5000) < 0.3
    scores = labels * 0.5 + rng.random(5000)
    roc = roc_curve(labels, scores, max_points=101)
    assert len(roc["fpr"]) == 101 and (roc["fpr"][0], roc["tpr"][0]) == (0.0, 0.0)
    assert (roc["fpr"][-1], roc["tpr"][-1]) == (1.0, 1.0)
    assert np.all(np.diff(roc["fpr"]) >= 0) and np.all(np.diff(roc["tpr"]) >= 0)
    assert np.trapezoid(roc["tpr"], roc["fpr"]) == pytest.approx(auc(labels, scores), abs=2e-3)
    with pytest.raises(ValueError, match="both positive and negative"):
        roc_curve([1, 1], [0.2, 0.4])


def test_scalars_and_roc_land_in_the_artifacts_metadata_and_files(tmp_path: Path) -> None:
    import json

    metrics = dsl.Metrics(name="metrics", uri=str(tmp_path / "task" / "metrics"), metadata={})
    logged = log_scalars(metrics, {"hr_10": 0.5, "users": 60, "model": "sft", "flag": True, "gap": float("nan")})
    assert logged == {"hr_10": 0.5, "users": 60.0} and metrics.metadata == logged
    # a file at the artifact's path: kfp.local's cache counts an entry whose file is missing as a miss
    assert json.loads((tmp_path / "task" / "metrics").read_text()) == logged
    roc = dsl.ClassificationMetrics(name="roc", uri=str(tmp_path / "task" / "roc"), metadata={})
    log_roc(roc, roc_curve([1, 0, 1, 0], [0.9, 0.8, 0.8, 0.3]))
    rows = roc.metadata["confidenceMetrics"]
    assert [r["falsePositiveRate"] for r in rows] == [0.0, 0.0, 0.5, 1.0]
    assert [r["recall"] for r in rows] == [0.0, 0.5, 1.0, 1.0]
    assert json.loads((tmp_path / "task" / "roc").read_text()) == roc.metadata
    empty = dsl.ClassificationMetrics(name="roc", uri=str(tmp_path / "other" / "roc"), metadata={})
    log_roc(empty, {})
    assert empty.metadata == {} and (tmp_path / "other" / "roc").read_text() == "{}"


def test_html_report_embeds_its_images_and_renders_tables(tmp_path: Path) -> None:
    (tmp_path / "grid.png").write_bytes(PNG)
    extra = tmp_path / "curves.png"
    extra.write_bytes(PNG)
    text = "# Title\n\n| model | hr |\n|---|---|\n| sft | 0.5 |\n\n![grid](grid.png) ![web](https://x/y.png)\n<script>x</script>\n"
    html = render_html(text, "a <report>", image_dirs=[tmp_path], extra_images=[extra, tmp_path / "missing.png"])
    assert "<title>a &lt;report&gt;</title>" in html and "<h1>Title</h1>" in html
    assert "<td>sft</td>" in html and "<th>model</th>" in html
    embedded = "data:image/png;base64," + base64.b64encode(PNG).decode()
    assert html.count(embedded) == 2 and 'src="grid.png"' not in html  # the grid and the extra figure
    assert 'src="https://x/y.png"' in html  # an absolute link stays
    assert "<script>" not in html  # raw HTML in the Markdown is escaped
