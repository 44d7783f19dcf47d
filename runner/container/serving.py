"""Batch transform requests, answered as the container's serve.py answers them.

The model is loaded from /opt/ml/model as the serving container loads it; each request (one
MultiRecord mini-batch of text/csv, split by the platform) is parsed as `encoder.py` parses it and
answered `"\n".join(map(str, preds.tolist())) + "\n"` (serve.py, SAGEMAKER_BATCH), on every image.
The requests come over a pipe instead of HTTP: `serve` reads frames (a 4-byte big-endian length,
then the payload) and answers each with a status byte (0 answer, 1 failure reason) and a frame.
"""

from __future__ import annotations

import csv
import inspect
import os
import re
import struct
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np
import xgboost as xgb

from runner.container.failures import ContainerError, client_error

_PLAIN_NUMBERS = re.compile(rb"[0-9.,eE+\-\n]*")


def load_model(model_dir: Path) -> xgb.Booster:
    """The booster of /opt/ml/model (the training job's model.tar.gz, unpacked), as serve_utils loads it."""
    files = sorted(path for path in model_dir.rglob("*") if path.is_file() and not path.name.startswith("."))
    if not files:
        raise client_error("Unable to load model: model.tar.gz holds no model file")
    booster = xgb.Booster()
    try:
        booster.load_model(bytearray(files[0].read_bytes()))
    except xgb.core.XGBoostError as error:
        raise client_error(
            f"Unable to load model: Model {files[0].name} cannot be loaded:\nXGB load model error={error}"
        ) from None
    return booster


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
    return np.array([["nan" if field == "" else field for field in line.split(delimiter)] for line in lines]).astype(
        float
    )


def _predict(booster: xgb.Booster, features: xgb.DMatrix) -> np.ndarray:
    """serve_utils.predict's `_predict_with_compat` (3.x; 1.7-1 passes ntree_limit alone): the
    tree count 1.7.4 kept as best_ntree_limit, which 2.0+ boosters no longer have."""
    best = int(getattr(booster, "best_ntree_limit", 0) or 0)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="ntree_limit is deprecated", category=UserWarning)
        if "ntree_limit" in inspect.signature(booster.predict).parameters:
            return booster.predict(features, ntree_limit=best, validate_features=False)
        if best > 0:
            return booster.predict(features, iteration_range=(0, best), validate_features=False)
        return booster.predict(features, validate_features=False)


def predict_batch(booster: xgb.Booster, payload: bytes) -> bytes:
    """One MultiRecord request: parse, predict, answer as serve.py does for batch transform."""
    if not payload.strip():
        return b""  # 204 No Content
    try:  # the DMatrix too: xgboost refuses inf there, inside the container's parse step
        features = xgb.DMatrix(csv_to_matrix(payload))
    except Exception as error:
        raise client_error(
            f"Loading csv data failed with Exception, please ensure data is in csv format:\n {type(error)}\n {error}"
        ) from None
    try:
        predictions = _predict(booster, features)
    except Exception as error:
        raise client_error(f"Unable to evaluate payload provided: {error}") from None
    return b"".join(format_predictions(predictions))


def format_predictions(predictions: np.ndarray, rows_per_piece: int = 1 << 16) -> Iterator[bytes]:
    """`"\n".join(map(str, preds.tolist())) + "\n"`, in pieces of rows: a float32 prediction reads
    as the double it widens to (0.10133367776870728), a multi:softprob row as a Python list."""
    for start in range(0, len(predictions), rows_per_piece):
        piece = predictions[start : start + rows_per_piece].tolist()
        yield ("\n".join(map(str, piece)) + "\n").encode("ascii")


def _read_frame(stream: BinaryIO) -> bytes | None:
    head = stream.read(4)
    if len(head) < 4:
        return None
    size = struct.unpack(">I", head)[0]
    return stream.read(size)


def serve(ml: Path, requests: BinaryIO, answers: BinaryIO) -> None:
    """Load the model, then answer each request frame until `requests` closes."""
    try:
        booster = load_model(ml / "model")
    except ContainerError as error:
        _answer(answers, 1, error.reason.encode())
        return
    _answer(answers, 0, b"")  # ready: the model loaded
    while (payload := _read_frame(requests)) is not None:
        try:
            _answer(answers, 0, predict_batch(booster, payload))
        except ContainerError as error:
            _answer(answers, 1, error.reason.encode())


def _answer(answers: BinaryIO, status: int, body: bytes) -> None:
    answers.write(struct.pack(">BI", status, len(body)) + body)
    answers.flush()


def answers_channel(log: Path) -> BinaryIO:
    """stdout's pipe for the answers alone: what else prints (the library's warnings) goes to `log`."""
    answers = os.fdopen(os.dup(1), "wb")
    with open(log, "ab") as handle:
        os.dup2(handle.fileno(), 1)
        os.dup2(handle.fileno(), 2)
    return answers
