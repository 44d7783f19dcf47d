"""After an execution: fetch its predictions and labels, score them, keep the artifacts locally."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from urllib.parse import urlparse

from runner import metrics
from runner.follow import ExecutionView


class ResultsError(Exception):
    """The execution succeeded but its results cannot be fetched, scored or saved."""


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


def _read(s3, uri: str) -> bytes:
    bucket, key = split_uri(uri)
    return s3.get_object(Bucket=bucket, Key=key)["Body"].read()


def _keys_under(s3, uri: str) -> list[str]:
    bucket, prefix = split_uri(uri.rstrip("/") + "/")
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return sorted(item["Key"] for page in pages for item in page.get("Contents", []))


def summary_of(view: ExecutionView) -> dict:
    """The run's summary: what `--json` prints and `summary.json` holds."""
    now = view.stopped or view.started
    failed = view.failed_state
    dataset = (view.output or {}).get("dataset", {})
    return {
        "execution_name": view.name,
        "execution_arn": view.arn,
        "status": view.status,
        "states": [{"name": state.name, "status": state.status, "seconds": round(state.seconds(now), 3)}
                   for state in view.states],
        "rows": dataset.get("rows"),
        "metrics": None,
        "predictions": None,
        "artifacts_dir": None,
        "failed_state": failed.name if failed else None,
        "error": view.error,
        "cause": readable_cause(view.cause),
    }


def collect(s3, view: ExecutionView, runs_dir: Path, keep_data: bool) -> dict:
    """Download predictions, labels and model of a SUCCEEDED run, score them, write runs/<name>/.

    Files are written to a scratch folder first and moved into place at the end, so an
    interrupted or failed fetch leaves no half-written run and never touches other runs.
    """
    try:
        return _collect(s3, view, runs_dir, keep_data)
    except KeyError as missing:
        raise ResultsError(f"the output of {view.name} has no {missing} key: was it started from "
                           "this project's state machine?") from None
    except ValueError as error:
        raise ResultsError(f"cannot score {view.name}: {error}") from None
    except OSError as error:
        raise ResultsError(f"cannot save {view.name} under {runs_dir}: {error.strerror or error}") from None


def _collect(s3, view: ExecutionView, runs_dir: Path, keep_data: bool) -> dict:
    summary = summary_of(view)
    output = view.output or {}
    dataset, transform, training = output["dataset"], output["transform"], output["training"]
    bucket, _ = split_uri(transform["outputPath"])
    prediction_text = b"".join(
        s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        for key in _keys_under(s3, transform["outputPath"]) if key.endswith(".out")).decode()
    label_text = _read(s3, dataset["labels_uri"]).decode()
    summary["metrics"] = metrics.score(metrics.parse_column(label_text, "the labels object"),
                                       metrics.parse_column(prediction_text, "the batch transform output"))

    final_dir = runs_dir / view.name
    summary["predictions"] = str(final_dir / "predictions.csv")
    summary["artifacts_dir"] = str(final_dir)
    scratch = runs_dir / f".{view.name}.partial"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    try:
        (scratch / "predictions.csv").write_text(prediction_text)
        (scratch / "labels.csv").write_text(label_text)
        (scratch / "model.tar.gz").write_bytes(_read(s3, training["modelDataUrl"]))
        if keep_data:
            for uri in (dataset["train_uri"], dataset["test_uri"]):
                for key in _keys_under(s3, uri):
                    target = scratch / "data" / key.split("/csv/", 1)[-1]
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
        (scratch / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
        if final_dir.exists():
            shutil.rmtree(final_dir)
        scratch.rename(final_dir)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return summary
