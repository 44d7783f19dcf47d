"""The picture of a run: ROC curve, calibration curve, and the predictions over the (x, y) plane.

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
from pathlib import Path

import numpy as np

PROJECT_DIR = Path(__file__).resolve().parent.parent
DRAW_SECONDS = 120.0

CALIBRATION_BINS = 10
GRID = 101  # the synthetic features are integers 0..100


def roc_curve(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """False and true positive rates at every distinct threshold, from (0, 0) to (1, 1)."""
    order = np.argsort(-scores, kind="stable")
    ranked, hits = scores[order], labels[order].astype(np.float64)
    last_of_tie = np.r_[np.flatnonzero(np.diff(ranked)), ranked.size - 1]
    true_positives = np.cumsum(hits)[last_of_tie]
    false_positives = (last_of_tie + 1) - true_positives
    positives, negatives = hits.sum(), hits.size - hits.sum()
    return (np.r_[0.0, false_positives / max(negatives, 1)],
            np.r_[0.0, true_positives / max(positives, 1)])


def calibration(labels: np.ndarray, scores: np.ndarray, bins: int = CALIBRATION_BINS):
    """Mean predicted probability, observed positive rate and rows per equal-width bin (empty bins dropped)."""
    which = np.clip((np.clip(scores, 0.0, 1.0) * bins).astype(int), 0, bins - 1)
    counts = np.bincount(which, minlength=bins)
    predicted = np.bincount(which, weights=scores, minlength=bins)
    observed = np.bincount(which, weights=labels.astype(np.float64), minlength=bins)
    used = counts > 0
    return predicted[used] / counts[used], observed[used] / counts[used], counts[used]


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


def _short_count(value: float, _position=None) -> str:
    """1, 10, 100, 1k, ... 1M, ... for a log axis of row counts."""
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if value >= scale:
            return f"{value / scale:g}{suffix}"
    return f"{value:g}"


def _import_matplotlib() -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure  # noqa: F401
    from matplotlib.backends import backend_agg  # noqa: F401


def render(path: Path, scores: np.ndarray, labels: np.ndarray, points: np.ndarray, *,
           title: str, metrics: dict | None = None) -> Path:
    """Write a PNG with the three panels; `points` holds the rows' (x, y)."""
    _import_matplotlib()
    from matplotlib import ticker
    from matplotlib.figure import Figure

    metrics = metrics or {}
    # Fixed margins: a constrained layout would take half of the drawing time.
    figure = Figure(figsize=(16, 5.2))
    figure.subplots_adjust(left=0.045, right=0.955, bottom=0.11, top=0.83, wspace=0.38)
    roc_axes, calibration_axes, plane_axes = figure.subplots(1, 3)

    fpr, tpr = roc_curve(labels, scores)
    auc = metrics.get("auc")
    roc_axes.plot(fpr, tpr, color="tab:blue", label=f"model (AUC {auc:.4f})" if auc is not None else "model")
    roc_axes.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1, label="chance")
    roc_axes.set(title="ROC curve", xlabel="false positive rate", ylabel="true positive rate",
                 xlim=(0, 1), ylim=(0, 1.01), aspect="equal")
    roc_axes.legend(loc="lower right")

    predicted, observed, counts = calibration(labels, scores)
    rows_axes = calibration_axes.twinx()  # how many rows each point stands for, behind the curve
    rows_axes.hist(np.clip(scores, 0, 1), bins=CALIBRATION_BINS, range=(0, 1), color="lightgrey", log=True)
    # The bars stay in the lower part; at least two decades, so that the axis is labelled.
    rows_axes.set_ylim(0.8, max(counts.max(initial=1) ** 1.6 * 2, 200))
    rows_axes.set_ylabel("rows per bin (log scale, grey bars)", color="grey")
    # Short plain labels at the decades: the default ones go through mathtext, a fifth of the drawing time.
    rows_axes.yaxis.set_major_formatter(ticker.FuncFormatter(_short_count))
    rows_axes.yaxis.set_minor_locator(ticker.NullLocator())
    calibration_axes.set_zorder(rows_axes.get_zorder() + 1)
    calibration_axes.patch.set_visible(False)
    calibration_axes.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1, label="perfect")
    calibration_axes.plot(predicted, observed, marker="o", color="tab:orange", label="model")
    calibration_axes.set(title=f"Calibration ({CALIBRATION_BINS} bins)",
                         xlabel="mean predicted probability", ylabel="observed positive rate",
                         xlim=(0, 1), ylim=(0, 1.01))
    calibration_axes.legend(loc="upper left")

    drawn = plane_axes.imshow(probability_grid(points, scores), origin="lower", cmap="coolwarm",
                              vmin=0, vmax=1, extent=(-0.5, GRID - 0.5, -0.5, GRID - 0.5),
                              interpolation="nearest")
    x = np.linspace(0, 100, 2)
    plane_axes.plot(x, 3 * x + 5, color="black", linewidth=1.5, label="true boundary y = 3x + 5")
    plane_axes.set(title="Mean predicted probability per (x, y)", xlabel="x", ylabel="y",
                   xlim=(-1, 101), ylim=(-1, 101), aspect="equal")
    plane_axes.legend(loc="lower right")
    figure.colorbar(drawn, ax=plane_axes, label="predicted P(label = 1)")

    shown = "   ".join(f"{name} {value:.4f}" for name, value in metrics.items() if value is not None)
    figure.suptitle(f"{title}\n{shown}")
    figure.savefig(path, dpi=100)
    return path


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
        try:
            # A session of its own: a Ctrl-C at the terminal is run.py's to handle (it ends this
            # process). -P: the working directory is not on its module path.
            self._process = subprocess.Popen(
                [sys.executable, "-P", "-c", f"import sys; sys.path.insert(0, {str(PROJECT_DIR)!r}); "
                                             "from runner.plot import serve; serve()"],
                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                start_new_session=True)
        except OSError:
            pass

    def __enter__(self) -> "Painter":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def render(self, path: Path, scores: np.ndarray, labels: np.ndarray, points: np.ndarray, *,
               title: str, metrics: dict | None = None) -> Path:
        """As `render`: RuntimeError for what cannot be drawn, with the message `render` gives."""
        process, self._process = self._process, None
        if process is None:
            return render(path, scores, labels, points, title=title, metrics=metrics)
        arrays = io.BytesIO()
        np.savez(arrays, scores=scores, labels=labels, points=points)
        header = json.dumps({"path": str(path), "title": title, "metrics": metrics})
        try:
            _, error = process.communicate(header.encode() + b"\n" + arrays.getvalue(), timeout=DRAW_SECONDS)
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"drawing took over {DRAW_SECONDS:.0f} s") from None
        finally:
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

    def close(self) -> None:
        """End the process if nothing was drawn (the run failed, or was stopped)."""
        process, self._process = self._process, None
        if process is not None:
            _end(process)


_CANNOT_DRAW = 3  # the painter's exit status for ImportError, RuntimeError and ValueError


def _end(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.kill()
        process.wait()
    for pipe in (process.stdin, process.stderr):
        pipe.close()


def serve() -> None:
    """The painter's process: one job from stdin (a JSON header line, then the arrays as .npz).

    What `render` raises for a drawing problem (ImportError, RuntimeError, ValueError) goes to
    stderr as its message with exit status 3; anything else as a traceback (status 1).
    """
    try:
        _import_matplotlib()
        header, _, arrays = sys.stdin.buffer.read().partition(b"\n")
        if not header:
            return
        job = json.loads(header)
        with np.load(io.BytesIO(arrays)) as data:
            render(Path(job["path"]), data["scores"], data["labels"], data["points"],
                   title=job["title"], metrics=job["metrics"])
    except (ImportError, RuntimeError, ValueError) as error:
        sys.stderr.write(str(error))
        sys.stderr.flush()
        os._exit(_CANNOT_DRAW)
    sys.stderr.flush()
    os._exit(0)  # the PNG is closed: skip tearing matplotlib down, run.py is waiting for this exit
