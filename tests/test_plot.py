"""The picture by kind of objective (no emulator)."""

import numpy as np
import pytest
from sklearn import metrics as reference

from runner import metrics, plot


def test_precision_recall_points_match_scikit_learn():
    rng = np.random.default_rng(7)
    labels = rng.integers(0, 2, 400).astype(np.uint8)
    scores = np.round(rng.random(400), 1)  # ties
    recall, precision = plot.precision_recall_curve(labels, scores)
    expected_precision, expected_recall, _ = reference.precision_recall_curve(labels, scores)
    # scikit-learn lists them from the lowest threshold up, and ends at (recall 0, precision 1).
    assert recall.tolist() == pytest.approx(expected_recall[::-1].tolist())
    assert precision.tolist() == pytest.approx(expected_precision[::-1].tolist())


@pytest.mark.parametrize("kind, with_points", [
    (metrics.PROBABILITY, True), (metrics.MARGIN, True), (metrics.MARGIN, False), (metrics.HINGE, True),
    (metrics.MULTICLASS, False), (metrics.REGRESSION, False), (metrics.REGRESSION, True),
])
def test_every_kind_is_drawn(tmp_path, kind, with_points):
    rng = np.random.default_rng(8)
    labels = rng.integers(0, 2, 300).astype(np.uint8)
    scores = {metrics.MARGIN: labels * 2.0 - 1 + rng.standard_normal(300), metrics.HINGE: labels.copy(),
              metrics.REGRESSION: labels + rng.random(300), metrics.MULTICLASS: labels.copy()}.get(kind, rng.random(300))
    arrays = plot.arrays_for(kind, scores, labels, rng.integers(0, 101, (300, 2)).astype(float) if with_points else None,
                             confusion={"counts": [[100, 50], [20, 130]]} if kind in (metrics.HINGE, metrics.MULTICLASS) else None)
    path = plot.render(tmp_path / "plot.png", kind, arrays, title=kind, metrics={"accuracy": 0.5},
                       classes=["no", r"$\notasymbol$"])  # names as written, not mathtext
    assert path.read_bytes()[:4] == b"\x89PNG"
