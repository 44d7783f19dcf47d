"""How good the predictions are against the held-out labels, by what the objective outputs, in
bounded memory and linear passes.

Numbers are parsed by pandas' C parser straight from the bytes, one chunk at a time; no Python
object per row is made (except to name a bad line, or for what only Python reads, like "nan"),
so 10 M predictions cost their 80 MB of float64 and little more (multi:softprob's K numbers a
row are reduced, chunk by chunk, to the predicted class and the true class's probability).

The objectives and the metrics themselves are lambda_src/evaluation.py's (standard library: the
state machine's Evaluate state runs them in Lambda), checked against scikit-learn's (the reference)
in tests/cli/test_scoring.py; this module reads run.py's copies of the objects for the plot and the
confusion matrix, and scores them the same way for executions that carry no evaluation.
"""

from __future__ import annotations

import csv
import io
import sys
import warnings
from collections.abc import Callable, Iterable
from typing import BinaryIO

import numpy as np

from lambda_src import evaluation

_BLOCK = 1 << 20  # elements per step of the chunked reductions


NotScorable = evaluation.NotScorable


def _numbers(
    block: bytes,
    columns: int,
    what: str,
    first_line: int,
    line_numbers: np.ndarray | None = None,
    quoted: bytes | None = None,
) -> np.ndarray:
    """The complete lines of `block` as an array of `columns` numbers per line. A bad line is
    named by `first_line` + its index, or by `line_numbers` (the lines of a sample), and quoted
    from `quoted` (the block as it was read) when given."""
    lines = block.count(b"\n")
    values = _read_csv(block, columns, lines)
    if values is None:  # pandas refused a line: name it, or read what Python reads ("inf", "1_0")
        values = np.empty((lines, columns))
        for offset, line in enumerate(block.split(b"\n")[:lines]):
            fields = line.split(b",")
            try:
                if len(fields) != columns:
                    raise ValueError
                values[offset] = [float(field) for field in fields]
            except ValueError:
                number = line_numbers[offset] if line_numbers is not None else first_line + offset
                if quoted is not None:
                    line = quoted.split(b"\n")[offset]
                shape = f"a list of {columns} numbers" if quoted is not None else f"{columns} number(s)"
                raise NotScorable(
                    f"{what} line {number} is not {shape}: {line[:60].decode(errors='replace')!r}"
                ) from None
    return values if columns > 1 else values.reshape(lines)


_NOT_IN_NUMBERS = bytes(set(range(256)) - set(b"0123456789+-.eE,\t\r\n nNaAiIfF"))


def _read_csv(block: bytes, columns: int, lines: int) -> np.ndarray | None:
    """`lines` rows of `columns` numbers by pandas' C parser (6x numpy's text parser), NaN
    spelt as Python writes it; None for anything else (a missing or extra field, a blank line,
    quotes, words: pandas would read a column of "true" as 1), which the caller reads by line."""
    if len(block.translate(None, _NOT_IN_NUMBERS)) != len(block):
        return None
    if not _pandas_pays(block):
        return _read_small(block, columns, lines)
    import pandas as pd

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", pd.errors.ParserWarning)  # extra fields are only a warning
            frame = pd.read_csv(
                io.BytesIO(block),
                header=None,
                names=range(columns),
                index_col=False,
                dtype=np.float64,
                keep_default_na=False,
                na_values=_NAN_SPELLINGS,
                skip_blank_lines=False,
                quoting=csv.QUOTE_NONE,
                engine="c",
            )
    except (ValueError, pd.errors.ParserError, pd.errors.ParserWarning):
        return None
    return frame.to_numpy() if frame.shape == (lines, columns) else None


_NAN_SPELLINGS = ["nan", "NaN", "NAN", "-nan", "+nan", "-NaN", "+NaN"]

# pandas reads numbers about 5x faster than numpy converts the same fields, but importing it costs
# 0.3-0.6 s: a block below this size is read without it, unless it is loaded already. results.py
# streams objects in 8 MiB chunks, so this is a small object (5,000 predictions are 100 KB).
_PANDAS_FROM_BYTES = 1 << 20


def _pandas_pays(block: bytes) -> bool:
    return len(block) >= _PANDAS_FROM_BYTES or "pandas" in sys.modules


def _read_small(block: bytes, columns: int, lines: int) -> np.ndarray | None:
    """As `_read_csv`, by numpy's conversion of each field (Python's float, as the caller's
    line-by-line reading): None unless every line has exactly `columns` fields, all numbers."""
    raw = np.frombuffer(block, dtype=np.uint8)
    commas_before_end = np.cumsum(raw == ord(","))[raw == ord("\n")]
    if (np.diff(commas_before_end, prepend=0) != columns - 1).any():
        return None
    try:
        values = np.array(block.replace(b",", b"\n").split(b"\n", lines * columns)[: lines * columns], dtype=np.float64)
    except ValueError:
        return None
    return values.reshape(lines, columns)


def _every(block: bytes, first: int, step: int) -> tuple[bytes, int, np.ndarray]:
    """The lines of `block` whose 0-based index (counting from `first`) is a multiple of `step`;
    the number of lines in `block`; the indexes of those chosen."""
    ends = np.flatnonzero(np.frombuffer(block, dtype=np.uint8) == 10)
    starts = np.r_[0, ends[:-1] + 1]
    chosen = np.arange((-first) % step, ends.size, step)
    return (b"".join(block[start : end + 1] for start, end in zip(starts[chosen], ends[chosen])), ends.size, chosen)


def _zero_one_lines(block: bytes) -> np.ndarray | None:
    """Fast path for the labels object: lines that are exactly "0" or "1"."""
    raw = np.frombuffer(block, dtype=np.uint8)
    if raw.size % 2 or not (raw[1::2] == 10).all():
        return None
    digits = raw[0::2] - ord("0")
    return digits.astype(np.float64) if (digits <= 1).all() else None


def _unbracketed(block: bytes, what: str, first_line: int) -> bytes:
    """Complete lines written as Python writes a list of floats, `[0.81, 0.18]` (multi:softprob
    in the container's serve.py), as comma-separated numbers; a line that is not one is named."""
    raw = np.frombuffer(block, dtype=np.uint8)
    ends = np.flatnonzero(raw == 10)
    starts = np.r_[0, ends[:-1] + 1]
    framed = (ends > starts) & (raw[starts] == ord("[")) & (raw[np.maximum(ends - 1, 0)] == ord("]"))
    if not framed.all() or block.count(b"[") != ends.size or block.count(b"]") != ends.size:
        offset = (
            int(np.argmin(framed))
            if not framed.all()
            else next(i for i, line in enumerate(block.split(b"\n")) if line.count(b"[") != 1 or line.count(b"]") != 1)
        )
        line = block.split(b"\n")[offset]
        raise NotScorable(
            f"{what} line {first_line + offset} is not a bracketed list of numbers: "
            f"{line[:60].decode(errors='replace')!r}"
        )
    if block.count(b" ") == block.count(b", "):  # every space after a comma, as str(list) writes: drop all
        return block.translate(None, b"[] ")  # 3x faster than replacing ", "
    return block.translate(None, b"[]").replace(b", ", b",")


without_assembly_blanks = evaluation.without_assembly_blanks


def read_numbers(
    chunks: Iterable[bytes],
    what: str,
    *,
    columns: int = 1,
    sink: BinaryIO | None = None,
    keep: Callable[[int, np.ndarray], np.ndarray] | None = None,
    expected: int | None = None,
    every: int | None = None,
    bracketed: bool = False,
) -> np.ndarray:
    """Parse a text object of `columns` numbers per line, streamed as byte chunks.

    `bracketed`: each line is a list, `[0.81, 0.18]`, as the container writes multi:softprob.

    Every chunk is also written to `sink` if given. `every=k` parses only every k-th line (an
    even sample; the others are counted, not read). `keep(first_row, rows)` may transform or
    select the parsed rows of each chunk. With `expected` rows known, they are parsed into one
    array of that size (no second copy to join chunks), and any other count is refused.
    """
    kept: list[np.ndarray] = []
    whole: np.ndarray | None = None
    carry, line = b"", 1

    def parse(block: bytes) -> None:
        nonlocal line, whole
        lines = block.count(b"\n")
        if every:
            block, lines, chosen = _every(block, line - 1, every)
            values = _numbers(block, columns, what, line, line + chosen) if block else np.empty((0, columns))
        elif bracketed:
            values = _numbers(_unbracketed(block, what, line), columns, what, line, quoted=block)
        else:
            values = _zero_one_lines(block) if columns == 1 else None
            if values is None:
                values = _numbers(block, columns, what, line)
        if expected is not None and not every and line - 1 + len(values) > expected:
            raise NotScorable(f"{what} has more than the {expected} lines expected")
        values = keep(line - 1, values) if keep else values
        if expected is None or every:
            kept.append(values)
        else:
            if whole is None:
                whole = np.empty((expected, *values.shape[1:]), dtype=values.dtype)
            whole[line - 1 : line - 1 + len(values)] = values
        line += lines

    for chunk in chunks:
        if sink is not None:
            sink.write(chunk)
        block = carry + chunk
        end = block.rfind(b"\n") + 1
        carry = block[end:]
        if end:
            parse(block[:end])
    if carry.strip():
        parse(carry + b"\n")
    rows = line - 1
    if expected is not None and rows != expected:
        raise NotScorable(f"{what} has {rows} lines, expected {expected}")
    if whole is not None:
        return whole
    if not kept:
        return np.empty((0, columns) if columns > 1 else 0)
    return kept[0] if len(kept) == 1 else np.concatenate(kept)


# -- what the objective outputs: one home, lambda_src/evaluation.py (the pipeline's Evaluate state) --

PROBABILITY, MARGIN, HINGE, MULTICLASS, REGRESSION = (
    evaluation.PROBABILITY,
    evaluation.MARGIN,
    evaluation.HINGE,
    evaluation.MULTICLASS,
    evaluation.REGRESSION,
)
DEFAULT_OBJECTIVE = evaluation.DEFAULT_OBJECTIVE
Objective, BINARY_LOGISTIC = evaluation.Objective, evaluation.BINARY_LOGISTIC
hyperparameter, objective_of = evaluation.hyperparameter, evaluation.objective_of
roc_auc = evaluation.roc_auc


def _first_bad(what: str, first: int, bad: np.ndarray, values: np.ndarray, wanted: str) -> NotScorable:
    index = int(np.flatnonzero(bad.reshape(bad.shape[0], -1).any(axis=1))[0])
    shown = str(values[index].tolist())
    shown = shown if len(shown) <= 80 else shown[:76] + " ..."
    return NotScorable(f"{what} line {first + index + 1} holds {shown}, {wanted}")


def _classes_only(objective: Objective, what: str, first: int, values: np.ndarray) -> None:
    bad = ~((values >= 0) & (values < objective.classes) & (values == np.floor(values)))  # NaN too
    if bad.any():
        raise _first_bad(what, first, bad, values, f"not a class 0..{objective.classes - 1}")


def label_reader(objective: Objective, what: str) -> Callable[[int, np.ndarray], np.ndarray]:
    """`keep` for read_numbers on the labels object: checked and stored as small as they fit
    (0/1 as uint8, an eighth of float64's memory)."""

    def binary(first: int, values: np.ndarray) -> np.ndarray:
        bad = (values != 0) & (values != 1)  # NaN too
        if bad.any():
            raise _first_bad(what, first, bad, values, "not 0 or 1")
        return values.astype(np.uint8)

    def classes(first: int, values: np.ndarray) -> np.ndarray:
        _classes_only(objective, what, first, values)
        return values.astype(np.uint8 if objective.classes <= 256 else np.uint16)

    def numbers(first: int, values: np.ndarray) -> np.ndarray:
        bad = ~np.isfinite(values)
        if bad.any():
            raise _first_bad(what, first, bad, values, "not a finite number")
        return values

    return {MULTICLASS: classes, REGRESSION: numbers}.get(objective.kind, binary)


def prediction_reader(objective: Objective, labels: np.ndarray, what: str) -> Callable[[int, np.ndarray], np.ndarray]:
    """`keep` for read_numbers on the transform output, which checks what the objective writes.
    multi:softprob's rows become (predicted class, probability of the true class)."""

    def finite(first: int, values: np.ndarray) -> np.ndarray:
        bad = ~np.isfinite(values)
        if bad.any():
            raise _first_bad(what, first, bad, values, "not a finite number")
        return values

    def probabilities(first: int, values: np.ndarray) -> np.ndarray:
        bad = ~((values >= 0) & (values <= 1))  # NaN too
        if bad.any():
            raise _first_bad(what, first, bad, values, "not a probability")
        return values

    def zero_one(first: int, values: np.ndarray) -> np.ndarray:
        bad = (values != 0) & (values != 1)
        if bad.any():
            raise _first_bad(what, first, bad, values, "not 0 or 1")
        return values.astype(np.uint8)

    def classes(first: int, values: np.ndarray) -> np.ndarray:
        _classes_only(objective, what, first, values)
        return values.astype(np.uint16)

    def class_probabilities(first: int, values: np.ndarray) -> np.ndarray:
        probabilities(first, values)
        if first + len(values) > labels.size:
            raise NotScorable(f"{what} has more lines than the {labels.size} labels")
        truth = labels[first : first + len(values)]
        reduced = np.empty((len(values), 2))
        reduced[:, 0] = values.argmax(axis=1)
        reduced[:, 1] = values[np.arange(len(values)), truth]
        return reduced

    if objective.kind == MULTICLASS:
        return class_probabilities if objective.bracketed else classes
    return {PROBABILITY: probabilities, HINGE: zero_one}.get(objective.kind, finite)


# -- the metrics: lambda_src/evaluation.py's, the pipeline's own -------------------------------------

CONFUSION_CLASSES = 100  # a larger confusion matrix is neither recorded nor drawn


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray, classes: int) -> np.ndarray:
    """counts[true class, predicted class], as int64 (classes² of them)."""
    counts = np.zeros(classes * classes, dtype=np.int64)
    for start in range(0, labels.size, _BLOCK):
        truth = labels[start : start + _BLOCK].astype(np.int64)
        counts += np.bincount(
            truth * classes + predicted[start : start + _BLOCK].astype(np.int64), minlength=classes * classes
        )
    return counts.reshape(classes, classes)


def score(
    labels: np.ndarray, predictions: np.ndarray, objective: Objective = BINARY_LOGISTIC
) -> tuple[dict[str, float | None], dict[str, str]]:
    """The metrics of `objective`'s predictions (as its `prediction_reader` kept them) against the
    labels (as its `label_reader` kept them), and for any that is undefined (None), the reason:
    lambda_src.evaluation.score, which the pipeline's Evaluate state runs on the same rows."""
    if objective.bracketed:
        predictions = (predictions[:, 0].tolist(), predictions[:, 1].tolist()) if predictions.size else ([], [])
    else:
        predictions = predictions.tolist()
    return evaluation.score(labels.tolist(), predictions, objective)
