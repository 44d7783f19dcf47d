"""What the SageMaker built-in XGBoost 1.7-1 container does on one host, run in-process (no moto here).

It runs the library the image pins (xgboost 1.7.4, requirements.txt) the way the container calls it
(aws/sagemaker-xgboost-container, branch 1.7-1): the channel files are symlinked into one directory
and read by XGBoost's own CSV parser (`data_utils.py`), the hyperparameters go to `xgb.train` with
the container's callbacks (an evaluation log line every round, 5 decimals; `EarlyStopping(
save_best=True)` on the last eval_metric when there is a validation channel: `callback.py`,
`algorithm_mode/train.py`), its own metrics are its feval (`metrics/custom_metrics.py`), and the
model is `xgboost-model` in 1.7.4's default (legacy binary) format. The library's defaults are the
image's (base_score 0.5; tree_method auto: exact on one host below 2^22 rows, approx above).
Batch transform answers each mini-batch as `serve.py` does, after parsing it as `encoder.py` does.
With a checkpoint folder (CheckpointConfig) it resumes and checkpoints as 1.7-1 does (see
`load_checkpoint`).

Problems surface as `ContainerError`, whose `reason` is the job's FailureReason (`ClientError: ...`
for what the user can fix, `AlgorithmError: ...` for the rest), as on AWS.
"""

from __future__ import annotations

import csv
import dataclasses
import gzip
import io
import math
import os
import re
import tarfile
import tempfile
import warnings
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np

from runner.xgboost_import import import_xgboost

# The jobs run on CPU instances (ml.m5...): a GPU on this machine must not make gpu_hist or
# gpu_predictor pass here where AWS fails them ("No visible GPU is found for XGBoost.").
os.environ["CUDA_VISIBLE_DEVICES"] = ""
xgb = import_xgboost()

from lambda_src import xgboost_hyperparameters  # noqa: E402

# Checked before anything starts (run.py refuses them before loading this module).
from runner.emulator.preflight import IMAGE_XGBOOST, UnsupportedVersion, check_container_version  # noqa: E402,F401

MODEL_FILE = "xgboost-model"
CSV_CONTENT_TYPES = ("text/csv", "csv")
# What the real container accepts but this one does not read (it fails them explicitly).
OTHER_CONTENT_TYPES = ("text/libsvm", "libsvm", "text/x-libsvm", "application/x-parquet", "parquet",
                       "application/x-recordio-protobuf", "recordio-protobuf")
CHANNELS = ("train", "validation")
# Hyperparameters the container consumes itself instead of passing them to xgboost.train.
_CONTAINER_ONLY = ("num_round", "early_stopping_rounds", "csv_weights", "save_model_on_termination",
                   "_kfold", "_num_cv_round", "_tuning_objective_metric", "use_dask_gpu_training")
# xgb_constants.CUSTOMER_ERRORS: xgboost messages the container reports as the user's fault.
CUSTOMER_ERRORS = (
    "label must be in [0,1] for logistic regression", "label must be in [0, num_class)",
    "Target is multiclass but average='binary'", "feature_names mismatch",
    "Check failed: preds.size() == info.labels_.size()",
    "Check failed: !auc_error AUC: the dataset only contains pos or neg samples",
    "Check failed: base_score > 0.0f && base_score < 1.0f base_score must be in (0,1) for logistic loss",
    "Check failed: label_correct PoissonRegression: label must be nonnegative",
    "Check failed: label_correct TweedieRegression: label must be nonnegative",
    "Parameter reg_lambda should be greater equal to 0",
)
# xgb_constants.XGB_MAXIMIZE_METRICS: early stopping maximises these.
MAXIMIZE_METRICS = ("accuracy", "auc", "aucpr", "balanced_accuracy", "f1", "f1_binary", "f1_macro", "map",
                    "ndcg", "precision", "r2", "recall", "precision_macro", "precision_micro",
                    "recall_macro", "recall_micro")
MAX_FOLDER_DEPTH = 3  # data_utils.MAX_FOLDER_DEPTH
CHECKPOINT_FILENAME = "xgboost-checkpoint"  # checkpointing.CHECKPOINT_FILENAME
FAILURE_REASON_LIMIT = 1024  # DescribeTrainingJob's FailureReason is at most 1024 characters


class ContainerError(Exception):
    """The job fails; `reason` is its FailureReason."""

    def __init__(self, reason: str):
        reason = reason[:FAILURE_REASON_LIMIT]
        super().__init__(reason)
        self.reason = reason


def client_error(message: str) -> ContainerError:
    return ContainerError(f"ClientError: {message}")


def algorithm_error(message: str) -> ContainerError:
    return ContainerError(f"AlgorithmError: {message}")


@dataclasses.dataclass(frozen=True)
class Channel:
    """One input channel as the job describes it, downloaded to `path` (a directory or one file)."""
    name: str
    content_type: str | None
    path: Path


@dataclasses.dataclass(frozen=True)
class TrainingResult:
    model: bytes | None           # xgboost-model as 1.7.4 saves it (legacy binary); None on a non-master host
    log: list[str]                # the evaluation lines, one per round: "[0]\ttrain-rmse:0.40000\t..."
    rows: dict[str, int]          # rows read per channel

    @property
    def model_tar_gz(self) -> bytes:
        return model_archive(self.model)


# -- the channels on the host's disk (data_utils.py) --------------------------------------------

def decompress(data: bytes, compression: str | None, where: str) -> bytes:
    if (compression or "None") == "Gzip":
        try:
            return gzip.decompress(data)
        except OSError as error:
            raise client_error(f"{where}: CompressionType Gzip but the object is not gzip ({error})")
    return data


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


def channel_size(path: Path) -> int:
    """data_utils.get_size: the bytes of a channel; a hidden file anywhere under it fails the job."""
    if not path.exists():
        return 0
    if path.is_file():
        return path.stat().st_size
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            if name.startswith("."):
                raise client_error("Hidden file found in the data path! Remove that before training.")
            total += os.path.getsize(os.path.join(root, name))
    return total


def _symlink_folder(destination: str, data_path: str, depth: int) -> None:
    """data_utils._make_symlinks_from_a_folder: every file down to MAX_FOLDER_DEPTH, in one folder."""
    if depth > MAX_FOLDER_DEPTH:
        raise _TooDeep()
    if os.path.isfile(data_path):
        _symlink(data_path, destination, os.path.basename(data_path))
        return
    for item in os.scandir(data_path):
        if item.is_file():
            _symlink(item.path, destination, item.name)
        elif item.is_dir():
            _symlink_folder(destination, item.path, depth + 1)


class _TooDeep(Exception):
    """The container logs a warning and reads what it linked before it met the folder too deep
    (the walk stops there: files after it in scandir order are not read either)."""


def _symlink(path: str, destination: str, name: str) -> None:
    os.symlink(path, os.path.join(destination, name + str(hash(path))))


def _sniff_delimiter(line: str) -> str:
    try:
        return csv.Sniffer().sniff(line).delimiter
    except Exception as error:
        raise client_error(f"Could not determine delimiter on line {line[:50]}:\n{error}") from None


def load_channel(path: Path, csv_weights: bool, scratch: Path) -> xgb.DMatrix | None:
    """data_utils.get_dmatrix for text/csv in File mode; None when the channel holds no bytes."""
    if channel_size(path) == 0:
        return None
    for file in ([path] if path.is_file() else [Path(root) / name for root, _, names in os.walk(path)
                                                 for name in names if not name.startswith("_")]):
        with open(file, errors="ignore") as handle:  # validate_data_file_path: each first line
            _sniff_delimiter(handle.readline())
    linked = Path(tempfile.mkdtemp(prefix="input_data_", dir=scratch))
    try:
        _symlink_folder(str(linked), str(path), 1)
    except _TooDeep:
        pass
    first = next(iter(os.listdir(linked)), None)
    if first is None:  # the container indexes the empty listing: an error it does not catch
        raise algorithm_error("IndexError: list index out of range")
    with open(linked / first) as handle:
        delimiter = _sniff_delimiter(handle.readline())
    uri = f"{linked}?format=csv&label_column=0&delimiter={delimiter}"
    try:
        matrix = xgb.DMatrix(uri + ("&weight_column=1" if csv_weights else ""), silent=True)
    except Exception as error:
        raise client_error(f"Failed to load csv data with exception:\n{error}") from None
    if matrix.get_label().size == 0:
        raise client_error("Got input data without labels. Please check the input data set. If training "
                           "job is running on multiple instances, please switch to using single instance "
                           "if number of records in the data set is less than number of workers (16 * "
                           "number of instance) in the cluster.")
    return matrix


# -- training (algorithm_mode/train.py) ----------------------------------------------------------

def training_params(hyperparameters: dict[str, str]) -> tuple[dict[str, object], int, list[str]]:
    """xgboost.train params as the container passes them (parsed by its validation: ints, floats,
    a tuple, lists), the number of rounds, and eval_metric as the user listed it (the last one
    drives early stopping)."""
    config = xgboost_hyperparameters.validate_as_container(hyperparameters)
    params = {key: value for key, value in config.items() if key not in _CONTAINER_ONLY}
    eval_metric = config.get("eval_metric", [])
    native = [metric for metric in eval_metric if metric not in CUSTOM_METRICS]
    params.pop("eval_metric", None)
    if native:  # the container computes the others itself, as feval
        params["eval_metric"] = native
    return params, config["num_round"], eval_metric


class EvaluationLog(xgb.callback.TrainingCallback):
    """xgb.callback.EvaluationMonitor's line for every round (what SageMaker's metric regexes read),
    handed to `emit` instead of stdout; in distributed training only rank 0 writes it, as there."""

    def __init__(self, emit: Callable[[str], None]):
        super().__init__()
        self.emit = emit

    def after_iteration(self, model, epoch, evals_log) -> bool:
        if evals_log and xgb.collective.get_rank() == 0:
            line = f"[{epoch}]"
            for data, metrics in evals_log.items():
                for metric, scores in metrics.items():
                    score = scores[-1][0] if isinstance(scores[-1], tuple) else scores[-1]
                    line += f"\t{data + '-' + metric}:{score:.5f}"
            self.emit(line)
        return False


class StopWhen(xgb.callback.TrainingCallback):
    """Ends training at the next round once `stop_requested()` (StopTrainingJob, MaxRuntimeInSeconds)."""

    def __init__(self, stop_requested: Callable[[], bool]):
        super().__init__()
        self.stop_requested = stop_requested

    def after_iteration(self, model, epoch, evals_log) -> bool:
        if self.stop_requested():
            raise Stopped()
        return False


class Stopped(Exception):
    """Training was asked to stop (SageMaker's SIGTERM: the container saves nothing by default)."""


class AfterRound(xgb.callback.TrainingCallback):
    """Hands each finished round's number to `hook` (the platform's view: it syncs checkpoints, a
    spot reclaim ends the host); after the container's own callbacks, so the round's checkpoint exists."""

    def __init__(self, hook: Callable[[int], None]):
        super().__init__()
        self.hook = hook

    def after_iteration(self, model, epoch, evals_log) -> bool:
        self.hook(epoch)
        return False


# -- checkpoints (checkpointing.py, callback.get_callbacks) ---------------------------------------
# 1.7-1 resumes only from files named `xgboost-checkpoint.<round>` (load_checkpoint's pattern), yet
# saves with xgboost's own TrainingCheckPoint(iterations=<rounds resumed>), which writes
# `xgboost-checkpoint_<epoch>.json` (only once, after round 0, on a fresh start). So a restarted
# 1.7-1 job finds none of its own checkpoints and trains again from round 0; a folder holding
# `xgboost-checkpoint.N` files (written by an earlier container, or put there) is resumed from N + 1.

def load_checkpoint(checkpoint_dir: Path | None) -> tuple[str | None, int]:
    """checkpointing.load_checkpoint: the latest `xgboost-checkpoint.N` and the rounds it holds."""
    if not checkpoint_dir or not os.path.exists(checkpoint_dir):
        return None, 0
    pattern = re.compile(rf"^{CHECKPOINT_FILENAME}\.[0-9]+$")
    checkpoints = sorted((name for name in os.listdir(checkpoint_dir) if pattern.match(name)),
                         key=lambda name: int(name.split(".")[1]))
    if not checkpoints:
        return None, 0
    return os.path.join(checkpoint_dir, checkpoints[-1]), int(checkpoints[-1].split(".")[1]) + 1


def read_channels(channels: list[Channel], hyperparameters: dict[str, str], scratch: Path
                  ) -> tuple[xgb.DMatrix | None, xgb.DMatrix | None]:
    """Validate the job, then the train and validation matrices of this host (None: no data)."""
    try:  # the container's own checks; script-mode names are refused, not run
        xgboost_hyperparameters.validate_as_container(hyperparameters)
    except xgboost_hyperparameters.HyperparameterError as error:
        raise client_error(str(error)) from None
    validate_channels(channels)
    by_name = {channel.name: channel for channel in channels}
    csv_weights = hyperparameters.get("csv_weights") == "1"
    train = load_channel(by_name["train"].path, csv_weights, scratch)
    validation = (load_channel(by_name["validation"].path, csv_weights, scratch)
                  if "validation" in by_name else None)
    return train, validation


def train_job(hyperparameters: dict[str, str], train: xgb.DMatrix, validation: xgb.DMatrix | None, *,
              is_master: bool = True, stop_requested: Callable[[], bool] = lambda: False,
              emit: Callable[[str], None] = lambda line: None, checkpoint_dir: Path | None = None,
              after_round: Callable[[int], None] | None = None) -> TrainingResult:
    """algorithm_mode/train.py train_job: xgb.train with the container's callbacks and feval; with a
    `checkpoint_dir` (CheckpointConfig's LocalPath) it resumes and checkpoints as 1.7-1 does."""
    params, num_round, eval_metric = training_params(hyperparameters)
    log: list[str] = []

    def record(line: str) -> None:
        log.append(line)
        emit(line)

    xgb_model, iteration = load_checkpoint(checkpoint_dir)
    callbacks: list[xgb.callback.TrainingCallback] = [EvaluationLog(record)]
    if checkpoint_dir:
        os.makedirs(checkpoint_dir, exist_ok=True)
        callbacks.append(xgb.callback.TrainingCheckPoint(
            directory=str(checkpoint_dir), iterations=iteration, name=CHECKPOINT_FILENAME))
    if after_round is not None:
        callbacks.append(AfterRound(after_round))
    callbacks.append(StopWhen(stop_requested))
    early_stopping_rounds = hyperparameters.get("early_stopping_rounds")
    if early_stopping_rounds and validation is not None and eval_metric:
        callbacks.append(xgb.callback.EarlyStopping(
            rounds=int(early_stopping_rounds), data_name="validation", metric_name=eval_metric[-1],
            maximize=eval_metric[-1] in MAXIMIZE_METRICS, save_best=True))
    custom = [metric for metric in eval_metric if metric in CUSTOM_METRICS]
    watchlist = [(train, "train")] + ([(validation, "validation")] if validation is not None else [])
    try:
        # feval, not custom_metric: 1.7.4 hands feval the raw margins, custom_metric the predictions
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="`feval` is deprecated", category=UserWarning)
            booster = xgb.train(params, train, num_boost_round=num_round - iteration, evals=watchlist,
                                feval=_feval(custom) if custom else None, callbacks=callbacks,
                                xgb_model=xgb_model, verbose_eval=False)
    except Stopped:
        raise
    except Exception as error:
        message = str(error)
        if any(text in message for text in CUSTOMER_ERRORS):
            raise client_error(message) from None
        raise algorithm_error(f"XGB train call failed with exception:\n {message}") from None
    rows = {"train": train.num_row(), **({"validation": validation.num_row()} if validation is not None else {})}
    return TrainingResult(model=bytes(booster.save_raw()) if is_master else None, log=log, rows=rows)


def train_host(channels: list[Channel], hyperparameters: dict[str, str], *, is_master: bool = True,
               stop_requested: Callable[[], bool] = lambda: False,
               emit: Callable[[str], None] = lambda line: None, checkpoint_dir: Path | None = None,
               after_round: Callable[[int], None] | None = None) -> TrainingResult:
    """One host of a training job, single-host rules: read the channels, train, the model and log.

    Raises ContainerError (the job fails) or Stopped (it was asked to stop).
    """
    with tempfile.TemporaryDirectory(prefix="sagemaker_xgboost_") as scratch:
        train, validation = read_channels(channels, hyperparameters, Path(scratch))
        by_name = {channel.name: channel for channel in channels}
        if train is None:
            raise client_error(f"No data in training channel path {by_name['train'].path}")
        if "validation" in by_name and validation is None:
            raise client_error(f"No data in validation channel path {by_name['validation'].path}")
        return train_job(hyperparameters, train, validation, is_master=is_master,
                         stop_requested=stop_requested, emit=emit, checkpoint_dir=checkpoint_dir,
                         after_round=after_round)


def _feval(names: list[str]):
    """custom_metrics.configure_feval: the container's metrics, computed on the raw margins."""
    def custom_feval(margins: np.ndarray, matrix: xgb.DMatrix):
        labels = matrix.get_label()
        return [(name, CUSTOM_METRICS[name](labels, margins)) for name in names]
    return custom_feval


# -- what SageMaker records of the log (the algorithm's metric definitions) ------------------------

_METRIC_VALUE = r"([-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)"
# The built-in algorithm's MetricDefinitions as DescribeTrainingJob shows them: channel x metric
# name of xgb_constants, each regex reading the tab-escaped ("#011") evaluation line.
METRIC_DEFINITIONS = [
    {"Name": f"{channel}:{metric}", "Regex": f".*\\[[0-9]+\\].*#011{channel}-{metric}:{_METRIC_VALUE}.*"}
    for channel in CHANNELS for metric in xgboost_hyperparameters.METRICS]


def final_metrics(log: Iterable[str]) -> dict[str, float]:
    """FinalMetricDataList: per defined metric, the last value its regex read from the log, stored as
    a float32 (SageMaker shows 1.19876 as 1.1987600326538086). inf and nan never match."""
    patterns = [(item["Name"], re.compile(item["Regex"])) for item in METRIC_DEFINITIONS]
    final: dict[str, float] = {}
    for line in log:
        escaped = line.replace("\t", "#011")
        for name, pattern in patterns:
            match = pattern.match(escaped)
            if match:
                value = float(np.float32(match.group(1)))
                if math.isfinite(value):
                    final[name] = value
    return final


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


def model_archive(model: bytes) -> bytes:
    """model.tar.gz with one member `xgboost-model`, the bytes the container's save_model wrote."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        info = tarfile.TarInfo(MODEL_FILE)
        info.size = len(model)
        info.mode = 0o644
        archive.addfile(info, io.BytesIO(model))
    return buffer.getvalue()


# -- batch transform (serve.py, serve_utils.py, encoder.py) --------------------------------------

def load_model(model_tar_gz: bytes) -> xgb.Booster:
    """The booster inside a training job's model.tar.gz, as the serving container loads it."""
    try:
        with tarfile.open(fileobj=io.BytesIO(model_tar_gz), mode="r:*") as archive:
            members = [member for member in archive.getmembers() if member.isfile()
                       and not os.path.basename(member.name).startswith(".")]  # dotfiles are ignored
            if not members:
                raise client_error("Unable to load model: model.tar.gz holds no model file")
            raw = archive.extractfile(members[0]).read()
    except tarfile.TarError as error:
        raise client_error(f"Unable to load model: model.tar.gz is not a tar archive ({error})")
    booster = xgb.Booster()
    try:
        booster.load_model(bytearray(raw))
    except xgb.core.XGBoostError as error:
        raise client_error(f"Unable to load model: Model {members[0].name} cannot be loaded:\n"
                           f"XGB load model error={error}") from None
    return booster


_PLAIN_NUMBERS = re.compile(rb"[0-9.,eE+\-\n]*")


def csv_to_matrix(payload: bytes) -> np.ndarray:
    """encoder.csv_to_dmatrix on a payload stripped as serve_utils strips it: the delimiter sniffed
    from the first line, empty fields NaN (missing), every other field float() or the request fails.

    Plain numbers (digits, signs, dots, exponents, commas) take numpy's C parser; the same values.
    """
    text = payload.strip()
    first = text.split(b"\n", 1)[0][:512].decode("utf-8")
    sniffed = csv.Sniffer().sniff(first).delimiter
    delimiter = "," if sniffed.isalnum() else sniffed
    if delimiter == "," and _PLAIN_NUMBERS.fullmatch(text):
        lines = text.split(b"\n")
        if len({line.count(b",") for line in lines}) == 1:
            try:
                return np.array(text.replace(b"\n", b",").split(b","), dtype=np.float64).reshape(len(lines), -1)
            except ValueError:
                pass  # an empty field or a malformed number: the container's own way decides
    lines = text.decode("utf-8").split("\n")
    return np.array([["nan" if field == "" else field for field in line.split(delimiter)]
                     for line in lines]).astype(float)


def predict_batch(booster: xgb.Booster, payload: bytes) -> bytes:
    """One MultiRecord request: parse, predict, answer as serve.py does for batch transform."""
    if not payload:
        return b""  # 204 No Content
    try:  # the DMatrix too: xgboost refuses inf there, inside the container's parse step
        features = xgb.DMatrix(csv_to_matrix(payload))
    except Exception as error:
        raise client_error(f"Loading csv data failed with Exception, please ensure data is in csv format:\n"
                           f" {type(error)}\n {error}") from None
    try:  # serve_utils.predict's call (ntree_limit is 1.7.4's deprecated name for the tree count)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="ntree_limit is deprecated", category=UserWarning)
            predictions = booster.predict(features, ntree_limit=getattr(booster, "best_ntree_limit", 0),
                                          validate_features=False)
    except Exception as error:
        raise client_error(f"Unable to evaluate payload provided: {error}") from None
    return b"".join(format_predictions(predictions))


def mini_batches(chunks: Iterable[bytes], max_payload: int) -> Iterator[bytes]:
    """SplitType Line, BatchStrategy MultiRecord: whole lines, as many as fit in `max_payload` bytes.

    Memory holds one batch and one chunk, whatever the object's size.
    """
    pending = b""
    for chunk in chunks:
        pending += chunk
        while len(pending) > max_payload:
            cut = pending.rfind(b"\n", 0, max_payload + 1)
            if cut < 0:
                raise client_error(f"A record is larger than MaxPayloadInMB ({max_payload >> 20} MB): "
                                   "split it or raise MaxPayloadInMB")
            yield pending[:cut + 1]
            pending = pending[cut + 1:]
    if pending:
        yield pending


def transform(booster: xgb.Booster, chunks: Iterable[bytes], max_payload: int) -> Iterator[bytes]:
    """The `.out` object's bytes for one input object, a mini-batch at a time."""
    for batch in mini_batches(chunks, max_payload):
        if batch.strip():
            yield predict_batch(booster, batch)


def format_predictions(predictions: np.ndarray, rows_per_piece: int = 1 << 16) -> Iterator[bytes]:
    """The container's answer to a batch request, in pieces of rows: one line per row,
    `"\n".join(map(str, preds.tolist())) + "\n"` (serve.py, SAGEMAKER_BATCH), so a float32
    prediction reads as the double it widens to (0.10133367776870728) and a multi:softprob row
    as a Python list ([0.8125370144844055, 0.1874629259109497]).
    """
    for start in range(0, len(predictions), rows_per_piece):
        piece = predictions[start:start + rows_per_piece].tolist()
        yield ("\n".join(map(str, piece)) + "\n").encode("ascii")
