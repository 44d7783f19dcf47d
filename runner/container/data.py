"""The channels on the host's disk, read as the container reads them (data_utils.py, File mode, text/csv).

The channel files (down to MAX_FOLDER_DEPTH) are symlinked into one folder and read by XGBoost's
own CSV parser, the delimiter sniffed from the first line; a hidden file fails the job.
"""

from __future__ import annotations

import csv
import os
import tempfile
from pathlib import Path

import xgboost as xgb

from lambda_src import xgboost_hyperparameters
from runner.container.failures import algorithm_error, client_error

CSV_CONTENT_TYPES = ("text/csv", "csv")
# What the real container accepts but this one does not read (it fails them explicitly).
OTHER_CONTENT_TYPES = (
    "text/libsvm",
    "libsvm",
    "text/x-libsvm",
    "application/x-parquet",
    "parquet",
    "application/x-recordio-protobuf",
    "recordio-protobuf",
)
CHANNELS = ("train", "validation")
MAX_FOLDER_DEPTH = 3  # data_utils.MAX_FOLDER_DEPTH


def validate_channels(data_config: dict[str, dict]) -> None:
    """The container's channel validation (sagemaker_algorithm_toolkit.channel_validation)."""
    if "train" not in data_config:
        raise client_error("Missing required channel: train")
    for name, config in data_config.items():
        if name not in CHANNELS:
            raise client_error(f"Extraneous channel found: {name}")
        content_type = (config.get("ContentType") or "text/libsvm").split(";")[0].strip().lower()
        if content_type in OTHER_CONTENT_TYPES:
            raise client_error(
                f"Channel configuration for '{name}' channel uses "
                f"{content_type}: the local container reads text/csv only"
            )
        if content_type not in CSV_CONTENT_TYPES:
            raise client_error(
                f"Channel configuration for '{name}' channel is not "
                f"supported: ContentType {config.get('ContentType')!r}"
            )


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
    for file in (
        [path]
        if path.is_file()
        else [Path(root) / name for root, _, names in os.walk(path) for name in names if not name.startswith("_")]
    ):
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
        raise client_error(
            "Got input data without labels. Please check the input data set. If training "
            "job is running on multiple instances, please switch to using single instance "
            "if number of records in the data set is less than number of workers (16 * "
            "number of instance) in the cluster."
        )
    return matrix


def read_channels(
    ml: Path, data_config: dict[str, dict], hyperparameters: dict[str, str], image, scratch: Path
) -> tuple[xgb.DMatrix | None, xgb.DMatrix | None]:
    """Validate the job, then this host's train and validation matrices (None: no data)."""
    try:  # the container's own checks; script-mode names are refused, not run
        xgboost_hyperparameters.validate_as_container(hyperparameters)
    except xgboost_hyperparameters.HyperparameterError as error:
        raise client_error(str(error)) from None
    validate_channels(data_config)
    if image.pipe_mode_refusal and any(config.get("TrainingInputMode") == "Pipe" for config in data_config.values()):
        raise client_error(image.pipe_mode_refusal)
    csv_weights = hyperparameters.get("csv_weights") == "1"
    train = load_channel(ml / "input" / "data" / "train", csv_weights, scratch)
    validation = (
        load_channel(ml / "input" / "data" / "validation", csv_weights, scratch)
        if "validation" in data_config
        else None
    )
    return train, validation
