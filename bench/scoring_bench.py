"""Scoring cost by objective: run.py's streamed numpy scoring against scikit-learn's metrics.

For each size and objective, the container's output bytes for that many held-out rows are written
to a file first; then one fresh process per variant streams the file in 8 MiB chunks (as run.py
reads S3), parses and scores it. Printed: wall seconds of parsing + scoring, and peak memory
above the process's own after its imports (the arrays, the copies, what the metrics allocate);
scikit-learn's import is timed apart (run.py would pay it on every run).

- `numpy`: runner.metrics, as run.py scores;
- `sklearn`: the same parsing (multi:softprob kept whole, K columns), then scikit-learn 1.9's
  metrics of the same names, and its import time, which run.py would pay on every run;
- `before` (binary:logistic only, with `--before COMMIT`): runner/metrics.py of that commit.

    venv/bin/python bench/scoring_bench.py [--before COMMIT] [ROWS ...]   (default 1000000;
                                                    BENCH_LARGE=1 adds 10000000)
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_DIR))

SIZES = (1_000_000,)
LARGE = 10_000_000
OBJECTIVES = (("binary:logistic", None), ("multi:softprob", 3), ("reg:squarederror", None))
CHUNK = 8 << 20


def _start_peak() -> float:
    """Memory now (MiB); on Linux the peak is reset to it, so that `_peak_mib` is the peak from here
    on (not the imports' own)."""
    status = Path("/proc/self/status")
    if status.exists():
        Path("/proc/self/clear_refs").write_text("5")
        return _status_mib("VmRSS")
    return _peak_mib()


def _status_mib(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise KeyError(field)


def _peak_mib() -> float:
    if Path("/proc/self/status").exists():
        return _status_mib("VmHWM")
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (2**20 if sys.platform == "darwin" else 2**10)


def write_data(directory: Path, rows: int, objective: str, classes: int | None) -> None:
    """labels.csv and predictions.csv.out as the pipeline writes them, with a model that is
    right about 90 % of the time."""
    import numpy as np

    rng = np.random.default_rng(11)
    if objective == "multi:softprob":
        labels = rng.integers(0, classes, rows)
        probabilities = rng.dirichlet(np.ones(classes), rows).astype(np.float32)
        lines = map(str, probabilities.tolist())
    elif objective == "binary:logistic":
        labels = (rng.random(rows) < 0.155).astype(np.int64)
        p = np.clip(np.where(labels == 1, 0.8, 0.1) + rng.normal(0, 0.15, rows), 0, 1).astype(np.float32)
        lines = map(str, p.tolist())
    else:
        labels = np.round(rng.gamma(2.0, 3.0, rows), 3)
        lines = map(str, (labels + rng.normal(0, 1, rows)).astype(np.float32).tolist())
    with open(directory / "predictions.csv.out", "w") as out:
        for start in range(0, rows, 100_000):  # in pieces: this process stays small
            out.write("\n".join(next(lines) for _ in range(min(100_000, rows - start))) + "\n")
    (directory / "labels.csv").write_text("".join(f"{label}\n" for label in labels.tolist()))


def _chunks(path: Path):
    with open(path, "rb") as source:
        while chunk := source.read(CHUNK):
            yield chunk


def measure(directory: Path, variant: str, objective_name: str, classes: int | None, before: str | None) -> None:
    """One variant in this (fresh) process; prints `seconds peak_mib import_seconds`."""
    import numpy as np  # noqa: F401  (the baseline includes numpy and pandas, as run.py's does)
    import pandas  # noqa: F401

    from runner import metrics

    hyperparameters = {"objective": objective_name, **({"num_class": str(classes)} if classes else {})}
    objective = metrics.objective_of(hyperparameters)
    imported = 0.0
    if variant == "sklearn":  # its import apart: memory and time of the metrics alone below
        began = time.perf_counter()
        from sklearn import metrics as sk

        imported = time.perf_counter() - began
    if variant == "before":
        module = type(sys)("metrics_before")
        exec(
            subprocess.run(
                ["git", "show", f"{before}:runner/metrics.py"],
                cwd=PROJECT_DIR,
                check=True,
                capture_output=True,
                text=True,
            ).stdout,
            module.__dict__,
        )
    baseline = _start_peak()
    start = time.perf_counter()
    if variant == "before":
        predictions = module.read_numbers(_chunks(directory / "predictions.csv.out"), "p")
        labels = module.read_numbers(
            _chunks(directory / "labels.csv"), "l", keep=lambda first, values: module.labels_from(values, "l")
        )
        module.score(labels, predictions)
    elif variant == "numpy":
        labels = metrics.read_numbers(_chunks(directory / "labels.csv"), "l", keep=metrics.label_reader(objective, "l"))
        predictions = metrics.read_numbers(
            _chunks(directory / "predictions.csv.out"),
            "p",
            expected=labels.size,
            columns=objective.classes if objective.bracketed else 1,
            bracketed=objective.bracketed,
            keep=metrics.prediction_reader(objective, labels, "p"),
        )
        metrics.score(labels, predictions, objective)
    else:
        labels = metrics.read_numbers(_chunks(directory / "labels.csv"), "l", keep=metrics.label_reader(objective, "l"))
        predictions = metrics.read_numbers(
            _chunks(directory / "predictions.csv.out"),
            "p",
            expected=labels.size,
            columns=objective.classes if objective.bracketed else 1,
            bracketed=objective.bracketed,
        )
        if objective.kind == metrics.PROBABILITY:
            hard = predictions > 0.5
            sk.accuracy_score(labels, hard), sk.roc_auc_score(labels, predictions)
            sk.log_loss(labels, predictions), sk.root_mean_squared_error(labels, predictions)
            sk.precision_recall_fscore_support(labels, hard, average="binary")
        elif objective.kind == metrics.MULTICLASS:
            predicted = predictions.argmax(axis=1)
            sk.accuracy_score(labels, predicted), sk.f1_score(labels, predicted, average="macro")
            sk.log_loss(labels, predictions), sk.confusion_matrix(labels, predicted)
        else:
            sk.root_mean_squared_error(labels, predictions), sk.mean_absolute_error(labels, predictions)
            sk.r2_score(labels, predictions)
    print(f"{time.perf_counter() - start:.2f} {_peak_mib() - baseline:.0f} {imported:.2f}")


def main(argv: list[str]) -> int:
    before = None
    if argv[:1] == ["--before"]:
        before, argv = argv[1], argv[2:]
    sizes = [int(value) for value in argv] or [*SIZES, *([LARGE] if os.environ.get("BENCH_LARGE") else [])]
    print(
        f"{'rows':>11}  {'objective':<20} {'variant':<8} {'seconds':>8} {'peak MiB':>9}  (parsing included, "
        "sklearn's import apart)"
    )
    for rows in sizes:
        for objective, classes in OBJECTIVES:
            with tempfile.TemporaryDirectory() as directory:
                write_data(Path(directory), rows, objective, classes)
                variants = ["numpy", "sklearn"] + (["before"] if before and objective == "binary:logistic" else [])
                for variant in variants:
                    result = subprocess.run(
                        [
                            sys.executable,
                            __file__,
                            "--measure",
                            directory,
                            variant,
                            objective,
                            str(classes or ""),
                            before or "",
                        ],
                        capture_output=True,
                        text=True,
                    )
                    if result.returncode != 0:
                        raise SystemExit(result.stderr[-2000:])
                    seconds, peak, imported = result.stdout.split()
                    shown = f"{objective}{f' K={classes}' if classes else ''}"
                    extra = f"  + import {imported} s" if variant == "sklearn" else ""
                    print(f"{rows:>11,}  {shown:<20} {variant:<8} {seconds:>8} {peak:>9}{extra}", flush=True)
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["--measure"]:
        directory, variant, objective, classes, before = sys.argv[2:7]
        measure(Path(directory), variant, objective, int(classes) if classes else None, before or None)
    else:
        sys.exit(main(sys.argv[1:]))
