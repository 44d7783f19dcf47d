"""After an execution: keep its record and artifacts in runs/<name>/, with the pipeline's evaluation.

The metrics are the state machine's own (Evaluate model, lambda_src/evaluation.py); the
predictions are still read here, for the plot and the confusion matrix (and scored the same way
for an execution of a stack that has no Evaluate model yet).

`runs/<name>/` is claimed (created empty, atomically) before a run starts and is never
overwritten. Files are written to a scratch folder beside it and moved into place at the
end, so an interrupted or failed fetch leaves no half-written run. Everything streams in
bounded chunks: a 10 M-row run costs its predictions' arrays, not its text.
"""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import shutil
import subprocess
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO
from urllib.parse import urlparse

from botocore.exceptions import BotoCoreError, ClientError

from components import PROJECT_DIR
from lambda_src import bucket_layout
from lambda_src.execution_input import is_job_name
from runner import model_file
from runner.errors import UsageError
from runner.follow import ExecutionView
from runner.terminal import shown

if TYPE_CHECKING:
    from runner import plot

CHUNK_BYTES = 8 << 20
PLOT_POINTS = 50_000  # rows drawn in the plot; larger runs are sampled evenly


class ResultsError(Exception):
    """The execution ended but its results cannot be fetched or saved; the message says why."""


def split_uri(uri: str) -> tuple[str, str]:
    parsed = urlparse(uri)
    return parsed.netloc, parsed.path.lstrip("/")


def readable_cause(cause: str | None) -> str | None:
    """A failure's cause in one readable piece: SageMaker's FailureReason, Lambda's message, or as is."""
    if not cause:
        return cause
    try:
        document = json.loads(cause)
    except json.JSONDecodeError:
        return cause
    if isinstance(document, dict):
        if document.get("FailureReason"):
            return document["FailureReason"]
        if document.get("errorMessage"):
            return f"{document.get('errorType', 'Error')}: {document['errorMessage']}"
    return cause


# -- runs/<name>/ -------------------------------------------------------------------------------


def claim(runs_dir: Path, name: str, *, local: bool, recover: bool = False) -> Path:
    """Create runs/<name>/ empty, or refuse: a name is used once, its results never overwritten.

    `name` may come from an endpoint: it must be an execution name (so one folder inside runs/).
    `recover` (`run.py follow`): a folder left without summary.json (a run whose results were not
    saved) is taken over when empty, or moved aside to `<name>.incomplete[-N]` and replaced."""
    if not is_job_name(name):
        raise UsageError(
            f"the execution name {shown(name)} is not a valid execution name (1-63 letters, "
            "digits and hyphens): nothing is saved under that name"
        )
    run_dir = runs_dir / name
    try:
        if runs_dir.exists() and not runs_dir.is_dir():
            raise NotADirectoryError(20, "Not a directory")
        runs_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UsageError(f"cannot create {run_dir}/ (--runs-dir): {error.strerror or error}") from None
    if recover:
        _recover(run_dir)
    try:
        run_dir.mkdir()
    except FileExistsError:
        if local:  # the emulator is new each run: runs/ is what remembers the names used
            raise UsageError(
                f"ExecutionAlreadyExists: an execution named {name} already ran "
                f"({run_dir}/ holds it); pick another --name or leave --name out"
            ) from None
        raise UsageError(
            f"{run_dir}/ already exists and is never overwritten: pick another --name, "
            "another --runs-dir, or move it away"
        ) from None
    except OSError as error:
        raise UsageError(f"cannot create {run_dir}/ (--runs-dir): {error.strerror or error}") from None
    return run_dir


def _recover(run_dir: Path) -> None:
    """An earlier run's folder without summary.json (its fetch was cut short): emptied for a new fetch."""
    if not run_dir.is_dir() or run_dir.is_symlink() or (run_dir / "summary.json").exists():
        return
    if next(run_dir.iterdir(), None) is None:
        release(run_dir)
        return
    for attempt in range(100):
        aside = run_dir.with_name(f"{run_dir.name}.incomplete" + (f"-{attempt}" if attempt else ""))
        try:
            run_dir.rename(aside)  # fails on an existing non-empty target (never merged)
            return
        except OSError:
            continue


def inside(folder: Path, relative: str) -> Path | None:
    """`folder/relative` for a remote name (an S3 key's tail), or None when it would not stay inside
    `folder`: an empty, `.` or `..` part, a backslash or NUL, or an absolute path."""
    parts = relative.split("/")
    if not relative or any(part in ("", ".", "..") or "\\" in part or "\0" in part for part in parts):
        return None
    path = folder.joinpath(*parts)
    return path if path.resolve().is_relative_to(folder.resolve()) else None


def release(run_dir: Path | None) -> None:
    """Give back a claimed run folder that received nothing (the run was not started or stopped)."""
    if run_dir is not None:
        try:
            run_dir.rmdir()
        except OSError:
            pass


# -- the record ---------------------------------------------------------------------------------


def _iso(moment) -> str | None:
    return moment.isoformat() if moment is not None else None


def project_version() -> str | None:
    """`git describe` of the project checkout (with -dirty for local changes), if it is one."""
    try:
        result = subprocess.run(
            ["git", "describe", "--always", "--dirty", "--tags"],
            cwd=PROJECT_DIR,
            capture_output=True,
            text=True,
            timeout=5,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() or None if result.returncode == 0 else None


def _image_library(version: str | None) -> str | None:
    """The xgboost of image `version`'s local environment: what a --local run trained with (the
    project's venv has none)."""
    from importlib import metadata

    from runner.emulator.image_environments import environments_folder

    if not version:
        return None
    for site in sorted((environments_folder() / version).glob("lib/python*/site-packages")):
        for distribution in metadata.distributions(path=[str(site)]):
            if distribution.metadata["Name"] in ("xgboost", "xgboost-cpu"):
                return distribution.version
    return None


def _task(view: ExecutionView, resource: str):
    return next((s for s in reversed(view.states) if s.resource.startswith(resource)), None)


def image_version(view: ExecutionView, image: str | None) -> str | None:
    """The SageMaker XGBoost image version of a run ("3.2-0"): the tag of the image it trained on,
    or, for a run that ended before training, the one the first state checked it against (the
    stack's, rendered into the definition)."""
    if image and ":" in image:
        return image.rsplit(":", 1)[-1]
    from components.definition import VALIDATE_STATE

    checked = next((state.parameters for state in view.states if state.name == VALIDATE_STATE), {})
    training = (checked.get("defaults") or {}).get("training") if isinstance(checked.get("defaults"), dict) else None
    version = training.get("image_version") if isinstance(training, dict) else None
    return version if isinstance(version, str) else None


def summary_of(view: ExecutionView, where: dict[str, Any]) -> dict:
    """The run's record: what `--json` prints and `summary.json` holds. Strict JSON."""
    data = view.data
    run = data.get("run") if isinstance(data.get("run"), dict) else {}
    settings = data.get("settings") if isinstance(data.get("settings"), dict) else {}
    dataset = data.get("dataset") if isinstance(data.get("dataset"), dict) else {}
    given = view.input if isinstance(view.input, dict) else {}
    training, transform = _task(view, "createTrainingJob"), _task(view, "createTransformJob")
    request = training.parameters if training else {}
    described = training.result if training and isinstance(training.result, dict) else {}
    resources = request.get("ResourceConfig") or {}
    image = (request.get("AlgorithmSpecification") or {}).get("TrainingImage")
    transform_request = transform.parameters if transform else {}
    transform_described = transform.result if transform and isinstance(transform.result, dict) else {}
    # SageMaker's metric regexes cannot match inf or nan: such values never reach its list.
    final_metrics = {
        item["MetricName"]: item["Value"]
        for item in described.get("FinalMetricDataList") or []
        if isinstance(item, dict) and "MetricName" in item and finite_number(item.get("Value"))
    }
    evaluated = data.get("evaluation") if isinstance(data.get("evaluation"), dict) else {}
    registration = data.get("registration") if isinstance(data.get("registration"), dict) else {}
    failed = view.failed_state
    now = view.stopped or view.started
    container = image.rsplit(":", 1)[-1] if image and ":" in image else None
    return strict(
        {
            "execution_name": view.name,
            "execution_arn": view.arn,
            "imageVersion": image_version(view, image),
            "status": view.status,
            "where": where,
            "started": _iso(view.started),
            "stopped": _iso(view.stopped),
            "seconds": round((now - view.started).total_seconds(), 3) if view.stopped else None,
            "input": view.input,
            "seed": dataset.get("seed", run.get("seed", given.get("seed"))),
            "rows": dataset.get("rows"),
            # Where the rows came from: the generator, or a file / S3 data with its label, features,
            # class mapping and the split fractions used (the seed above drew the split).
            "data": dataset.get("source") if isinstance(dataset.get("source"), dict) else None,
            "hyperparameters": run.get("hyperparameters")
            or request.get("HyperParameters")
            or settings.get("hyperparameters"),
            "training": {
                "job_name": training.job_name if training else None,
                "image": image,
                "instance_type": resources.get("InstanceType"),
                "instance_count": resources.get("InstanceCount"),
                "volume_size_gb": resources.get("VolumeSizeInGB"),
                "max_runtime_seconds": (request.get("StoppingCondition") or {}).get("MaxRuntimeInSeconds"),
                "status": described.get("TrainingJobStatus"),
                "training_seconds": described.get("TrainingTimeInSeconds"),
                "billable_seconds": described.get("BillableTimeInSeconds"),
                "final_metrics": final_metrics or None,
            },
            "transform": {
                "job_name": transform.job_name if transform else None,
                "instance_type": (transform_request.get("TransformResources") or {}).get("InstanceType"),
                "instance_count": (transform_request.get("TransformResources") or {}).get("InstanceCount"),
                "status": transform_described.get("TransformJobStatus"),
            },
            "states": [
                {
                    "name": state.name,
                    "status": state.status,
                    "started": _iso(state.entered),
                    "stopped": _iso(state.exited),
                    "seconds": round(state.seconds(now), 3),
                }
                for state in view.states
            ],
            "scored_as": None,
            "metrics": evaluated.get("metrics") if isinstance(evaluated.get("metrics"), dict) else None,
            "metrics_missing": None
            if view.status == "SUCCEEDED" or evaluated.get("metrics")
            else f"the execution {view.status}",
            "metrics_undefined": evaluated.get("undefined") if isinstance(evaluated.get("undefined"), dict) else {},
            # The pipeline's own evaluation (Evaluate model): where evaluation.json is, the quality
            # gate's verdict, the model package the run registered.
            "evaluation_uri": evaluated.get("evaluationUri"),
            "quality_gate": evaluated.get("gate") if isinstance(evaluated.get("gate"), dict) else None,
            "model_package_arn": registration.get("modelPackageArn"),
            "classes": _classes(dataset),
            "confusion_matrix": None,
            "artifacts_dir": None,
            "predictions": None,
            "model": None,
            "plot": None,
            "plot_missing": None,
            "summary": None,
            "iam_report": None,
            "results_error": None,
            "failed_state": failed.name if failed else None,
            "error": view.error,
            "cause": readable_cause(view.cause),
            "versions": {
                "project": project_version(),
                "xgboost_container": container,
                # Only a local run trains with this machine's XGBoost (its image's environment).
                "xgboost_library": _image_library(container) if where.get("local") else None,
            },
        }
    )


def finite_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _classes(dataset: dict) -> list[str] | None:
    """The original class names of a dataset whose labels were mapped to 0..K-1 (index i is class i)."""
    source = dataset.get("source") if isinstance(dataset.get("source"), dict) else {}
    classes = source.get("classes")
    return [str(name) for name in classes] if isinstance(classes, list) and classes else None


def _generated(dataset: dict) -> bool:
    """The sample's generator made the data (test.csv is its x, y); records without `source` are older runs."""
    source = dataset.get("source")
    return not isinstance(source, dict) or source.get("kind") == "generated"


def strict(value):
    """`value` with every non-finite float, at any depth, as None: strict JSON whatever came in
    (an execution input or a job's answer may hold NaN or Infinity; Python's json reads both)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: strict(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [strict(item) for item in value]
    return value


def to_json(summary: dict) -> str:
    """Strict JSON (no NaN/Infinity): non-finite numbers are null."""
    return json.dumps(strict(summary), indent=2, allow_nan=False)


# -- fetching -----------------------------------------------------------------------------------


def _keys_under(s3, uri: str) -> list[str]:
    bucket, prefix = split_uri(uri.rstrip("/") + "/")
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return sorted(item["Key"] for page in pages for item in page.get("Contents", []))


def _chunks(s3, bucket: str, keys: Iterable[str]) -> Iterator[bytes]:
    for key in keys:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"]
        try:
            yield from body.iter_chunks(CHUNK_BYTES)
        finally:
            body.close()


def _tee(chunks: Iterable[bytes], sink: BinaryIO | None) -> Iterator[bytes]:
    for chunk in chunks:
        if sink is not None:
            sink.write(chunk)
        yield chunk


def _save_and_parse(chunks: Iterator[bytes], path: Path | None, parse) -> tuple[Any, str | None]:
    """Stream `chunks` to `path` while `parse` reads them; the file is complete even if parsing fails."""
    from runner import metrics

    with open(path, "wb") if path else contextlib.nullcontext() as sink:
        try:
            return parse(_tee(chunks, sink)), None
        except metrics.NotScorable as problem:
            if path is not None:
                for chunk in chunks:  # the rest of the object, kept as it is
                    sink.write(chunk)
            return None, str(problem)


def collect(
    s3,
    view: ExecutionView,
    where: dict,
    run_dir: Path | None,
    keep_data: bool,
    not_saved: str | None = None,
    iam_report: Callable[[], dict] | None = None,
    painter: plot.Painter | None = None,
    cost: Callable[[ExecutionView, dict], dict] | None = None,
) -> dict:
    """The record of an ended execution; for a SUCCEEDED one also its artifacts and scores.

    Never raises for a results problem: the summary says what could not be done
    (`results_error`, `metrics_missing`), so `--json` always has its one object to print.
    `run_dir` is the claimed, empty runs/<name>/; None when it could not be claimed (`not_saved`
    says why). `iam_report` (local runs) gives what goes into `iam.json`; `painter` draws the
    plot (in this process when None). `cost` gives the run's `cost` record (runner.cost.execution_cost).
    """
    summary = summary_of(view, where)
    summary["cost"] = None
    if run_dir is None:
        summary["cost"] = cost(view, summary) if cost is not None else None
        summary["results_error"] = not_saved or "not saved"
        return strict(summary)
    run_dir = run_dir.resolve()
    scratch = run_dir.with_name(f".{run_dir.name}.partial-{os.getpid()}")
    try:
        shutil.rmtree(scratch, ignore_errors=True)
        scratch.mkdir()
        # The plot is drawn in the painter's process while the cost record and the IAM report are
        # fetched here.
        plot_drawn = (
            _fetch(s3, view, summary, scratch, run_dir, keep_data, painter) if view.status == "SUCCEEDED" else None
        )
        summary["cost"] = cost(view, summary) if cost is not None else None
        if iam_report is not None:
            (scratch / "iam.json").write_text(json.dumps(iam_report(), indent=2) + "\n")
            summary["iam_report"] = str(run_dir / "iam.json")
        if plot_drawn is not None:
            plot_drawn()
        summary["artifacts_dir"] = str(run_dir)
        summary["summary"] = str(run_dir / "summary.json")
        (scratch / "summary.json").write_text(to_json(summary) + "\n")
        scratch.rename(run_dir)  # replaces the claimed, empty folder in one step
    except KeyError as missing:
        summary["results_error"] = (
            f"the output of {view.name} has no {missing} key: was it started from this project's state machine?"
        )
    except OSError as error:
        summary["results_error"] = f"cannot save {view.name} under {run_dir.parent}: {error.strerror or error}"
    except (BotoCoreError, ClientError) as error:
        summary["results_error"] = f"cannot fetch the results of {view.name}: {error}"
    finally:
        if painter is not None:  # a drawing still going (a fetch above failed) ends before its folder goes
            painter.close()
        shutil.rmtree(scratch, ignore_errors=True)
    if summary["results_error"]:
        for key in ("artifacts_dir", "summary", "predictions", "model", "plot", "iam_report"):
            summary[key] = None
        release(run_dir)
    return strict(summary)


def _copy(chunks: Iterable[bytes], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as sink:
        for chunk in chunks:
            sink.write(chunk)


def _fetch(
    s3, view: ExecutionView, summary: dict, scratch: Path, final: Path, keep_data: bool, painter
) -> Callable[[], None] | None:
    """Fetch and score a succeeded run's outputs into scratch/ and start drawing its plot; the call
    returned (None: no plot) waits for the drawing and records it."""
    from runner import metrics  # numpy: imported once there is something to score

    output = view.output or {}
    dataset, transform, training = output["dataset"], output["transform"], output["training"]
    bucket, _ = split_uri(transform["outputPath"])
    test_rows = (dataset.get("rows") or {}).get("test")
    prediction_keys = [key for key in _keys_under(s3, transform["outputPath"]) if key.endswith(".out")]
    labels_bucket, labels_key = split_uri(dataset["labels_uri"])
    # Saved and scored without the blank lines SageMaker's assembly may add: line i is row i's prediction.
    predictions_chunks = metrics.without_assembly_blanks(_chunks(s3, bucket, prediction_keys))
    objective, labels, predictions, problem = _read_scored(
        summary, test_rows, _chunks(s3, labels_bucket, [labels_key]), predictions_chunks, scratch
    )
    summary["predictions"] = str(final / "predictions.csv")
    plot_drawn = _scored(s3, view, summary, scratch, final, keep_data, painter, objective, labels, predictions, problem)
    model_bucket, model_key = split_uri(training["modelDataUrl"])
    _copy(_chunks(s3, model_bucket, [model_key]), scratch / "model.tar.gz")
    summary["model"] = str(final / "model.tar.gz")
    with open(scratch / "model.tar.gz", "rb") as archive:  # rounds kept and best iteration, from its header
        summary["training"]["model_file"] = model_file.model_facts(archive)
    if keep_data:
        train_bucket, _ = split_uri(dataset["train_uri"])
        skipped = []
        for key in _keys_under(s3, dataset["train_uri"]):
            target = inside(scratch / "data", key.split(f"/{bucket_layout.CSV}/", 1)[-1])
            if target is None:  # a planted key (`../..`): never written outside the run's folder
                skipped.append(key)
                continue
            try:
                _copy(_chunks(s3, train_bucket, [key]), target)
            except OSError as error:  # `a` and `a/b` both keys, a part too long: that key only, not the run
                if error.errno not in (errno.EEXIST, errno.ENOTDIR, errno.EISDIR, errno.ENAMETOOLONG):
                    raise
                skipped.append(key)
        if skipped:
            summary["data_skipped"] = {
                "count": len(skipped),
                "keys": skipped[:10],
                "why": "these keys name no file inside data/ (`..`, empty parts, a file and a folder of "
                "one name, too long): not downloaded",
            }
    return plot_drawn


def _scored(
    s3, view, summary, scratch, final, keep_data, painter, objective, labels, predictions, problem
) -> Callable[[], None] | None:
    """Score what was read (or record why not), then stream the held-out rows and start the plot."""
    from runner import metrics

    if not problem and summary["metrics"] is None:  # an execution of a stack without Evaluate model
        try:
            summary["metrics"], summary["metrics_undefined"] = metrics.score(labels, predictions, objective)
        except metrics.NotScorable as error:
            problem = str(error)
    if problem:
        if summary["metrics"] is None:
            summary["metrics_missing"] = f"cannot score: {problem}"
        summary["plot_missing"] = "no metrics to draw"
        if keep_data:
            _held_out_rows(s3, view, summary, scratch, final, True, None, painter)
        return None
    summary["metrics_missing"] = None
    if objective.kind in (metrics.MULTICLASS, metrics.HINGE) and objective.classes <= metrics.CONFUSION_CLASSES:
        predicted = predictions[:, 0] if objective.bracketed else predictions
        counts = metrics.confusion_matrix(labels, predicted, objective.classes)
        names = list(summary["classes"] or [])[: objective.classes]
        names += [str(index) for index in range(len(names), objective.classes)]
        summary["confusion_matrix"] = {
            "classes": names,
            "counts": counts.tolist(),
            "rows": "true class",
            "columns": "predicted class",
        }
    return _held_out_rows(s3, view, summary, scratch, final, keep_data, (objective, predictions, labels), painter)


def _read_scored(
    summary: dict,
    test_rows: int | None,
    labels_chunks: Iterator[bytes],
    predictions_chunks: Iterator[bytes],
    scratch: Path,
) -> tuple:
    """The labels, then the predictions, parsed and checked as the run's objective writes them,
    each saved to scratch/ as it streams and kept whole whatever happens.
    (objective, labels, predictions, None), or (..., the reason they cannot be scored)."""
    from runner import metrics

    try:
        objective = metrics.objective_of(summary.get("hyperparameters"))
    except metrics.NotScorable as unscored:
        summary["scored_as"] = {
            "objective": metrics.hyperparameter(summary.get("hyperparameters"), "objective"),
            "kind": None,
        }
        _copy(labels_chunks, scratch / "labels.csv")
        _copy(predictions_chunks, scratch / "predictions.csv")
        return None, None, None, str(unscored)
    multiclass = objective.kind == metrics.MULTICLASS
    summary["scored_as"] = {
        "objective": objective.name,
        "kind": objective.kind,
        **({"num_class": objective.classes} if multiclass else {}),
    }
    # The labels first: multi:softprob's K probabilities a row are reduced against them as they stream.
    labels, problem = _save_and_parse(
        labels_chunks,
        scratch / "labels.csv",
        lambda chunks: metrics.read_numbers(
            chunks, "the labels object", expected=test_rows, keep=metrics.label_reader(objective, "the labels object")
        ),
    )
    predictions = None
    if problem:
        _copy(predictions_chunks, scratch / "predictions.csv")
    else:
        what = "the batch transform output"
        predictions, problem = _save_and_parse(
            predictions_chunks,
            scratch / "predictions.csv",
            lambda chunks: metrics.read_numbers(
                chunks,
                what,
                expected=labels.size,
                columns=objective.classes if objective.bracketed else 1,
                bracketed=objective.bracketed,
                keep=metrics.prediction_reader(objective, labels, what),
            ),
        )
    if problem:
        problem += f" (objective {objective.name}" + (f", num_class {objective.classes})" if multiclass else ")")
    return objective, labels, predictions, problem


def _held_out_rows(s3, view, summary, scratch, final, keep_data, scored, painter) -> Callable[[], None] | None:
    """Stream test.csv once: kept with --keep-data, and for the generator's data sampled evenly
    for the plot's (x, y) panel; then start drawing the plot. Returns the call that waits for it
    and records it (None: no plot, and `plot_missing` says why)."""
    from runner import metrics

    dataset = view.output["dataset"]
    bucket, _ = split_uri(dataset["test_uri"])
    chunks = _chunks(s3, bucket, _keys_under(s3, dataset["test_uri"]))
    target = scratch / "data" / "test" / "test.csv" if keep_data else None
    if not scored or not _generated(dataset):
        if target is not None:
            _copy(chunks, target)
        if not scored:
            return None
    objective, predictions, labels = scored
    size = labels.size
    stride = max(1, math.ceil(size / PLOT_POINTS))
    points = None
    if _generated(dataset):
        if target is not None:
            target.parent.mkdir(parents=True, exist_ok=True)
        points, problem = _save_and_parse(
            chunks,
            target,
            lambda chunks: metrics.read_numbers(
                chunks, "the held-out rows (test.csv)", columns=2, expected=size, every=stride
            ),
        )
        if problem:
            summary["plot_missing"] = problem
            return None
    if objective.kind == metrics.MULTICLASS and summary["confusion_matrix"] is None and points is None:
        summary["plot_missing"] = (
            f"num_class {objective.classes}: a confusion matrix of over "
            f"{metrics.CONFUSION_CLASSES} classes is neither recorded nor drawn"
        )
        return None
    from runner import plot

    arrays = plot.arrays_for(
        objective.kind,
        predictions[::stride],
        labels[::stride],
        points,
        bracketed=objective.bracketed,
        confusion=summary["confusion_matrix"],
    )
    drawn = f", {len(labels[::stride]):,} drawn" if stride > 1 else ""
    job = dict(
        title=f"{view.name}: {size:,} held-out rows{drawn}",
        metrics=summary["metrics"],
        classes=(summary["confusion_matrix"] or {}).get("classes"),
    )

    def cannot_draw(error: Exception) -> None:  # no matplotlib, or it cannot draw this
        (scratch / "plot.png").unlink(missing_ok=True)
        summary["plot_missing"] = f"cannot draw the plot: {error}"

    try:
        if painter is None:
            plot.render(scratch / "plot.png", objective.kind, arrays, **job)
            drawing = None
        else:
            drawing = painter.start(scratch / "plot.png", objective.kind, arrays, **job)
    except (ImportError, RuntimeError, ValueError) as error:
        cannot_draw(error)
        return None

    def recorded() -> None:
        try:
            if drawing is not None:
                drawing()
        except (ImportError, RuntimeError, ValueError) as error:
            cannot_draw(error)
            return
        summary["plot"] = str(final / "plot.png")

    return recorded
