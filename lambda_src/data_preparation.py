"""A user's CSV made into the layout training reads (standard library only: Lambda has no numpy).

One rule set for both callers: the seeding function's `prepare` action (objects streamed from
S3) and `run.py --data FILE` (a local file checked before anything is uploaded or started).

The input: CSV with a header row, comma-separated, UTF-8 (a byte-order mark is ignored). The
label column is named (default `label`); every other column is a feature and must be numeric:
an empty cell (or `nan`) is a missing value, as the container reads it; `inf`, text or a row
with another number of fields than the header stops the preparation with one line naming the
line and the column. Categorical features are the user's to encode.

Labels: numbers, or text (class names). Text labels map to 0..K-1 in order of first
appearance, the mapping returned as `classes`. Whether labels are text is decided by the
first data row (a text label there makes every label a class name).

The output (contract 2 of the team's design): label-first, headerless, comma-separated lines,
rows split by a seeded RNG: per data row, `r = random.Random(seed).random()` (one draw per row,
in file order): `r < test` goes to the held-out test set, `r < test + validation` to
validation, the rest to training, dealt round-robin across the training shards. With a test
file, every row of it is test data and the main file is split into training and validation.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import math
import random
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Protocol, TextIO

from .evaluation import MAX_HELD_OUT_ROWS
from .suggestions import closest

DEFAULT_LABEL = "label"
DEFAULT_SPLIT = {"validation": 0.1, "test": 0.2}
MAX_CLASSES = 1000  # distinct text labels kept in memory (and that a classifier can use)
MAX_COLUMNS = 10_000
# The longest row read (characters, a quoted cell's line breaks included): 10,000 columns of
# 100 characters. Memory stays bounded however long a line is: no more of it is read.
MAX_ROW_CHARS = 1 << 20
MAX_RECORD_BYTES = 64 * 1024  # column and class names as JSON, in the execution's state
# Lambda preparation speed, input bytes per second: `bench/prepare_bench.py` measured 6.5-7.4 MB/s
# (30 numeric columns, moto's S3 over HTTP, a shared 2-core machine); halved, the safety factor of
# the generator's estimate. An estimate from the emulator, not measured on AWS.
PREPARE_BYTES_PER_SECOND = 3_500_000
LAMBDA_BUDGET_SECONDS = 900 - 60  # the function's timeout, less a margin for start-up and clean-up
_MISSING = {"", "nan", "NaN", "NAN"}
# Text feature columns (categorical): the first CATEGORY_SAMPLE_ROWS data rows decide which
# columns hold text; one with at most ONE_HOT_MAX categories there is one-hot encoded (one 0/1
# column per category), one with more is ordinal (a code per category, in order of first
# appearance), up to MAX_CATEGORIES.
CATEGORY_SAMPLE_ROWS = 10_000
CATEGORY_SAMPLE_CELLS = 500_000  # held in memory at once: a wide file's sample has fewer rows
ONE_HOT_MAX = 10
MAX_CATEGORIES = 1000
CATEGORICAL_CHOICES = ("auto", "off")
# A row of plain decimal numbers or empty cells, already as the output writes it: checked with one
# regex instead of cell by cell (the common case; anything else takes the per-cell path).
# Unambiguous (one way to match any text, so a row that fails late fails in linear time), and at
# most 300 integer digits: longer numbers overflow a double, which the per-cell check refuses.
_NUMBER = r"[+-]?(?:[0-9]{1,300}(?:\.[0-9]*)?|\.[0-9]+)"
_PLAIN_ROW = re.compile(rf"(?:{_NUMBER})?(?:,(?:{_NUMBER})?)*")


class InvalidData(ValueError):
    """The data cannot be trained on; the message is one line naming the problem and the fix."""


def estimate_seconds(size_bytes: int) -> float:
    return size_bytes / PREPARE_BYTES_PER_SECOND


def check_fits_lambda(size_bytes: int, what: str) -> None:
    """Refuse, before reading a byte, data the function could not prepare within its time limit."""
    seconds = estimate_seconds(size_bytes)
    if seconds > LAMBDA_BUDGET_SECONDS:
        raise InvalidData(
            f"{what}: {size_bytes / 1e9:.1f} GB would take about {seconds:,.0f} s to prepare in Lambda "
            f"(estimated at {PREPARE_BYTES_PER_SECOND / 1e6:.1f} MB/s from the emulator, not measured on AWS), over "
            f"its {LAMBDA_BUDGET_SECONDS} s budget: give at most "
            f"{LAMBDA_BUDGET_SECONDS * PREPARE_BYTES_PER_SECOND / 1e9:.1f} GB per run"
        )


class Sink(Protocol):
    def train(self, shard: int, line: str) -> None: ...
    def validation(self, line: str) -> None: ...
    def test(self, features: str, label: str) -> None: ...


class CountingSink:
    """Writes nothing: for checking a file before it is uploaded."""

    def train(self, shard: int, line: str) -> None:
        pass

    def validation(self, line: str) -> None:
        pass

    def test(self, features: str, label: str) -> None:
        pass


@dataclass
class Prepared:
    label: str
    features: list[str]
    classes: list[str] | None
    rows: dict[str, int]
    shard_rows: list[int]
    # Numeric labels only: what the objective check needs.
    label_min: float | None = None
    label_max: float | None = None
    integer_labels: bool = True
    distinct: set = field(default_factory=set)  # up to MAX_CLASSES + 1 distinct numeric labels
    implied: dict = field(default_factory=dict)  # hyperparameters the data settles (num_class)
    # Feature columns of whole numbers increasing row after row (a row number or an id): a leak
    # when the file is ordered by the label or by time.
    identifier_like: list[str] = field(default_factory=list)
    # Text feature columns as encoded: {column: {"encoding": "one-hot" | "ordinal", "categories": [...],
    # "unseen": what a category the mapping lacks becomes}}; `features` holds the encoded columns.
    categorical: dict = field(default_factory=dict)


def _quote(name: str) -> str:
    return repr(name) if len(name) <= 60 else repr(name[:60] + "...")


class _Columns:
    """The header of one source: where the label is, which columns are features."""

    def __init__(self, header: list[str], label: str, what: str):
        names = [name.strip() for name in header]
        if len(names) > MAX_COLUMNS:
            raise InvalidData(f"{what}: {len(names)} columns, more than {MAX_COLUMNS}")
        if label not in names:
            raise InvalidData(f"{what}: {_missing_label(names, label)}")
        if "" in names:
            raise InvalidData(
                f"{what}: column {names.index('') + 1} of the header has no name, as pandas writes "
                "its index (df.to_csv(path, index=False) leaves it out; a row number is no "
                "feature): drop it, or name it in the header to train on it"
            )
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise InvalidData(f"{what}: column {_quote(duplicates[0])} appears twice in the header")
        if len(names) < 2:
            raise InvalidData(f"{what}: the header has the label column only: give at least one feature column")
        self.names = names
        self.label_index = names.index(label)
        self.feature_indexes = [i for i in range(len(names)) if i != self.label_index]
        self.features = [names[i] for i in self.feature_indexes]


class _Lines:
    """A text stream's lines for csv.reader, none read past MAX_ROW_CHARS: a row (a record, with the
    lines a quoted cell spans) longer than that is refused before it is held whole."""

    def __init__(self, stream: TextIO, what: str):
        self.what = what
        readline = getattr(stream, "readline", None)  # a file reads no further; other iterables give lines
        lines = iter(stream) if readline is None else iter(lambda: readline(MAX_ROW_CHARS + 1), "")
        self.next_line = lines.__next__
        self.row_chars = 0  # characters of the row being read; reset by `_rows` after each row
        self.line = 0

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        text = self.next_line()
        self.line += 1
        self.row_chars += len(text)
        if self.row_chars > MAX_ROW_CHARS:
            raise InvalidData(
                f"{self.what}: line {self.line}: a row longer than {MAX_ROW_CHARS:,} characters: "
                "expected one row per line, at most "
                f"{MAX_COLUMNS:,} columns (is it a CSV file, with line breaks?)"
            )
        return text


# A header longer than this is searched for the label rather than shown whole.
HEADER_SHOWN_CHARACTERS = 600
DELIMITERS = {"\t": "tab", ";": "semicolon", "|": "pipe"}


def _missing_label(names: list[str], label: str) -> str:
    """Why `label` is not a column, and which one was meant: the header whole when it is short,
    else the columns whose names contain the label; a one-column header with tabs or semicolons
    is another delimiter's."""
    if len(names) == 1:
        found = [word for delimiter, word in DELIMITERS.items() if delimiter in names[0]]
        if found:
            return (
                f"the header is one column holding {found[0]}s ({_quote(names[0])}): the file looks "
                f"{found[0]}-separated, and only comma-separated CSV is read: save it with commas "
                f"(pandas: df.to_csv(path, index=False))"
            )
    guess = closest(label, names)
    if guess is not None:
        return f"no label column {label!r} in the header; did you mean {guess!r}? (--label {guess})"
    listing = ", ".join(map(repr, names))
    if len(listing) > HEADER_SHOWN_CHARACTERS:
        near = [name for name in names if label.lower() in name.lower() or name.lower() in label.lower()]
        listing = f"{len(names)} columns; " + (
            f"those containing {label!r}: {', '.join(map(repr, near))}" if near else f"none contains {label!r}"
        )
    hint = "pass --label COLUMN naming one of them" if label == DEFAULT_LABEL else "pass --label with one of them"
    return f"no label column {label!r} in the header ({listing}): {hint}"


def _rows(stream: TextIO, what: str) -> Iterator[list[str]]:
    lines = _Lines(stream, what)
    reader = csv.reader(lines, strict=True)
    try:
        for row in reader:
            lines.row_chars = 0
            yield row
    except csv.Error as error:
        raise InvalidData(f"{what}: line {reader.line_num}: not valid CSV ({error})") from None
    except UnicodeDecodeError:
        raise InvalidData(f"{what}: line {reader.line_num + 1}: not UTF-8 text (save the file as UTF-8 CSV)") from None


class Preparation:
    """Streams sources through the rules into a Sink; `finish()` returns what was prepared."""

    def __init__(
        self,
        sink: Sink,
        *,
        label: str = DEFAULT_LABEL,
        seed: int,
        shards: int = 1,
        validation: float = DEFAULT_SPLIT["validation"],
        test: float = DEFAULT_SPLIT["test"],
        categorical: str = "auto",
    ):
        self.sink, self.label, self.shards = sink, label, shards
        self.categorical = categorical
        self.encoder: _Encoder | None = None
        self.validation_cut, self.test_cut = test + validation, test
        self.rng = random.Random(seed)
        self.columns: _Columns | None = None
        self.text_labels: bool | None = None
        self.classes: dict[str, int] = {}
        self.rows = {"train": 0, "validation": 0, "test": 0}
        self.shard_rows = [0] * shards
        self.label_min = math.inf
        self.label_max = -math.inf
        self.integer_labels = True
        self.distinct: set = set()
        self.increasing: dict[int, int] | None = None  # feature index -> its last value, while increasing

    def _header(self, rows: Iterator[list[str]], what: str) -> _Columns:
        header = next(rows, None)
        if header is None:
            raise InvalidData(
                f"{what}: the file is empty: expected a header row naming the columns, then one row per example"
            )
        columns = _Columns(header, self.label, what)
        if self.columns is not None and columns.names != self.columns.names:
            raise InvalidData(
                f"{what}: its header differs from the first file's "
                f"({', '.join(map(_quote, self.columns.names[:6]))}...): give every file the same columns"
            )
        self.columns = self.columns or columns
        return columns

    def _label(self, text: str, what: str, line: int, held_out: bool) -> str:
        text = text.strip()
        if self.text_labels is None:
            self.text_labels = _number(text) is None and text not in _MISSING
        if self.text_labels:
            if text == "":
                raise InvalidData(f"{what}: line {line}: the label {self.label!r} is empty: every row needs a label")
            index = self.classes.get(text)
            if index is None:
                if held_out:
                    raise InvalidData(
                        f"{what}: line {line}: class {_quote(text)} does not occur in the "
                        f"training data, so the model cannot predict it"
                    )
                if len(self.classes) >= MAX_CLASSES:
                    raise InvalidData(
                        f"{what}: line {line}: more than {MAX_CLASSES} distinct labels: "
                        f"text labels are classes; is {self.label!r} the right column?"
                    )
                index = self.classes[text] = len(self.classes)
            return str(index)
        value = _number(text)
        if value is None or not math.isfinite(value):
            if text in _MISSING:
                raise InvalidData(f"{what}: line {line}: the label {self.label!r} is empty: every row needs a label")
            problem = "is not finite" if value is not None else "is text, while the first row's label is a number"
            raise InvalidData(f"{what}: line {line}: the label {_quote(text)} {problem}")
        if value < self.label_min:
            self.label_min = value
        if value > self.label_max:
            self.label_max = value
        if self.integer_labels and not value.is_integer():
            self.integer_labels = False
        if len(self.distinct) <= MAX_CLASSES:
            self.distinct.add(value)
        return text

    def add(self, stream: TextIO, what: str, *, held_out: bool = False) -> None:
        """One source: the data (split) or, with `held_out`, a test file (all test rows)."""
        rows = _rows(stream, what)
        first = self.columns is None
        columns = self._header(rows, what)
        width, label_index, feature_indexes = len(columns.names), columns.label_index, columns.feature_indexes
        if first and self.categorical != "off":  # the first rows decide the text columns, for every source
            sample = list(itertools.islice(rows, sample_rows(width)))
            self.encoder = _Encoder.from_sample(columns, sample, what) if not held_out else None
            rows = itertools.chain(sample, rows)
        encoder = self.encoder
        names = columns.names
        sink, rng, shards = self.sink, self.rng, self.shards
        if self.increasing is None:  # the first source's columns: all watched, each dropped once it is no id
            self.increasing = dict.fromkeys(feature_indexes, -math.inf)
        increasing = {} if held_out else self.increasing
        line = 1
        for fields in rows:
            line += 1
            if len(fields) != width:
                if not fields or fields == [""]:  # a blank line: skipped, as XGBoost's parser does
                    continue
                raise InvalidData(
                    f"{what}: line {line} has {len(fields)} fields, the header {width}: "
                    "every row needs one value per column (leave a cell empty for a missing value)"
                )
            if increasing:
                _still_increasing(increasing, fields)
            if encoder is not None:
                row = encoder.encode(fields, what, line, assign=not held_out)
            else:
                cells = fields.copy()
                del cells[label_index]
                row = ",".join(cells)
                # Plain numbers are finite and written as they are; a cell holding a comma (quoted in the
                # file) would become two columns in the output, which has no quoting: checked per cell.
                if row.count(",") != len(cells) - 1 or not _PLAIN_ROW.fullmatch(row):
                    row = ",".join(_features(fields, feature_indexes, names, what, line, off=self.categorical == "off"))
            label = self._label(fields[label_index], what, line, held_out)
            if held_out:
                sink.test(row, label)
                self.rows["test"] += 1
                if self.rows["test"] > MAX_HELD_OUT_ROWS:
                    raise InvalidData(self._too_many_held_out(what, line, "use a smaller test file"))
                continue
            draw = rng.random()
            if draw < self.test_cut:
                sink.test(row, label)
                self.rows["test"] += 1
                if self.rows["test"] > MAX_HELD_OUT_ROWS:
                    raise InvalidData(
                        self._too_many_held_out(
                            what,
                            line,
                            f"lower the split's test fraction (now {self.test_cut:g}: run.py --split, "
                            "or data.split.test)",
                        )
                    )
            elif draw < self.validation_cut:
                sink.validation(f"{label},{row}")
                self.rows["validation"] += 1
            else:
                shard = self.rows["train"] % shards
                sink.train(shard, f"{label},{row}")
                self.shard_rows[shard] += 1
                self.rows["train"] += 1
        if line == 1:
            raise InvalidData(f"{what}: the header is there but no data rows follow it")

    @staticmethod
    def _too_many_held_out(what: str, line: int, fix: str) -> str:
        """Said as soon as the held-out rows pass what the evaluation function scores, not after
        training: the data's row count is known only once it is read."""
        return (
            f"{what}: line {line}: more than {MAX_HELD_OUT_ROWS:,} held-out rows, the most the pipeline's "
            f"evaluation scores within Lambda's memory and time: {fix}"
        )

    def finish(self) -> Prepared:
        rows = self.rows
        for split, minimum in (("train", self.shards), ("validation", 1), ("test", 1)):
            if rows[split] < minimum:
                total = sum(rows.values())
                raise InvalidData(
                    f"the split of {total} data rows gave {rows[split]} {split} rows"
                    + (f" (one per training instance needed: {self.shards})" if split == "train" else "")
                    + ": give more rows, or other split fractions"
                )
        numeric = not self.text_labels
        identifier_like = [self.columns.names[i] for i in self.increasing or ()] if sum(rows.values()) >= 10 else []
        encoder = self.encoder
        return Prepared(
            identifier_like=identifier_like,
            categorical=encoder.record() if encoder else {},
            label=self.label,
            features=encoder.features() if encoder else self.columns.features,
            classes=None if numeric else list(self.classes),
            rows=dict(rows),
            shard_rows=list(self.shard_rows),
            label_min=self.label_min if numeric else None,
            label_max=self.label_max if numeric else None,
            integer_labels=self.integer_labels if numeric else True,
            distinct=self.distinct if numeric else set(range(len(self.classes))),
        )


def _still_increasing(last: dict[int, float], fields: list[str]) -> None:
    """Drop from `last` the columns whose cell in this row is no whole number above the last."""
    for index, previous in list(last.items()):
        text = fields[index]
        if not (text.isdigit() and text.isascii()) or int(text) <= previous:
            del last[index]
        else:
            last[index] = int(text)


def identifier_warning(columns: list[str]) -> str:
    """What to say of `Prepared.identifier_like` columns."""
    named = ", ".join(map(_quote, columns))
    return (
        f"column{'s' if len(columns) > 1 else ''} {named} hold{'' if len(columns) > 1 else 's'} whole numbers "
        "increasing row after row, like a row number or an id: the model can learn the file's order "
        "instead of the data (a leak); drop it unless it is a real feature"
    )


def _features(
    fields: list[str], feature_indexes: list[int], names: list[str], what: str, line: int, off: bool = False
) -> list[str]:
    """A row's feature cells checked one by one, as written out: spaces stripped, `nan` empty.
    `off`: categorical encoding was turned off (the refusal of text says so)."""
    return [_numeric_cell(fields[index], names[index], what, line, off) for index in feature_indexes]


def _numeric_cell(cell: str, name: str, what: str, line: int, off: bool = False) -> str:
    text = cell.strip()
    if text in _MISSING:
        return ""
    value = _number(text)
    if value is None and "," in text:
        raise InvalidData(
            f"{what}: line {line}: column {_quote(name)} holds {_quote(text)}, one quoted cell with a "
            "comma: features must be numbers, with a decimal point (training reads the prepared rows "
            "without quoting, so it would be two columns)"
        )
    if value is None:
        why = (
            "categorical encoding is off (--categorical off): encode it yourself or drop the column"
            if off
            else "its first rows hold numbers only, and they decide which columns are "
            "categorical: fix the cell, or put a row with text in this column among the first rows"
        )
        raise InvalidData(f"{what}: line {line}: column {_quote(name)} is not numeric ({_quote(text)}): {why}")
    if not math.isfinite(value):
        raise InvalidData(
            f"{what}: line {line}: column {_quote(name)} holds {_quote(text)}, "
            "which is not finite: XGBoost refuses infinite values (leave the cell "
            "empty for a missing value)"
        )
    return text


def sample_rows(width: int) -> int:
    """How many first rows decide the text columns of a file `width` columns wide."""
    return max(100, min(CATEGORY_SAMPLE_ROWS, CATEGORY_SAMPLE_CELLS // width))


class _Category:
    """One text column's mapping: one-hot over the categories of the sample (fixed), or ordinal
    codes given in order of first appearance in the data (a held-out file adds none)."""

    def __init__(self, name: str, sample_categories: list[str]):
        self.name = name
        self.one_hot = len(sample_categories) <= ONE_HOT_MAX
        self.codes = {category: code for code, category in enumerate(sample_categories)} if self.one_hot else {}

    def cells(self, cell: str, what: str, line: int, assign: bool) -> list[str]:
        text = cell.strip()
        if text in _MISSING:  # missing stays missing, in every column it becomes
            return [""] * len(self.codes) if self.one_hot else [""]
        code = self.codes.get(text)
        if self.one_hot:  # a category the sample lacks: every column 0
            return ["1" if index == code else "0" for index in range(len(self.codes))]
        if code is None and assign:
            if len(self.codes) >= MAX_CATEGORIES:
                raise InvalidData(
                    f"{what}: line {line}: column {_quote(self.name)} has more than {MAX_CATEGORIES} "
                    "distinct text values: an identifier or free text is no category: drop it"
                )
            code = self.codes[text] = len(self.codes)
        return [str(code) if code is not None else ""]  # unseen in the data: missing

    def names(self) -> list[str]:
        return [f"{self.name}={category}" for category in self.codes] if self.one_hot else [self.name]

    def record(self) -> dict:
        return {
            "encoding": "one-hot" if self.one_hot else "ordinal",
            "categories": list(self.codes),
            "unseen": "every column 0" if self.one_hot else "missing",
        }


class _Encoder:
    """A row's features with its text columns encoded (`_Category`), the others checked as numbers."""

    def __init__(self, columns: _Columns, categories: dict[int, _Category]):
        self.columns, self.categories = columns, categories
        # Replaced from the right, so that each index still points at its cell: the label goes.
        self.from_right = sorted([*categories, columns.label_index], reverse=True)

    @classmethod
    def from_sample(cls, columns: _Columns, sample: list[list[str]], what: str) -> _Encoder | None:
        """The encoder for the text columns of the first rows (rows of another width are left
        to the row checks), or None when every feature there is numeric."""
        width, label_index = len(columns.names), columns.label_index
        rows = [fields for fields in sample if len(fields) == width]
        text_columns: set[int] = set()
        for fields in rows:
            cells = fields.copy()
            del cells[label_index]
            if _PLAIN_ROW.fullmatch(",".join(cells)):  # numbers only: the common row, checked at once
                continue
            text_columns.update(
                index
                for index in columns.feature_indexes
                if index not in text_columns and _is_word(fields[index].strip())
            )
        if not text_columns:
            return None
        categories = {}
        for index in sorted(text_columns):
            cells = [fields[index].strip() for fields in rows]
            cells = [text for text in cells if text not in _MISSING]
            words = [text for text in cells if _number(text) is None]
            if len(words) * 10 < len(cells):  # nine numbers in ten: text there marks something else
                raise InvalidData(
                    f"{what}: column {_quote(columns.names[index])} holds numbers but also text such as "
                    f"{_quote(words[0])} in {len(words)} of its first {len(cells):,} filled cells: if that marks a "
                    "missing value, leave those cells empty; if the column is categorical, its numbers are "
                    "categories too: write them as text (e.g. 'grade 1')"
                )
            categories[index] = _Category(columns.names[index], list(dict.fromkeys(cells))[: ONE_HOT_MAX + 1])
        return cls(columns, categories)

    def encode(self, fields: list[str], what: str, line: int, assign: bool) -> str:
        """The row's features as written out (encoded cells are plain numbers or empty)."""
        cells = fields.copy()
        label_index = self.columns.label_index
        for index in self.from_right:
            if index == label_index:
                del cells[index]
            else:
                cells[index : index + 1] = self.categories[index].cells(fields[index], what, line, assign)
        row = ",".join(cells)
        # Plain numbers, as in the unencoded fast path; a quoted cell holding a comma is no number.
        if row.count(",") == len(cells) - 1 and _PLAIN_ROW.fullmatch(row):
            return row
        names = self.columns.names  # a numeric cell to check (or refuse) one by one
        for index in self.columns.feature_indexes:
            if index not in self.categories:
                _numeric_cell(fields[index], names[index], what, line)
        return ",".join(cell.strip() if cell.strip() not in _MISSING else "" for cell in cells)

    def features(self) -> list[str]:
        names = []
        for index in self.columns.feature_indexes:
            category = self.categories.get(index)
            names.extend(category.names() if category else [self.columns.names[index]])
        return names

    def record(self) -> dict:
        return {category.name: category.record() for category in self.categories.values()}


def _is_word(text: str) -> bool:
    """Text that no reader takes for a number: a category. ('1_000' or full-width digits are numbers
    XGBoost cannot read, and are refused as such, not encoded.)"""
    if text in _MISSING or _number(text) is not None:
        return False
    try:
        float(text)
    except ValueError:
        return True
    return False


def _number(text: str) -> float | None:
    """The value of a numeric cell as XGBoost's CSV parser reads it, or None for text."""
    try:
        value = float(text)
    except ValueError:
        return None
    # Python reads 1_000 and non-ASCII digits (Arabic-Indic, full-width); C's strtod does not.
    if "_" in text or text[-1:].isspace() or not text.isascii():
        return None
    return value


def check_labels(prepared: Prepared, hyperparameters: dict[str, str], num_class_from_data: bool = False) -> None:
    """Labels the objective can train on (what the container or XGBoost would fail on later).
    `num_class_from_data`: a multi: objective without num_class gets the classes found
    (`prepared.implied`) instead of a refusal."""
    objective = hyperparameters.get("objective", "reg:squarederror")
    if hyperparameters.get("csv_weights") == "1":
        raise InvalidData(
            "csv_weights=1 makes the container read the second column as instance weights, and "
            "prepared data has no weight column: drop csv_weights"
        )
    if objective.startswith("rank:"):
        raise InvalidData(
            f"objective {objective} needs query groups, which CSV data cannot carry: use a "
            "binary:, multi: or reg: objective"
        )
    classes = prepared.classes
    where = f"label column {prepared.label!r}"
    if classes is not None:
        listed = ", ".join(map(_quote, classes[:5])) + (", ..." if len(classes) > 5 else "")
        k = len(classes)
        if objective.startswith("binary:") and k > 2:
            raise InvalidData(
                f"{where} has {k} classes ({listed}) but objective {objective} takes 2: use "
                f"objective=multi:softprob with num_class={k}"
            )
        if not (objective.startswith("binary:") or objective.startswith("multi:")):
            raise InvalidData(
                f"{where} holds text ({listed}) but objective {objective} needs numbers: use "
                + ("objective=binary:logistic" if k <= 2 else f"objective=multi:softprob with num_class={k}")
            )
    elif prepared.label_min is not None:
        low, high = prepared.label_min, prepared.label_max
        if objective.startswith("binary:") or objective == "reg:logistic":
            if low < 0 or high > 1:
                distinct = len(prepared.distinct)
                hint = (
                    f"objective=multi:softprob with num_class={int(high) + 1}"
                    if prepared.integer_labels and low >= 0 and distinct > 2
                    else "labels from 0 to 1"
                )
                raise InvalidData(
                    f"{where} runs from {low:g} to {high:g}, but objective {objective} needs labels "
                    f"from 0 to 1: use {hint}"
                )
        if objective.startswith("multi:") and (not prepared.integer_labels or low < 0):
            raise InvalidData(
                f"{where} must hold class numbers 0, 1, 2, ... for objective {objective}; "
                f"it runs from {low:g} to {high:g}" + ("" if prepared.integer_labels else " with fractions")
            )
        if objective in ("count:poisson", "reg:tweedie") and low < 0:
            raise InvalidData(f"{where} has negative values ({low:g}): objective {objective} needs labels >= 0")
        if objective == "reg:gamma" and low <= 0:
            raise InvalidData(f"{where} has values <= 0 ({low:g}): objective reg:gamma needs labels > 0")
    if objective.startswith("multi:"):
        k = len(classes) if classes is not None else int(prepared.label_max) + 1
        num_class = hyperparameters.get("num_class")
        if num_class is None and num_class_from_data:
            prepared.implied["num_class"] = num_class = str(k)
        if num_class is None:
            raise InvalidData(f"objective {objective} needs num_class: the data has {k} classes, pass num_class={k}")
        if classes is not None and int(num_class) != k:
            raise InvalidData(f"num_class={num_class} but {where} has {k} classes ({listed}): pass num_class={k}")
        if classes is None and k > int(num_class):
            raise InvalidData(
                f"num_class={num_class} but {where} goes up to {prepared.label_max:g}: pass num_class={k}"
            )


class TextStream(io.RawIOBase):
    """A binary stream with `read(n)` (an S3 body) as a raw stream, so TextIOWrapper can decode it."""

    def __init__(self, body):
        self.body = body

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self.body.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def text(body) -> TextIO:
    """CSV text of a binary stream: UTF-8, a byte-order mark dropped, newlines left to csv."""
    return io.TextIOWrapper(io.BufferedReader(TextStream(body), 1 << 20), encoding="utf-8-sig", newline="")


def prepare(
    sources: Iterable[tuple[str, TextIO]],
    sink: Sink,
    *,
    test_sources: Iterable[tuple[str, TextIO]] = (),
    hyperparameters: dict[str, str] | None = None,
    num_class_from_data: bool = False,
    **options,
) -> Prepared:
    """Every source through one Preparation, then the label check against the objective."""
    preparation = Preparation(sink, **options)
    for what, stream in sources:
        preparation.add(stream, what)
    for what, stream in test_sources:
        preparation.add(stream, what, held_out=True)
    prepared = preparation.finish()
    check_labels(prepared, hyperparameters or {}, num_class_from_data)
    check_record_size(prepared)
    return prepared


def check_record_size(prepared: Prepared) -> None:
    """The column and class names travel in the execution's state (`$.dataset.source`), which
    Step Functions caps at 256 KiB: over it the run fails with States.DataLimitExceeded, which no
    Catch handles, after the data is written. Refused here instead, leaving room for the rest."""
    size = len(
        json.dumps({"features": prepared.features, "classes": prepared.classes, "categorical": prepared.categorical})
    )
    if size > MAX_RECORD_BYTES:
        raise InvalidData(
            f"the column, class and category names take {size / 1024:,.0f} KiB, over the "
            f"{MAX_RECORD_BYTES // 1024} KiB a run's record may hold (Step Functions passes at most "
            "256 KiB between states): shorten the names, or use fewer columns or classes"
        )
