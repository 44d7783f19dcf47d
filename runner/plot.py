"""The picture of a run, by what its objective predicts: binary, ROC and precision-recall curves,
calibration (probabilities only) and the scores' histogram per class; classes, the confusion
matrix; regression, predicted against actual and the residuals. For the generator's data also
the mean prediction over its (x, y) plane.

matplotlib is imported when drawing only, with the Agg backend (no display needed). For a
local run, `Painter` draws in a process of its own, started with the run: matplotlib loads
there (about 0.3 s) on the other core while the emulator deploys the stack and runs the
pipeline, and the picture costs only its drawing at the end.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

from components import PROJECT_DIR
from runner.metrics import HINGE, MARGIN, MULTICLASS, PROBABILITY, REGRESSION

DRAW_SECONDS = 120.0

CALIBRATION_BINS = 10
CALIBRATION_MIN_ROWS = 30  # per point of the calibration curve: fewer rows make it zigzag
GRID = 101  # the synthetic features are integers 0..100
# Predicted against actual: every row as a dot up to this many rows, a density (hexagons) beyond.
SCATTER_MAX_ROWS = 20_000
# At most three panels a row, each about 4.8 x 4.4 inches: 1520 x 1000 pixels at most (100 dpi).
PANELS_PER_ROW, PANEL_INCHES = 3, (4.8, 4.4)


def roc_curve(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """False and true positive rates at every distinct threshold, from (0, 0) to (1, 1)."""
    order = np.argsort(-scores, kind="stable")
    ranked, hits = scores[order], labels[order].astype(np.float64)
    last_of_tie = np.r_[np.flatnonzero(np.diff(ranked)), ranked.size - 1]
    true_positives = np.cumsum(hits)[last_of_tie]
    false_positives = (last_of_tie + 1) - true_positives
    positives, negatives = hits.sum(), hits.size - hits.sum()
    return (np.r_[0.0, false_positives / max(negatives, 1)], np.r_[0.0, true_positives / max(positives, 1)])


def calibration(labels: np.ndarray, scores: np.ndarray, bins: int = CALIBRATION_BINS):
    """Mean predicted probability, observed positive rate and rows per equal-width bin (empty bins dropped)."""
    which = np.clip((np.clip(scores, 0.0, 1.0) * bins).astype(int), 0, bins - 1)
    counts = np.bincount(which, minlength=bins)
    predicted = np.bincount(which, weights=scores, minlength=bins)
    observed = np.bincount(which, weights=labels.astype(np.float64), minlength=bins)
    used = counts > 0
    return predicted[used] / counts[used], observed[used] / counts[used], counts[used]


def calibration_by_count(
    labels: np.ndarray, scores: np.ndarray, bins: int = CALIBRATION_BINS, min_rows: int = CALIBRATION_MIN_ROWS
):
    """As `calibration`, over bins of equal row counts (the rows sorted by score), as few as it
    takes for each to hold at least `min_rows` rows (at least one bin, at most `bins`)."""
    count = max(1, min(bins, scores.size // min_rows))
    order = np.argsort(scores, kind="stable")
    groups = [group for group in np.array_split(order, count) if group.size]
    return (
        np.array([scores[group].mean() for group in groups]),
        np.array([labels[group].astype(np.float64).mean() for group in groups]),
        np.array([group.size for group in groups]),
    )


def probability_grid(points: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """The mean prediction of each integer (x, y) in [0, 100]^2 (NaN where no row fell): an
    image draws in a fraction of the time of a scatter of every row, and averages them all."""
    cells = np.rint(points[:, :2]).astype(np.int64)
    inside = ((cells >= 0) & (cells < GRID)).all(axis=1)
    index = cells[inside, 1] * GRID + cells[inside, 0]
    total = np.bincount(index, weights=scores[inside], minlength=GRID * GRID)
    count = np.bincount(index, minlength=GRID * GRID)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (total / count).reshape(GRID, GRID)


def precision_recall_curve(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Recall and precision at every distinct threshold, from (0, 1) (as scikit-learn starts it)."""
    order = np.argsort(-scores, kind="stable")
    ranked, hits = scores[order], labels[order].astype(np.float64)
    last_of_tie = np.r_[np.flatnonzero(np.diff(ranked)), ranked.size - 1]
    true_positives = np.cumsum(hits)[last_of_tie]
    return (np.r_[0.0, true_positives / max(hits.sum(), 1)], np.r_[1.0, true_positives / (last_of_tie + 1)])


def _short_count(value: float, _position=None) -> str:
    """1, 10, 100, 1k, ... 1M, ... for a log axis of row counts."""
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if value >= scale:
            return f"{value / scale:g}{suffix}"
    return f"{value:g}"


def _import_matplotlib() -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.backends import backend_agg  # noqa: F401
    from matplotlib.figure import Figure  # noqa: F401


def arrays_for(
    kind: str,
    predictions: np.ndarray,
    labels: np.ndarray,
    points: np.ndarray | None,
    *,
    bracketed: bool = False,
    confusion: dict | None = None,
) -> dict[str, np.ndarray]:
    """What `render` draws for `kind`, from the (sampled) rows as runner.metrics kept them and the
    confusion matrix of all rows; `points` (x, y) for the generator's data, else None."""
    scores = predictions[:, 0] if bracketed else predictions  # multi:softprob: the predicted class
    arrays = {"scores": scores, "labels": labels}
    if confusion is not None:
        arrays["confusion"] = np.asarray(confusion["counts"], dtype=np.int64)
    if points is not None:
        arrays["points"] = points
    return arrays


def render(
    path: Path,
    kind: str,
    arrays: dict[str, np.ndarray],
    *,
    title: str,
    metrics: dict | None = None,
    classes: list[str] | None = None,
) -> Path:
    """Write a PNG with the panels of `kind` (see `arrays_for`)."""
    figure_for(kind, arrays, title=title, metrics=metrics, classes=classes).savefig(path, dpi=100)
    return path


def figure_for(
    kind: str,
    arrays: dict[str, np.ndarray],
    *,
    title: str,
    metrics: dict | None = None,
    classes: list[str] | None = None,
):
    """The matplotlib Figure `render` saves: the panels of `kind` in rows of at most three."""
    _import_matplotlib()
    from matplotlib.figure import Figure

    metrics = metrics or {}
    scores, labels, points = arrays["scores"], arrays["labels"], arrays.get("points")
    panels = {
        PROBABILITY: [_roc, _precision_recall, _calibration, _histograms],
        MARGIN: [_roc, _precision_recall, _histograms],
        HINGE: [_confusion],
        MULTICLASS: [_confusion] if "confusion" in arrays else [],
        REGRESSION: [_predicted_vs_actual, _residuals],
    }[kind]
    panels = panels + ([_plane] if points is not None else [])
    # Four panels as 2 x 2, five as 2 x 3: a layout that fits a screen, not a strip.
    columns = 2 if len(panels) == 4 else min(PANELS_PER_ROW, max(1, len(panels)))
    rows = -(-len(panels) // columns)
    width = max(7.0, PANEL_INCHES[0] * columns + 0.8)
    height = PANEL_INCHES[1] * rows + 1.0
    # Fixed margins: a constrained layout would take half of the drawing time.
    figure = Figure(figsize=(width, height))
    figure.subplots_adjust(
        left=0.9 / width, right=1 - 0.9 / width, bottom=0.7 / height, top=1 - 1.0 / height, wspace=0.55, hspace=0.45
    )
    axes = figure.subplots(rows, columns, squeeze=False).ravel()
    for panel, ax in zip(panels, axes):
        panel(
            figure,
            ax,
            kind=kind,
            scores=scores,
            labels=labels,
            points=points,
            metrics=metrics,
            confusion=arrays.get("confusion"),
            classes=classes,
        )
    for ax in axes[len(panels) :]:
        ax.set_visible(False)
    shown = "   ".join(f"{name} {value:.4f}" for name, value in metrics.items() if value is not None)
    positive = f"   positive class: {_class_names(classes)[1]} (label 1)" if kind in (PROBABILITY, MARGIN) else ""
    figure.suptitle(f"{title}\n{shown}{positive}")
    return figure


def _class_names(classes: list[str] | None) -> list[str]:
    """The binary classes' names as shown: the file's own, else 'class 0' and 'class 1'."""
    return [_plain(name) for name in classes] if classes and len(classes) == 2 else ["class 0", "class 1"]


def _roc(figure, ax, *, scores, labels, metrics, **_):
    fpr, tpr = roc_curve(labels, scores)
    auc = metrics.get("auc")
    ax.plot(fpr, tpr, color="tab:blue", label=f"model (AUC {auc:.4f})" if auc is not None else "model")
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1, label="chance")
    ax.set(
        title="ROC curve",
        xlabel="false positive rate",
        ylabel="true positive rate",
        xlim=(0, 1),
        ylim=(0, 1.01),
        aspect="equal",
    )
    ax.legend(loc="lower right")


def _precision_recall(figure, ax, *, scores, labels, **_):
    recall, precision = precision_recall_curve(labels, scores)
    ax.plot(recall, precision, color="tab:blue", label="model")
    base = float(labels.mean()) if labels.size else 0.0
    ax.axhline(base, color="grey", linestyle="--", linewidth=1, label=f"chance ({base:.3f})")
    ax.set(title="Precision-recall", xlabel="recall", ylabel="precision", xlim=(0, 1), ylim=(0, 1.01), aspect="equal")
    ax.legend(loc="lower left")


def _calibration(figure, ax, *, scores, labels, **_):
    from matplotlib import ticker

    predicted, observed, counts = calibration_by_count(labels, scores)
    rows_axes = ax.twinx()  # how many rows each point stands for, behind the curve
    rows_axes.hist(np.clip(scores, 0, 1), bins=CALIBRATION_BINS, range=(0, 1), color="lightgrey", log=True)
    # The bars stay in the lower part; at least two decades, so that the axis is labelled.
    rows_axes.set_ylim(0.8, max(counts.max(initial=1) ** 1.6 * 2, 200))
    rows_axes.set_ylabel("rows per bin (log scale, grey bars)", color="grey")
    # Short plain labels at the decades: the default ones go through mathtext, a fifth of the drawing time.
    rows_axes.yaxis.set_major_formatter(ticker.FuncFormatter(_short_count))
    rows_axes.yaxis.set_minor_locator(ticker.NullLocator())
    ax.set_zorder(rows_axes.get_zorder() + 1)
    ax.patch.set_visible(False)
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1, label="perfect")
    ax.plot(predicted, observed, marker="o", color="tab:orange", label="model")
    each = f"~{int(counts.mean()):,} rows each" if counts.size else "no rows"
    ax.set(
        title=f"Calibration ({counts.size} bins, {each})",
        xlabel="mean predicted probability",
        ylabel="observed positive rate",
        xlim=(0, 1),
        ylim=(0, 1.01),
    )
    ax.legend(loc="upper left")


def _plain(text: str) -> str:
    """A class name as written: "$" would start matplotlib's mathtext."""
    return text.replace("$", r"\$")


def _histograms(figure, ax, *, kind, scores, labels, classes, **_):
    from matplotlib import ticker

    low, high = (0.0, 1.0) if kind == PROBABILITY else (float(scores.min()), float(scores.max()))
    names = _class_names(classes)
    for label, color in ((0, "tab:blue"), (1, "tab:red")):
        ax.hist(
            scores[labels == label],
            bins=50,
            range=(low, high if high > low else low + 1),
            histtype="step",
            color=color,
            log=True,
            label=f"{names[label]} (positive)" if label == 1 else names[label],
        )
    ax.set(
        title="Scores per true class",
        xlabel="predicted probability" if kind == PROBABILITY else "margin",
        ylabel="rows (log scale)",
    )
    ax.yaxis.set_major_formatter(ticker.FuncFormatter(_short_count))
    ax.yaxis.set_minor_formatter(ticker.NullFormatter())
    ax.legend(loc="upper center")


def _confusion(figure, ax, *, confusion, classes, **_):
    size = confusion.shape[0]
    names = [_plain(name if len(name) <= 14 else name[:13] + "…") for name in (classes or map(str, range(size)))]
    totals = confusion.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        shares = np.where(totals > 0, confusion / np.maximum(totals, 1), np.nan)
    drawn = ax.imshow(shares, cmap="Blues", vmin=0, vmax=1, interpolation="nearest")
    if size <= 12:
        for (row, column), count in np.ndenumerate(confusion):
            ax.text(
                column,
                row,
                f"{count:,}",
                ha="center",
                va="center",
                fontsize=8,
                color="white" if shares[row, column] > 0.5 else "black",
            )
    if size <= 30:
        slanted = size > 4 or max(map(len, names)) > 6
        ax.set_xticks(range(size), names, rotation=30 if slanted else 0, ha="right" if slanted else "center")
        ax.set_yticks(range(size), names)
    ax.set(title="Confusion matrix (all rows)", xlabel="predicted class", ylabel="true class")
    figure.colorbar(drawn, ax=ax, label="share of the true class's rows", shrink=0.8)


def _dots(ax, x: np.ndarray, y: np.ndarray) -> None:
    """Every row as a dot, sized and shaded for how many there are (50 rows: large and solid), or
    beyond SCATTER_MAX_ROWS a density of hexagons (5 million dots would be one blot)."""
    if x.size > SCATTER_MAX_ROWS:
        drawn = ax.hexbin(x, y, gridsize=70, bins="log", mincnt=1, cmap="Blues", linewidths=0)
        ax.figure.colorbar(drawn, ax=ax, label="rows (log scale)", shrink=0.8)
        return
    size = float(np.clip(4000 / max(x.size, 1), 3, 36))
    alpha = float(np.clip(300 / max(x.size, 1) ** 0.75, 0.25, 0.9))
    ax.scatter(x, y, s=size, alpha=alpha, color="tab:blue", linewidths=0, rasterized=True)


def _predicted_vs_actual(figure, ax, *, scores, labels, **_):
    _dots(ax, labels, scores)
    low = float(min(labels.min(), scores.min()))
    high = float(max(labels.max(), scores.max()))
    ax.plot([low, high], [low, high], color="grey", linestyle="--", linewidth=1, label="predicted = actual")
    ax.set(title="Predicted against actual", xlabel="actual (label)", ylabel="predicted")
    ax.legend(loc="upper left")


def _residuals(figure, ax, *, scores, labels, **_):
    _dots(ax, scores, scores - labels)
    ax.axhline(0, color="grey", linestyle="--", linewidth=1)
    ax.set(title="Residuals", xlabel="predicted", ylabel="predicted - actual")


def _plane(figure, ax, *, kind, scores, points, classes=None, **_):
    probability = kind == PROBABILITY
    grid = probability_grid(points, scores.astype(np.float64))
    if probability:
        low, high = 0.0, 1.0
    elif kind == MARGIN:  # white at 0, the decision boundary
        high = float(np.nanmax(np.abs(grid), initial=1))
        low = -high
    else:
        low, high = float(np.nanmin(grid, initial=0)), float(np.nanmax(grid, initial=1))
    drawn = ax.imshow(
        grid,
        origin="lower",
        cmap="coolwarm",
        vmin=low,
        vmax=high if high > low else low + 1,
        extent=(-0.5, GRID - 0.5, -0.5, GRID - 0.5),
        interpolation="nearest",
    )
    x = np.linspace(0, 100, 2)
    ax.plot(x, 3 * x + 5, color="black", linewidth=1.5, label="true boundary y = 3x + 5")
    what = {PROBABILITY: "probability", MARGIN: "margin", HINGE: "class", MULTICLASS: "class"}.get(kind, "value")
    ax.set(
        title=f"Mean predicted {what}\nper (x, y)",
        xlabel="x",
        ylabel="y",
        xlim=(-1, 101),
        ylim=(-1, 101),
        aspect="equal",
    )
    ax.legend(loc="lower right")
    figure.colorbar(
        drawn, ax=ax, label=f"predicted P({_class_names(classes)[1]})" if probability else f"mean predicted {what}"
    )


def loaded() -> bool:
    """matplotlib is loaded in this process already (it drew before): drawing here costs less
    than starting a `Painter`."""
    return "matplotlib.figure" in sys.modules


class PlotCrashed(Exception):
    """The painter's process failed with something other than a drawing problem (a bug):
    raised with its traceback, as `render` would have raised it here."""


class Painter:
    """`render` in a separate process, started now so that matplotlib loads meanwhile.

    Use once, then `close()` (a with-block does it). When the process cannot be started,
    `render` draws here.
    """

    def __init__(self) -> None:
        self._process: subprocess.Popen | None = None
        self._drawing: subprocess.Popen | None = None  # started, not yet waited for
        try:
            # A session of its own: a Ctrl-C at the terminal is run.py's to handle (it ends this
            # process). -P: the working directory is not on its module path.
            self._process = subprocess.Popen(
                [
                    sys.executable,
                    "-P",
                    "-c",
                    f"import sys; sys.path.insert(0, {str(PROJECT_DIR)!r}); from runner.plot import serve; serve()",
                ],
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                start_new_session=True,
            )
        except OSError:
            pass

    def __enter__(self) -> Painter:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def render(
        self,
        path: Path,
        kind: str,
        arrays: dict[str, np.ndarray],
        *,
        title: str,
        metrics: dict | None = None,
        classes: list[str] | None = None,
    ) -> Path:
        """As `render`: RuntimeError for what cannot be drawn, with the message `render` gives."""
        return self.start(path, kind, arrays, title=title, metrics=metrics, classes=classes)()

    def start(
        self,
        path: Path,
        kind: str,
        arrays: dict[str, np.ndarray],
        *,
        title: str,
        metrics: dict | None = None,
        classes: list[str] | None = None,
    ) -> Callable[[], Path]:
        """Hand the job over and return at once, so that the caller's other work overlaps the
        drawing: the returned call waits for it, and returns `path` or raises as `render` does.
        When the process could not be started, this draws here, and raises here."""
        process, self._process = self._process, None
        if process is None:
            drawn = render(path, kind, arrays, title=title, metrics=metrics, classes=classes)
            return lambda: drawn
        self._drawing = process
        packed = io.BytesIO()
        np.savez(packed, **arrays)
        header = json.dumps(
            {
                "path": str(path),
                "kind": kind,
                "title": title,
                "metrics": metrics,
                "classes": classes,
                "bytes": packed.getbuffer().nbytes,
            }
        )
        try:
            process.stdin.write(header.encode() + b"\n" + packed.getvalue())
            process.stdin.flush()
        except BrokenPipeError:  # it died before reading: its exit status says why, below
            pass

        def finish() -> Path:
            try:
                _, error = process.communicate(timeout=DRAW_SECONDS)
            except subprocess.TimeoutExpired:
                raise RuntimeError(f"drawing took over {DRAW_SECONDS:.0f} s") from None
            finally:
                self._drawing = None
                _end(process)  # also on Ctrl-C while it drew
            message = error.decode(errors="replace")
            if process.returncode == 0:
                sys.stderr.write(message)  # matplotlib's own warnings
                return path
            if process.returncode == _CANNOT_DRAW:
                raise RuntimeError(message.strip())
            if process.returncode < 0:  # killed from outside (the OOM killer, say): no plot, the rest stays
                raise RuntimeError(f"the plotting process was killed by signal {-process.returncode}")
            raise PlotCrashed(message.strip() or f"the plotting process exited {process.returncode}")

        return finish

    def close(self) -> None:
        """End the process if nothing was drawn (the run failed, or was stopped), or if it is still
        drawing what nobody waited for."""
        for process in (self._process, self._drawing):
            if process is not None:
                _end(process)
        self._process = self._drawing = None


_CANNOT_DRAW = 3  # the painter's exit status for ImportError, RuntimeError and ValueError


def _end(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.kill()
        process.wait()
    for pipe in (process.stdin, process.stderr):
        pipe.close()


def serve() -> None:
    """The painter's process: one job from stdin (a JSON header line, then the arrays as .npz, of
    the header's `bytes`: run.py keeps the pipe open while it waits, and closes it then).

    What `render` raises for a drawing problem (ImportError, RuntimeError, ValueError) goes to
    stderr as its message with exit status 3; anything else as a traceback (status 1).
    """
    try:
        _import_matplotlib()
        header = sys.stdin.buffer.readline()
        if not header:
            return
        job = json.loads(header)
        with np.load(io.BytesIO(sys.stdin.buffer.read(job["bytes"]))) as data:
            render(
                Path(job["path"]),
                job["kind"],
                {name: data[name] for name in data.files},
                title=job["title"],
                metrics=job["metrics"],
                classes=job["classes"],
            )
    except (ImportError, RuntimeError, ValueError) as error:
        sys.stderr.write(str(error))
        sys.stderr.flush()
        os._exit(_CANNOT_DRAW)
    sys.stderr.flush()
    os._exit(0)  # the PNG is closed: skip tearing matplotlib down, run.py is waiting for this exit
