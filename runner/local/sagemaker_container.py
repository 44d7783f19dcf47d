"""What the SageMaker built-in XGBoost container does with data, run in-process (no moto here).

Mimics aws/sagemaker-xgboost-container (algorithm mode, text/csv) closely enough for a
rehearsal: the same channel and hyperparameter checks, label-first CSV without header, the
1.7-1 numerics (`base_score=0.5`, `tree_method="exact"` unless set), a `model.tar.gz` holding
one file `xgboost-model`, and batch transform writing one prediction per input line. Problems
surface as `ContainerError`, whose `reason` is the job's FailureReason (`ClientError: ...`
for what the user can fix, `AlgorithmError: ...` for the rest), as on AWS.

Speed matters (the rehearsal aims at 1.5x a plain script at 1M rows): CSV is parsed by pandas'
C parser, validated with whole-array numpy checks, and predictions are formatted a piece at a
time (one %-format per piece), to be uploaded as they are made.
"""

from __future__ import annotations

import dataclasses
import gzip
import io
import re
import tarfile
from typing import Callable, Iterable, Iterator

import numpy as np
import pandas as pd

from runner.openmp import apply_openmp_defaults

apply_openmp_defaults()  # before xgboost loads libgomp
import xgboost as xgb  # noqa: E402  (after the OpenMP defaults)

from lambda_src import xgboost_hyperparameters

MODEL_FILE = "xgboost-model"
CSV_CONTENT_TYPES = ("text/csv", "csv")
# What the real container accepts but this one does not read (it fails them explicitly).
OTHER_CONTENT_TYPES = ("text/libsvm", "libsvm", "text/x-libsvm", "application/x-parquet",
                       "application/x-recordio-protobuf")
CHANNELS = ("train", "validation")
# Container 1.7-1 (xgboost 1.7) defaults that newer xgboost changed.
XGBOOST_17_DEFAULTS = {"base_score": "0.5", "tree_method": "exact"}
# Hyperparameters the container consumes itself instead of passing them to xgboost.train.
_CONTAINER_ONLY = ("num_round", "early_stopping_rounds", "csv_weights", "save_model_on_termination",
                   "_kfold", "_num_cv_round", "_tuning_objective_metric", "use_dask_gpu_training")
_LOGISTIC = ("reg:logistic", "binary:logistic", "binary:logitraw", "binary:hinge")
# xgboost messages the container reports as the user's fault (xgb_constants.CUSTOMER_ERRORS).
_CUSTOMER_ERRORS = ("label must be", "base_score must be in", "num_class", "for Parameter")
_XGBOOST_LOCATION = re.compile(r"^\[\d\d:\d\d:\d\d\] \S+:\d+: ")  # "[17:51:01] src/x.cu:83: "


class ContainerError(Exception):
    """The job fails; `reason` is its FailureReason."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def client_error(message: str) -> ContainerError:
    return ContainerError(f"ClientError: {message}")


def algorithm_error(message: str) -> ContainerError:
    return ContainerError(f"AlgorithmError: {message}")


@dataclasses.dataclass(frozen=True)
class Channel:
    """One input channel as the job describes it, with its objects' bytes (key order)."""
    name: str
    content_type: str | None
    compression: str | None
    objects: list[tuple[str, bytes]]


@dataclasses.dataclass(frozen=True)
class TrainingResult:
    model_tar_gz: bytes
    metrics: dict[str, float]     # e.g. {"train:rmse": 0.12}
    rows: dict[str, int]          # rows read per channel


# -- CSV ----------------------------------------------------------------------------------------

def decompress(data: bytes, compression: str | None, where: str) -> bytes:
    if (compression or "None") == "Gzip":
        try:
            return gzip.decompress(data)
        except OSError as error:
            raise client_error(f"{where}: CompressionType Gzip but the object is not gzip ({error})")
    return data


def read_csv(data: bytes, where: str, *, zero_non_numeric: bool) -> np.ndarray:
    """Parse headerless numeric CSV into float32 rows x columns; every row must have as many fields.

    `zero_non_numeric`: read tokens that are not numbers as 0, as xgboost's own CSV reader does
    in training (so a header row silently becomes a row of zeros, as on 1.x containers).
    Otherwise such a token fails, like inference does.
    """
    if not data.strip():
        return np.empty((0, 0), dtype=np.float32)
    try:
        table = pd.read_csv(io.BytesIO(data), header=None, dtype=np.float32, skip_blank_lines=True,
                            na_filter=True, keep_default_na=False, na_values=[""], engine="c")
    except pd.errors.ParserError as error:
        raise client_error(f"{where}: rows have different numbers of fields ({_short(error)})")
    except (ValueError, TypeError) as error:
        if not zero_non_numeric:
            raise client_error(f"Loading csv data failed with Exception, please ensure data is in "
                               f"csv format: {where}: {_short(error)}")
        raw = pd.read_csv(io.BytesIO(data), header=None, dtype=str, keep_default_na=False,
                          skip_blank_lines=True)
        numbers = raw.apply(pd.to_numeric, errors="coerce")        # "" and words -> NaN
        table = numbers.mask(numbers.isna() & raw.notna() & raw.ne(""), 0.0)  # words -> 0
    values = table.to_numpy(dtype=np.float32, copy=False)
    rows, columns = values.shape
    # pandas pads short rows with NaN: a row has `columns` fields iff the commas add up.
    if data.count(b",") != rows * (columns - 1):
        raise client_error(_ragged_message(data, columns, where))
    return values


def _short(error: Exception) -> str:
    return str(error).strip().splitlines()[-1] if str(error).strip() else type(error).__name__


def _ragged_message(data: bytes, columns: int, where: str) -> str:
    for number, line in enumerate(data.splitlines(), start=1):
        if line.strip() and line.count(b",") + 1 != columns:
            return (f"{where}: line {number} has {line.count(b',') + 1} field(s), the first line has "
                    f"{columns}")
    return f"{where}: rows have different numbers of fields"


# -- training -----------------------------------------------------------------------------------

def validate_channels(channels: Iterable[Channel]) -> None:
    """The container's channel validation (sagemaker_algorithm_toolkit.channel_validation)."""
    names = [channel.name for channel in channels]
    if "train" not in names:
        raise client_error("Missing required channel: train")
    for channel in channels:
        if channel.name not in CHANNELS:
            raise client_error(f"Extraneous channel found: {channel.name}")
        content_type = (channel.content_type or "text/libsvm").split(";")[0].strip().lower()
        if content_type in OTHER_CONTENT_TYPES:
            raise client_error(f"Channel configuration for '{channel.name}' channel uses "
                               f"{content_type}: the local container reads text/csv only")
        if content_type not in CSV_CONTENT_TYPES:
            raise client_error(f"Channel configuration for '{channel.name}' channel is not "
                               f"supported: ContentType {channel.content_type!r}")


def _channel_matrix(channel: Channel, csv_weights: bool = False
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(features, labels, weights): label in column 0, instance weights in column 1 if csv_weights."""
    parts = []
    for key, data in channel.objects:
        table = read_csv(decompress(data, channel.compression, key), key, zero_non_numeric=True)
        if table.size:
            parts.append(table)
    if not parts:
        raise client_error(f"No data in {channel.name} channel path")
    widths = {part.shape[1] for part in parts}
    if len(widths) > 1:
        raise client_error(f"Files in the {channel.name} channel have different numbers of "
                           f"columns: {sorted(widths)}")
    if widths == {1}:
        raise client_error(f"The {channel.name} channel has a label column only: CSV rows must be "
                           "`label,feature1,...` with at least one feature")
    table = parts[0] if len(parts) == 1 else np.concatenate(parts)
    if csv_weights:
        if table.shape[1] < 3:
            raise client_error(f"csv_weights is 1 but the {channel.name} channel has no feature "
                               "after the label and weight columns")
        return table[:, 2:], table[:, 0], table[:, 1]
    return table[:, 1:], table[:, 0], None


def training_params(hyperparameters: dict[str, str]) -> tuple[dict[str, object], int]:
    """xgboost.train params (1.7-1 defaults filled in) and the number of rounds."""
    params: dict[str, object] = {key: value for key, value in XGBOOST_17_DEFAULTS.items()
                                 if key not in hyperparameters}
    for key, value in hyperparameters.items():
        if key in _CONTAINER_ONLY:
            continue
        if key == "objective" and value == "reg:linear":
            params[key] = "reg:squarederror"  # 1.7 still accepted the old name (with a warning)
        elif key == "eval_metric":
            native = [metric for metric in value.split(",") if metric not in CUSTOM_METRICS]
            if native:  # the container computes the others itself (custom_metrics.py)
                params[key] = native
        else:
            params[key] = value
    return params, int(hyperparameters["num_round"])


class _StopWhen(xgb.callback.TrainingCallback):
    def __init__(self, stop_requested: Callable[[], bool]):
        super().__init__()
        self.stop_requested = stop_requested

    def after_iteration(self, model, epoch, evals_log) -> bool:
        return self.stop_requested()


def train(channels: list[Channel], hyperparameters: dict[str, str],
          stop_requested: Callable[[], bool] = lambda: False) -> TrainingResult:
    """Validate, read, train; the result holds model.tar.gz's bytes. Raises ContainerError."""
    try:  # the container's own checks; script-mode names are refused, not run
        xgboost_hyperparameters.validate(hyperparameters)
    except xgboost_hyperparameters.HyperparameterError as error:
        raise client_error(str(error)) from None
    validate_channels(channels)
    by_name = {channel.name: channel for channel in channels}
    csv_weights = hyperparameters.get("csv_weights") == "1"
    features, labels, weights = _channel_matrix(by_name["train"], csv_weights)
    objective = hyperparameters.get("objective", "reg:squarederror")
    if objective in _LOGISTIC and labels.size and (labels.min() < 0 or labels.max() > 1):
        raise client_error("label must be in [0,1] for logistic regression")
    dtrain = xgb.DMatrix(features, label=labels, weight=weights, nthread=-1)
    evals = [(dtrain, "train")]
    rows = {"train": int(labels.size)}
    if "validation" in by_name:
        val_features, val_labels, val_weights = _channel_matrix(by_name["validation"], csv_weights)
        if val_features.shape[1] != features.shape[1]:
            raise client_error(f"Feature size of validation data {val_features.shape[1]} is not "
                               f"consistent with feature size of training data {features.shape[1]}")
        evals.append((xgb.DMatrix(val_features, label=val_labels, weight=val_weights, nthread=-1),
                      "validation"))
        rows["validation"] = int(val_labels.size)
    params, num_round = training_params(hyperparameters)
    early_stopping = hyperparameters.get("early_stopping_rounds")
    try:
        # Only a validation channel is watched while training (early stopping); the final
        # metrics are computed once afterwards.
        booster = xgb.train(params, dtrain, num_boost_round=num_round, evals=evals[1:],
                            verbose_eval=False, callbacks=[_StopWhen(stop_requested)],
                            early_stopping_rounds=int(early_stopping) if early_stopping and len(evals) > 1
                            else None)
    except xgb.core.XGBoostError as error:
        message = _xgboost_message(error)
        if any(text in message for text in _CUSTOMER_ERRORS):
            raise client_error(message) from None
        raise algorithm_error(f"XGB train call failed with exception:\n {message}") from None
    metrics = _final_metrics(booster, evals)
    custom = [metric for metric in hyperparameters.get("eval_metric", "").split(",") if metric in CUSTOM_METRICS]
    for matrix, channel in evals:
        margins = booster.predict(matrix, output_margin=True)
        for metric in custom:
            metrics[f"{channel}:{metric}"] = CUSTOM_METRICS[metric](matrix.get_label(), margins)
    return TrainingResult(model_tar_gz=model_archive(booster), metrics=metrics, rows=rows)


# -- the container's own metrics (metrics/custom_metrics.py, sklearn there, numpy here) ------------
# They see raw margins, as xgboost >= 1.2 hands them to the container's feval; class metrics
# turn margins into labels the container's way (argmax, or log-odds > 0).

def _classes(margins: np.ndarray) -> np.ndarray:
    return np.argmax(margins, axis=-1) if margins.ndim > 1 else (margins > 0.0).astype(int)


def _per_class(labels: np.ndarray, margins: np.ndarray):
    predicted = _classes(margins)
    classes = np.union1d(labels, predicted)
    true_positive = np.array([np.sum((predicted == c) & (labels == c)) for c in classes], dtype=float)
    predicted_count = np.array([np.sum(predicted == c) for c in classes], dtype=float)
    actual_count = np.array([np.sum(labels == c) for c in classes], dtype=float)
    return classes, true_positive, predicted_count, actual_count


def _ratio(numerator, denominator):
    return np.divide(numerator, denominator, out=np.zeros_like(numerator, dtype=float), where=denominator > 0)


def _binary(kind: str):
    """sklearn's average='binary' score for class 1."""
    def score(labels, margins):
        classes, tp, predicted, actual = _per_class(labels, margins)
        index = np.flatnonzero(classes == 1)
        if not index.size:
            return 0.0
        precision = float(_ratio(tp, predicted)[index[0]])
        recall = float(_ratio(tp, actual)[index[0]])
        if kind == "precision":
            return precision
        if kind == "recall":
            return recall
        return 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return score


def _averaged(kind: str, average: str):
    def score(labels, margins):
        _, tp, predicted, actual = _per_class(labels, margins)
        if average == "micro":
            return float(tp.sum() / max(actual.sum(), 1))
        precision, recall = _ratio(tp, predicted), _ratio(tp, actual)
        if kind == "precision":
            return float(precision.mean())
        if kind == "recall":
            return float(recall.mean())
        return float(_ratio(2 * precision * recall, precision + recall).mean())
    return score


def _balanced_accuracy(labels, margins):
    _, tp, _, actual = _per_class(labels, margins)
    present = actual > 0
    return float((tp[present] / actual[present]).mean())


def _r2(labels, margins):
    total = float(np.sum((labels - labels.mean()) ** 2))
    residual = float(np.sum((labels - margins) ** 2))
    return 1.0 - residual / total if total else 0.0


CUSTOM_METRICS: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    "accuracy": lambda labels, margins: float(np.mean(_classes(margins) == labels)),
    "balanced_accuracy": _balanced_accuracy,
    "f1": _averaged("f1", "macro"),
    "f1_binary": _binary("f1"),
    "f1_macro": _averaged("f1", "macro"),
    "mse": lambda labels, margins: float(np.mean((labels - margins) ** 2)),
    "rmse": lambda labels, margins: float(np.sqrt(np.mean((labels - margins) ** 2))),
    "mae": lambda labels, margins: float(np.mean(np.abs(labels - margins))),
    "precision": _binary("precision"),
    "precision_macro": _averaged("precision", "macro"),
    "precision_micro": _averaged("precision", "micro"),
    "r2": _r2,
    "recall": _binary("recall"),
    "recall_macro": _averaged("recall", "macro"),
    "recall_micro": _averaged("recall", "micro"),
}


def _xgboost_message(error: Exception) -> str:
    """The first line of an XGBoostError without its timestamp and source location."""
    first = (str(error).strip().splitlines() or [type(error).__name__])[0]
    return _XGBOOST_LOCATION.sub("", first)


def _final_metrics(booster: xgb.Booster, evals: list[tuple[xgb.DMatrix, str]]) -> dict[str, float]:
    """`train:rmse`-style metrics of the final model, as the container's log lines report them."""
    metrics = {}
    try:
        text = booster.eval_set(evals, iteration=booster.num_boosted_rounds() - 1)
    except xgb.core.XGBoostError:
        return metrics
    for item in text.split("\t")[1:]:
        name, _, value = item.partition(":")
        channel, _, metric = name.partition("-")
        try:
            metrics[f"{channel}:{metric}"] = float(value)
        except ValueError:
            continue
    return metrics


def model_archive(booster: xgb.Booster) -> bytes:
    """model.tar.gz with one member `xgboost-model` (UBJSON, which xgboost 1.7 also loads)."""
    raw = bytes(booster.save_raw("ubj"))
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        info = tarfile.TarInfo(MODEL_FILE)
        info.size = len(raw)
        info.mode = 0o644
        archive.addfile(info, io.BytesIO(raw))
    return buffer.getvalue()


# -- batch transform -----------------------------------------------------------------------------

def load_model(model_tar_gz: bytes) -> xgb.Booster:
    """The booster inside a training job's model.tar.gz, as the serving container loads it."""
    try:
        with tarfile.open(fileobj=io.BytesIO(model_tar_gz), mode="r:*") as archive:
            members = [member for member in archive.getmembers() if member.isfile()]
            if len(members) != 1:
                raise client_error(f"model.tar.gz must hold exactly one model file, found "
                                   f"{[member.name for member in members]}")
            raw = archive.extractfile(members[0]).read()
    except tarfile.TarError as error:
        raise client_error(f"Unable to load model: model.tar.gz is not a tar archive ({error})")
    booster = xgb.Booster()
    try:
        booster.load_model(bytearray(raw))
    except xgb.core.XGBoostError as error:
        raise client_error(f"Unable to load model: {_xgboost_message(error)}") from None
    return booster


def predict_csv(booster: xgb.Booster, data: bytes, where: str) -> Iterator[bytes]:
    """Predictions for headerless CSV rows (features only), one line per input line, in pieces.

    Reading, checking and predicting happen before this returns; the text is made as it is read.
    """
    features = read_csv(data, where, zero_non_numeric=False)
    if not features.size:
        return iter(())
    expected = booster.num_features()
    if features.shape[1] != expected:
        raise client_error(f"Unable to evaluate payload provided: Feature size of csv inference "
                           f"data {features.shape[1]} is not consistent with feature size of "
                           f"trained model {expected}. ({where})")
    predictions = booster.predict(xgb.DMatrix(features, nthread=-1), validate_features=False)
    return format_predictions(predictions)


def format_predictions(predictions: np.ndarray, rows_per_piece: int = 1 << 16) -> Iterator[bytes]:
    """The container's answer to a batch request, in pieces of rows: one line per row,
    `"\n".join(map(str, preds.tolist())) + "\n"` (serve.py, SAGEMAKER_BATCH), so a float32
    prediction reads as the double it widens to (0.10133367776870728) and a multi:softprob row
    as a Python list ([0.8125370144844055, 0.1874629259109497]).
    """
    for start in range(0, len(predictions), rows_per_piece):
        piece = predictions[start:start + rows_per_piece].tolist()
        yield ("\n".join(map(str, piece)) + "\n").encode("ascii")
