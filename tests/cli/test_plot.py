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


@pytest.mark.parametrize(
    "kind, with_points",
    [
        (metrics.PROBABILITY, True),
        (metrics.MARGIN, True),
        (metrics.MARGIN, False),
        (metrics.HINGE, True),
        (metrics.MULTICLASS, False),
        (metrics.REGRESSION, False),
        (metrics.REGRESSION, True),
    ],
)
def test_every_kind_is_drawn(tmp_path, kind, with_points):
    rng = np.random.default_rng(8)
    labels = rng.integers(0, 2, 300).astype(np.uint8)
    scores = {
        metrics.MARGIN: labels * 2.0 - 1 + rng.standard_normal(300),
        metrics.HINGE: labels.copy(),
        metrics.REGRESSION: labels + rng.random(300),
        metrics.MULTICLASS: labels.copy(),
    }.get(kind, rng.random(300))
    arrays = plot.arrays_for(
        kind,
        scores,
        labels,
        rng.integers(0, 101, (300, 2)).astype(float) if with_points else None,
        confusion={"counts": [[100, 50], [20, 130]]} if kind in (metrics.HINGE, metrics.MULTICLASS) else None,
    )
    path = plot.render(
        tmp_path / "plot.png", kind, arrays, title=kind, metrics={"accuracy": 0.5}, classes=["no", r"$\notasymbol$"]
    )  # names as written, not mathtext
    assert path.read_bytes()[:4] == b"\x89PNG"


def _binary_figure(rows: int, classes=("malignant", "benign")):
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 2, rows).astype(np.uint8)
    scores = np.clip(labels * 0.5 + rng.random(rows) * 0.5, 0, 1)
    arrays = plot.arrays_for(metrics.PROBABILITY, scores, labels, rng.integers(0, 101, (rows, 2)).astype(float))
    return plot.figure_for(
        metrics.PROBABILITY, arrays, title="cancer", metrics={"auc": 0.9}, classes=list(classes) if classes else None
    )


def test_the_binary_picture_fits_a_screen_and_names_the_classes_and_the_positive_one():
    """Issue 27, item 8: it was a 2680 x 560 strip whose legend said 'label 0 / label 1'."""
    figure = _binary_figure(77)
    width, height = figure.get_size_inches() * 100  # render saves at 100 dpi
    assert width <= 1600 and height <= 1000 and width / height < 2
    legends = [text.get_text() for ax in figure.axes if ax.get_legend() for text in ax.get_legend().get_texts()]
    assert "malignant" in legends and "benign (positive)" in legends
    assert "positive class: benign (label 1)" in figure._suptitle.get_text()
    unnamed = [
        text.get_text()
        for ax in _binary_figure(77, classes=None).axes
        if ax.get_legend()
        for text in ax.get_legend().get_texts()
    ]
    assert "class 1 (positive)" in unnamed and not any(text.startswith("label ") for text in unnamed)


def test_calibration_points_stand_for_enough_rows():
    rng = np.random.default_rng(4)
    scores = rng.random(77)
    labels = (rng.random(77) < scores).astype(np.uint8)
    predicted, observed, counts = plot.calibration_by_count(labels, scores)
    assert counts.sum() == 77 and counts.min() >= plot.CALIBRATION_MIN_ROWS
    assert predicted.tolist() == sorted(predicted.tolist())
    _, _, many = plot.calibration_by_count((rng.random(5000) < 0.5).astype(np.uint8), rng.random(5000))
    assert many.size == plot.CALIBRATION_BINS
    title = next(ax.get_title() for ax in _binary_figure(77).axes if ax.get_title().startswith("Calibration"))
    assert title == "Calibration (2 bins, ~38 rows each)"


def test_regression_dots_are_readable_at_50_rows_and_a_density_at_many():
    from matplotlib.collections import PathCollection, PolyCollection

    rng = np.random.default_rng(5)

    def drawn(rows):
        labels = rng.random(rows) * 300
        figure = plot.figure_for(
            metrics.REGRESSION, {"scores": labels + rng.standard_normal(rows) * 30, "labels": labels}, title="diabetes"
        )
        return figure.axes[0].collections

    (dots,) = [c for c in drawn(50) if isinstance(c, PathCollection)]
    assert dots.get_sizes()[0] >= 20 and dots.get_alpha() >= 0.5  # was s=2, alpha=0.3: pale specks
    many = drawn(plot.SCATTER_MAX_ROWS + 1)
    assert any(isinstance(c, PolyCollection) for c in many)
    assert not any(isinstance(c, PathCollection) and len(c.get_offsets()) > 1000 for c in many)
