"""How good the predictions are against the held-out labels, by what the objective outputs, in
bounded memory and linear passes.

Numbers are parsed by pandas' C parser straight from the bytes, one chunk at a time; no Python
object per row is made (except to name a bad line, or for what only Python reads, like "nan"),
so 10 M predictions cost their 80 MB of float64 and little more (multi:softprob's K numbers a
row are reduced, chunk by chunk, to the predicted class and the true class's probability).

The metrics are numpy, checked against scikit-learn's (the reference) in tests/test_scoring.py:
scikit-learn costs 1.2 s to import and, at 10 M rows, about 13 s and 900 MiB more than these
(`venv/bin/python bench/scoring_bench.py`).
"""

from __future__ import annotations

import csv
import io
import math
import re
import sys
import warnings
from dataclasses import dataclass
from typing import BinaryIO, Callable, Iterable, Iterator

import numpy as np

_BLOCK = 1 << 20  # elements per step of the chunked reductions


class NotScorable(ValueError):
    """The predictions cannot be scored (wrong shape, not numbers); the message says why."""


def _numbers(block: bytes, columns: int, what: str, first_line: int,
             line_numbers: np.ndarray | None = None, quoted: bytes | None = None) -> np.ndarray:
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
                raise NotScorable(f"{what} line {number} is not {shape}: "
                                  f"{line[:60].decode(errors='replace')!r}") from None
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
            frame = pd.read_csv(io.BytesIO(block), header=None, names=range(columns), index_col=False,
                                dtype=np.float64, keep_default_na=False, na_values=_NAN_SPELLINGS,
                                skip_blank_lines=False, quoting=csv.QUOTE_NONE, engine="c")
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
        values = np.array(block.replace(b",", b"\n").split(b"\n", lines * columns)[:lines * columns],
                          dtype=np.float64)
    except ValueError:
        return None
    return values.reshape(lines, columns)


def _every(block: bytes, first: int, step: int) -> tuple[bytes, int, np.ndarray]:
    """The lines of `block` whose 0-based index (counting from `first`) is a multiple of `step`;
    the number of lines in `block`; the indexes of those chosen."""
    ends = np.flatnonzero(np.frombuffer(block, dtype=np.uint8) == 10)
    starts = np.r_[0, ends[:-1] + 1]
    chosen = np.arange((-first) % step, ends.size, step)
    return (b"".join(block[start:end + 1] for start, end in zip(starts[chosen], ends[chosen])),
            ends.size, chosen)


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
        offset = int(np.argmin(framed)) if not framed.all() else next(
            i for i, line in enumerate(block.split(b"\n")) if line.count(b"[") != 1 or line.count(b"]") != 1)
        line = block.split(b"\n")[offset]
        raise NotScorable(f"{what} line {first_line + offset} is not a bracketed list of numbers: "
                          f"{line[:60].decode(errors='replace')!r}")
    if block.count(b" ") == block.count(b", "):  # every space after a comma, as str(list) writes: drop all
        return block.translate(None, b"[] ")  # 3x faster than replacing ", "
    return block.translate(None, b"[]").replace(b", ", b",")


_BLANK_AFTER_A_LINE = re.compile(rb"(?<=[^\n]\n)\n")


def without_assembly_blanks(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """The batch transform output without the blank lines SageMaker's assembly may add.

    The container ends each mini-batch answer with a newline (serve.py, SAGEMAKER_BATCH), and
    AssembleWith Line adds "a newline character at the end of every transformed record": if that
    newline comes after each answer, a blank line follows every mini-batch. A prediction line is
    never empty, so one blank line right after a prediction can only be that; it is dropped. A
    blank line anywhere else (first, or a second one in a row) is left for the parser to refuse.
    """
    carry, after_line = b"", False  # after_line: the last complete line is a prediction
    for chunk in chunks:
        block = carry + chunk
        end = block.rfind(b"\n") + 1
        carry, lines = block[end:], block[:end]
        if not lines:
            continue
        body = lines[1:] if after_line and lines.startswith(b"\n") else lines
        if b"\n\n" in body:
            body = _BLANK_AFTER_A_LINE.sub(b"", body)
        after_line = len(lines) >= 2 and lines[-2:-1] != b"\n"
        if body:
            yield body
    if carry:
        yield carry


def read_numbers(chunks: Iterable[bytes], what: str, *, columns: int = 1,
                 sink: BinaryIO | None = None, keep: Callable[[int, np.ndarray], np.ndarray] | None = None,
                 expected: int | None = None, every: int | None = None, bracketed: bool = False) -> np.ndarray:
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
            whole[line - 1:line - 1 + len(values)] = values
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


# -- what the objective outputs -------------------------------------------------------------------

PROBABILITY, MARGIN, HINGE, MULTICLASS, REGRESSION = (
    "binary probability", "binary margin", "binary class", "multiclass", "regression")
_KINDS = {
    "binary:logistic": PROBABILITY, "reg:logistic": PROBABILITY,
    "binary:logitraw": MARGIN, "binary:hinge": HINGE,
    "multi:softmax": MULTICLASS, "multi:softprob": MULTICLASS,
    **dict.fromkeys(("reg:squarederror", "reg:linear", "reg:squaredlogerror", "reg:absoluteerror",
                     "reg:pseudohubererror", "reg:gamma", "reg:tweedie", "count:poisson"), REGRESSION),
}
DEFAULT_OBJECTIVE = "reg:squarederror"  # the container's (and XGBoost's) when none is given
_MAX_CLASSES = 1 << 16


@dataclass(frozen=True)
class Objective:
    """What the predictions of an objective are: `kind`, and for multiclass the class count."""

    name: str
    kind: str
    classes: int = 2

    @property
    def bracketed(self) -> bool:
        """One list of `classes` probabilities per line."""
        return self.name == "multi:softprob"


BINARY_LOGISTIC = Objective("binary:logistic", PROBABILITY)


def hyperparameter(hyperparameters, name: str) -> str | None:
    """One value of the run's hyperparameters: a dict, or the stack settings' "key=value" strings."""
    if isinstance(hyperparameters, list):
        pairs = (item.partition("=") for item in hyperparameters if isinstance(item, str))
        hyperparameters = {key.strip(): value for key, _, value in pairs}
    value = hyperparameters.get(name) if isinstance(hyperparameters, dict) else None
    return None if value is None else str(value).strip()


def objective_of(hyperparameters) -> Objective:
    """The run's objective (`objective`, `num_class` hyperparameters); NotScorable for one whose
    predictions no metric here reads (ranking scores, survival times)."""
    name = hyperparameter(hyperparameters, "objective") or DEFAULT_OBJECTIVE
    kind = _KINDS.get(name)
    if kind is None:
        raise NotScorable(f"objective {name} is not scored: its predictions are not probabilities, classes "
                          "or values to set against the labels (scored: binary:*, reg:logistic, multi:*, "
                          "reg:squarederror and the other regression and count objectives)")
    if kind != MULTICLASS:
        return Objective(name, kind)
    given = hyperparameter(hyperparameters, "num_class") or ""
    if not given.isdigit() or not 2 <= int(given) <= _MAX_CLASSES:
        raise NotScorable(f"objective {name} needs num_class, a whole number from 2 to {_MAX_CLASSES}; "
                          f"got {given or 'none'}")
    return Objective(name, kind, int(given))


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


def prediction_reader(objective: Objective, labels: np.ndarray,
                      what: str) -> Callable[[int, np.ndarray], np.ndarray]:
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
        truth = labels[first:first + len(values)]
        reduced = np.empty((len(values), 2))
        reduced[:, 0] = values.argmax(axis=1)
        reduced[:, 1] = values[np.arange(len(values)), truth]
        return reduced

    if objective.kind == MULTICLASS:
        return class_probabilities if objective.bracketed else classes
    return {PROBABILITY: probabilities, HINGE: zero_one}.get(objective.kind, finite)


# -- the metrics ----------------------------------------------------------------------------------

_EPSILON = float(np.finfo(np.float64).eps)  # scikit-learn's log_loss clips to [eps, 1 - eps]


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float | None:
    """Area under the ROC curve: P(positive scores higher) + half P(tie). None if one class only.

    Sorts the positives' and the negatives' scores once, then counts, for each positive, the
    negatives below and equal to it by binary search: O(n log n), one copy of the scores.
    """
    positive = labels == 1
    pos, neg = scores[positive], scores[~positive]  # copies, sorted in place: no third copy
    del positive
    pos.sort()
    neg.sort()
    if pos.size == 0 or neg.size == 0:
        return None
    wins = 0.0
    for start in range(0, pos.size, _BLOCK):
        block = pos[start:start + _BLOCK]
        below = np.searchsorted(neg, block, side="left")
        up_to = np.searchsorted(neg, block, side="right")
        wins += below.sum(dtype=np.float64) + 0.5 * (up_to - below).sum(dtype=np.float64)
    return float(wins / (pos.size * neg.size))


CONFUSION_CLASSES = 100  # a larger confusion matrix is neither recorded nor drawn


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray, classes: int) -> np.ndarray:
    """counts[true class, predicted class], as int64 (classes² of them)."""
    counts = np.zeros(classes * classes, dtype=np.int64)
    for start in range(0, labels.size, _BLOCK):
        truth = labels[start:start + _BLOCK].astype(np.int64)
        counts += np.bincount(truth * classes + predicted[start:start + _BLOCK].astype(np.int64),
                              minlength=classes * classes)
    return counts.reshape(classes, classes)


def _ratio(numerator: float, denominator: float) -> float | None:
    return float(numerator / denominator) if denominator else None


def _binary_counts(labels: np.ndarray, positive: Callable[[np.ndarray], np.ndarray],
                   predictions: np.ndarray) -> tuple[int, int, int]:
    """True positives, predicted positives, actual positives."""
    hits = predicted_positive = actual_positive = 0
    for start in range(0, labels.size, _BLOCK):
        truth = labels[start:start + _BLOCK] == 1
        guess = positive(predictions[start:start + _BLOCK])
        hits += np.count_nonzero(truth & guess)
        predicted_positive += np.count_nonzero(guess)
        actual_positive += np.count_nonzero(truth)
    return hits, predicted_positive, actual_positive


def _classification(labels, predictions, positive, names) -> tuple[dict, dict]:
    n = labels.size
    hits, predicted, actual = _binary_counts(labels, positive, predictions)
    correct = n - (predicted - hits) - (actual - hits)
    scores = {"accuracy": correct / n, "precision": _ratio(hits, predicted),
              "recall": _ratio(hits, actual), "f1": _ratio(2 * hits, predicted + actual)}
    undefined = {}
    if scores["precision"] is None:
        undefined["precision"] = "undefined: no held-out row is predicted positive"
    if scores["recall"] is None:
        undefined["recall"] = "undefined: no held-out label is 1"
    if scores["f1"] is None:
        undefined["f1"] = "undefined: no held-out row is positive, predicted or labelled"
    return {name: scores[name] for name in names}, {k: v for k, v in undefined.items() if k in names}


def _auc(labels, scores) -> tuple[float | None, dict]:
    auc = roc_auc(labels, scores)
    if auc is not None:
        return auc, {}
    return None, {"auc": f"undefined: every held-out label is {int(labels[0])}, "
                         "AUC needs both classes (use more --rows)"}


def _log_loss_of(probabilities: np.ndarray, binary_labels: np.ndarray | None = None) -> float:
    """Mean -log p of the true class (p clipped as scikit-learn clips it): `probabilities` are the
    true class's, or with `binary_labels` P(label = 1)."""
    total = 0.0
    for start in range(0, probabilities.size, _BLOCK):
        p = probabilities[start:start + _BLOCK]
        if binary_labels is not None:
            p = np.where(binary_labels[start:start + _BLOCK] == 1, p, 1 - p)
        total -= np.log(np.clip(p, _EPSILON, 1 - _EPSILON)).sum()
    return total / probabilities.size


def _squared_and_absolute(labels, predictions) -> tuple[float, float]:
    squared = absolute = 0.0
    for start in range(0, labels.size, _BLOCK):
        error = predictions[start:start + _BLOCK] - labels[start:start + _BLOCK]
        with np.errstate(over="ignore"):  # an overflow is a metric that is not finite: see finite_only
            squared += np.square(error).sum()
        absolute += np.abs(error).sum()
    return squared, absolute


def score(labels: np.ndarray, predictions: np.ndarray,
          objective: Objective = BINARY_LOGISTIC) -> tuple[dict[str, float | None], dict[str, str]]:
    """The metrics of `objective`'s predictions (as its `prediction_reader` kept them) against the
    labels (as its `label_reader` kept them), and for any that is undefined (None), the reason.
    See docs/results.md, "How a run is scored"."""
    return finite_only(*_score(labels, predictions, objective))


def _score(labels: np.ndarray, predictions: np.ndarray, objective: Objective) -> tuple[dict, dict]:
    if labels.size != len(predictions):
        raise NotScorable(f"{len(predictions)} predictions for {labels.size} labels")
    if labels.size == 0:
        raise NotScorable("no predictions to score")
    kind = objective.kind
    if kind == PROBABILITY:
        scores, undefined = _classification(labels, predictions, lambda p: p > 0.5,
                                            ("accuracy", "precision", "recall", "f1"))
        scores["auc"], auc_undefined = _auc(labels, predictions)
        scores["logloss"] = _log_loss_of(predictions, labels)
        scores["rmse"] = float(np.sqrt(_squared_and_absolute(labels, predictions)[0] / labels.size))
        return _ordered(scores, ("accuracy", "auc", "logloss", "rmse", "precision", "recall", "f1")), \
            {**auc_undefined, **undefined}
    if kind == MARGIN:
        scores, undefined = _classification(labels, predictions, lambda m: m > 0, ("accuracy",))
        scores["auc"], auc_undefined = _auc(labels, predictions)
        return _ordered(scores, ("accuracy", "auc")), auc_undefined
    if kind == HINGE:
        return _classification(labels, predictions, lambda c: c == 1, ("accuracy", "f1"))
    if kind == MULTICLASS:
        predicted = predictions[:, 0] if objective.bracketed else predictions
        hits, labelled, guessed = _per_class(labels, predicted, objective.classes)
        scores = {"accuracy": float(hits.sum() / labels.size), "f1": macro_f1(hits, labelled, guessed)}
        if objective.bracketed:
            scores["logloss"] = _log_loss_of(predictions[:, 1])
        return scores, {}
    squared, absolute = _squared_and_absolute(labels, predictions)
    mean = float(np.mean(labels))
    spread = sum(float(np.square(labels[start:start + _BLOCK] - mean).sum())
                 for start in range(0, labels.size, _BLOCK))
    scores = {"rmse": float(np.sqrt(squared / labels.size)), "mae": absolute / labels.size,
              "r2": 1 - squared / spread if spread else None}
    undefined = {} if spread else {"r2": f"undefined: every held-out label is {float(labels[0]):g}, "
                                         "R² needs labels that vary"}
    return scores, undefined


def _per_class(labels: np.ndarray, predicted: np.ndarray, classes: int) -> tuple[np.ndarray, ...]:
    """Per class: rows predicted right, rows labelled, rows predicted (O(classes) memory)."""
    hits, labelled, guessed = (np.zeros(classes, dtype=np.int64) for _ in range(3))
    for start in range(0, labels.size, _BLOCK):
        truth = labels[start:start + _BLOCK].astype(np.int64)
        guess = predicted[start:start + _BLOCK].astype(np.int64)
        hits += np.bincount(truth[truth == guess], minlength=classes)
        labelled += np.bincount(truth, minlength=classes)
        guessed += np.bincount(guess, minlength=classes)
    return hits, labelled, guessed


def macro_f1(hits: np.ndarray, labelled: np.ndarray, guessed: np.ndarray) -> float:
    """The mean F1 over the classes that occur among the labels or the predictions (as
    scikit-learn's f1_score(average="macro") averages)."""
    present = (labelled + guessed) > 0
    return float(np.mean(2 * hits[present] / (labelled + guessed)[present]))


def _ordered(scores: dict, names: tuple[str, ...]) -> dict:
    return {name: float(scores[name]) if scores[name] is not None else None for name in names}


def finite_only(scores: dict, undefined: dict) -> tuple[dict, dict]:
    """A metric that overflowed (rmse of predictions near 1e308) is None, with the reason."""
    for name, value in scores.items():
        scores[name] = None if value is None else float(value)
        if value is not None and not math.isfinite(value):
            scores[name] = None
            undefined[name] = f"not finite ({value}): the predictions or labels overflow float64"
    return scores, undefined
