"""How good the predictions are against the held-out labels, in bounded memory and linear passes.

Numbers are parsed by pandas' C parser straight from the bytes, one chunk at a time; no Python
object per row is made (except to name a bad line, or for what only Python reads, like "nan"),
so 10 M predictions cost their 80 MB of float64 and little more.
"""

from __future__ import annotations

import csv
import io
import warnings
from typing import BinaryIO, Callable, Iterable

import numpy as np

_EPSILON = 1e-15
_BLOCK = 1 << 20  # elements per step of the chunked reductions


class NotScorable(ValueError):
    """The predictions cannot be scored (wrong shape, not numbers); the message says why."""


def _numbers(block: bytes, columns: int, what: str, first_line: int,
             line_numbers: np.ndarray | None = None) -> np.ndarray:
    """The complete lines of `block` as an array of `columns` numbers per line. A bad line is
    named by `first_line` + its index, or by `line_numbers` (the lines of a sample)."""
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
                raise NotScorable(f"{what} line {number} is not {columns} number(s): "
                                  f"{line[:60].decode(errors='replace')!r}") from None
    return values if columns > 1 else values.reshape(lines)


_NOT_IN_NUMBERS = bytes(set(range(256)) - set(b"0123456789+-.eE,\t\r\n nNaAiIfF"))


def _read_csv(block: bytes, columns: int, lines: int) -> np.ndarray | None:
    """`lines` rows of `columns` numbers by pandas' C parser (6x numpy's text parser), NaN
    spelt as Python writes it; None for anything else (a missing or extra field, a blank line,
    quotes, words: pandas would read a column of "true" as 1), which the caller reads by line."""
    import pandas as pd

    if len(block.translate(None, _NOT_IN_NUMBERS)) != len(block):
        return None
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


def read_numbers(chunks: Iterable[bytes], what: str, *, columns: int = 1,
                 sink: BinaryIO | None = None, keep: Callable[[int, np.ndarray], np.ndarray] | None = None,
                 expected: int | None = None, every: int | None = None) -> np.ndarray:
    """Parse a text object of `columns` numbers per line, streamed as byte chunks.

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
        else:
            values = _zero_one_lines(block) if columns == 1 else None
            if values is None:
                values = _numbers(block, columns, what, line)
        values = keep(line - 1, values) if keep else values
        if expected is None or every:
            kept.append(values)
        else:
            if line - 1 + len(values) > expected:
                raise NotScorable(f"{what} has more than the {expected} lines expected")
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


def labels_from(values: np.ndarray, what: str) -> np.ndarray:
    """0/1 labels as uint8 (an eighth of float64's memory)."""
    labels = values.astype(np.uint8)
    if not np.array_equal(labels, values) or labels.max(initial=0) > 1:
        raise NotScorable(f"{what} holds values other than 0 and 1")
    return labels


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


def score(labels: np.ndarray, predictions: np.ndarray) -> tuple[dict[str, float | None], dict[str, str]]:
    """accuracy (threshold 0.5), auc, rmse and logloss of probability predictions.

    Returns the metrics and, for any that is undefined (None), the reason.
    """
    if labels.size != predictions.size:
        raise NotScorable(f"{predictions.size} predictions for {labels.size} labels")
    if labels.size == 0:
        raise NotScorable("no predictions to score")
    correct = squared = log_loss = 0.0
    for start in range(0, labels.size, _BLOCK):
        truth = labels[start:start + _BLOCK].astype(np.float64)
        guess = predictions[start:start + _BLOCK]
        if not np.isfinite(guess).all():
            raise NotScorable("the predictions include NaN or infinite values")
        correct += np.count_nonzero((guess >= 0.5) == (truth == 1))
        squared += np.square(guess - truth).sum()
        clipped = np.clip(guess, _EPSILON, 1 - _EPSILON)
        log_loss -= (truth * np.log(clipped) + (1 - truth) * np.log(1 - clipped)).sum()
    auc = roc_auc(labels, predictions)
    notes = {}
    if auc is None:
        notes["auc"] = (f"undefined: every held-out label is {int(labels[0])}, "
                        "AUC needs both classes (use more --rows)")
    return {
        "accuracy": float(correct / labels.size),
        "auc": auc,
        "rmse": float(np.sqrt(squared / labels.size)),
        "logloss": float(log_loss / labels.size),
    }, notes
