"""A run's held-out metrics, by objective, with the standard library alone: the one implementation.

The state machine's `Evaluate model` state runs `handler` (Lambda's Python runtime has no numpy);
run.py's scoring (runner/metrics.score) calls `score` here too, so the pipeline and run.py cannot
disagree. The handler streams the labels and the batch transform's output from S3, line by line,
keeping a float per row (array('d'), 8 bytes) and a byte per binary label; the exact AUC sorts the
positives' and the negatives' scores once. Figures (time and memory by held-out rows): the
evaluation section of docs/incoming/i28-eval.md, `venv/bin/python bench/evaluation_bench.py`.

It writes runs/<name>/evaluation/evaluation.json in the form of SageMaker's model quality
statistics (`{"binary_classification_metrics": {"auc": {"value": 0.99}}, ...}`), which the
registered model package's ModelMetrics.ModelQuality.Statistics points to, and returns the metrics
and the quality gate's verdict for the state machine's Choice.
"""

from __future__ import annotations

import json
import math
import os
import re
import sys
from array import array
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from . import bucket_layout


def _execution_input():
    """The name rules (execution_input.py imports this module for the gate: imported on use, no cycle)."""
    from . import execution_input

    return execution_input


class NotScorable(ValueError):
    """The predictions cannot be scored (wrong shape, not numbers); the message says why."""


# -- what the objective outputs -------------------------------------------------------------------

PROBABILITY, MARGIN, HINGE, MULTICLASS, REGRESSION = (
    "binary probability",
    "binary margin",
    "binary class",
    "multiclass",
    "regression",
)
_KINDS = {
    "binary:logistic": PROBABILITY,
    "reg:logistic": PROBABILITY,
    "binary:logitraw": MARGIN,
    "binary:hinge": HINGE,
    "multi:softmax": MULTICLASS,
    "multi:softprob": MULTICLASS,
    **dict.fromkeys(
        (
            "reg:squarederror",
            "reg:linear",
            "reg:squaredlogerror",
            "reg:absoluteerror",
            "reg:pseudohubererror",
            "reg:gamma",
            "reg:tweedie",
            "count:poisson",
        ),
        REGRESSION,
    ),
}
DEFAULT_OBJECTIVE = "reg:squarederror"  # the container's (and XGBoost's) when none is given
MAX_CLASSES = 1 << 16
# The metrics each kind has, in the order they are shown: what a quality gate may name.
METRICS = {
    PROBABILITY: ("accuracy", "auc", "logloss", "rmse", "precision", "recall", "f1"),
    MARGIN: ("accuracy", "auc"),
    HINGE: ("accuracy", "f1"),
    MULTICLASS: ("accuracy", "f1", "logloss"),
    REGRESSION: ("rmse", "mae", "r2"),
}
# SageMaker's model quality statistics group metrics by problem type.
STATISTICS_GROUPS = {
    PROBABILITY: "binary_classification_metrics",
    MARGIN: "binary_classification_metrics",
    HINGE: "binary_classification_metrics",
    MULTICLASS: "multiclass_classification_metrics",
    REGRESSION: "regression_metrics",
}


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
        raise NotScorable(
            f"objective {name} is not scored: its predictions are not probabilities, classes "
            "or values to set against the labels (scored: binary:*, reg:logistic, multi:*, "
            "reg:squarederror and the other regression and count objectives)"
        )
    if kind != MULTICLASS:
        return Objective(name, kind)
    given = hyperparameter(hyperparameters, "num_class") or ""
    if not given.isdigit() or not 2 <= int(given) <= MAX_CLASSES:
        raise NotScorable(
            f"objective {name} needs num_class, a whole number from 2 to {MAX_CLASSES}; got {given or 'none'}"
        )
    return Objective(name, kind, int(given))


# -- the quality gate -----------------------------------------------------------------------------

_GATE = re.compile(r"\s*([a-z0-9]+)\s*(>=|<=|>|<)\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*")
_COMPARISONS = {
    ">=": lambda value, bound: value >= bound,
    "<=": lambda value, bound: value <= bound,
    ">": lambda value, bound: value > bound,
    "<": lambda value, bound: value < bound,
}
ALL_METRICS = tuple(dict.fromkeys(name for names in METRICS.values() for name in names))


@dataclass(frozen=True)
class QualityGate:
    """`metric comparison threshold`, e.g. `auc >= 0.9`."""

    metric: str
    comparison: str
    threshold: float

    def __str__(self) -> str:
        return f"{self.metric} {self.comparison} {self.threshold:g}"

    def verdict(self, scores: dict) -> dict:
        """{passed, metric, value, comparison, threshold, message}; an undefined metric fails."""
        value = scores.get(self.metric)
        passed = value is not None and _COMPARISONS[self.comparison](value, self.threshold)
        shown = "undefined" if value is None else f"{value:.6g}"
        message = f"Quality gate {'passed' if passed else 'failed'}: {self.metric} is {shown}, the gate is {self}"
        return {
            "passed": passed,
            "metric": self.metric,
            "value": value,
            "comparison": self.comparison,
            "threshold": self.threshold,
            "message": message,
        }


def parse_gate(text: object, field: str = "qualityGate") -> QualityGate | None:
    """A gate from its text; None for none (null or ""). ValueError names the problem."""
    if text is None or text == "":
        return None
    if not isinstance(text, str) or len(text) > 100:
        raise ValueError(f'{field}: expected a text such as "auc >= 0.9", got {json.dumps(text)[:60]}')
    match = _GATE.fullmatch(text)
    if not match:
        raise ValueError(
            f'{field}: {text!r} is not `metric comparison number` (e.g. "auc >= 0.9"; comparisons >=, >, <=, <)'
        )
    metric, comparison, threshold = match.group(1), match.group(2), float(match.group(3))
    if metric not in ALL_METRICS:
        raise ValueError(f"{field}: {metric!r} is not a metric (metrics: {', '.join(ALL_METRICS)})")
    return QualityGate(metric, comparison, threshold)


def check_gate_applies(gate: QualityGate | None, hyperparameters, field: str = "qualityGate") -> None:
    """The gate must name one of the run objective's metrics, or no run could ever pass it."""
    if gate is None:
        return
    try:
        objective = objective_of(hyperparameters)
    except NotScorable as error:
        raise ValueError(f"{field}: {gate} cannot be checked: {error}") from None
    names = METRICS[objective.kind]
    if gate.metric not in names:
        raise ValueError(
            f"{field}: {gate.metric} is not a metric of objective {objective.name} (its metrics: {', '.join(names)})"
        )


# -- reading the objects --------------------------------------------------------------------------


def lines_of(chunks: Iterable[bytes]) -> Iterator[list[bytes]]:
    """The complete lines of a byte stream, a list per chunk; a last line without newline too."""
    carry = b""
    for chunk in chunks:
        block = carry + chunk
        end = block.rfind(b"\n") + 1
        carry = block[end:]
        if end:
            yield block[: end - 1].split(b"\n")
    if carry.strip():
        yield [carry]


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


def _bad(what: str, number: int, line: bytes, wanted: str) -> NotScorable:
    return NotScorable(f"{what} line {number} is not {wanted}: {line[:60].decode(errors='replace')!r}")


def _floats(lines: list[bytes], what: str, first: int) -> list[float]:
    try:
        return list(map(float, lines))
    except ValueError:
        for offset, line in enumerate(lines):
            try:
                float(line)
            except ValueError:
                raise _bad(what, first + offset, line, "1 number(s)") from None
        raise


def read_labels(
    chunks: Iterable[bytes], objective: Objective, expected: int | None = None, what: str = "the labels object"
) -> array:
    """The labels, checked for the objective: bytes 0/1 or classes (array 'B'/'H'), or floats."""
    kind = objective.kind
    labels = array("d") if kind == REGRESSION else array("B" if objective.classes <= 256 else "H")
    line = 1
    for lines in lines_of(chunks):
        values = _floats(lines, what, line)
        for offset, value in enumerate(values):
            if kind == REGRESSION:
                ok = math.isfinite(value)
            elif kind == MULTICLASS:
                ok = 0 <= value < objective.classes and value == int(value)
            else:
                ok = value in (0.0, 1.0)
            if not ok:
                wanted = (
                    "a finite number"
                    if kind == REGRESSION
                    else f"a class 0..{objective.classes - 1}"
                    if kind == MULTICLASS
                    else "0 or 1"
                )
                raise NotScorable(f"{what} line {line + offset} holds {value}, not {wanted}")
        if kind == REGRESSION:
            labels.extend(values)
        else:
            labels.extend(int(value) for value in values)
        line += len(lines)
        if expected is not None and line - 1 > expected:
            raise NotScorable(f"{what} has more than the {expected} lines expected")
    if expected is not None and line - 1 != expected:
        raise NotScorable(f"{what} has {line - 1} lines, expected {expected}")
    return labels


def read_predictions(
    chunks: Iterable[bytes], objective: Objective, labels: Sequence, what: str = "the batch transform output"
) -> array | tuple[array, array]:
    """The predictions, checked for the objective; multi:softprob's rows become (predicted class,
    probability of the true class), two arrays."""
    kind, line = objective.kind, 1
    values_kept, probabilities = array("d"), array("d")
    for lines in lines_of(chunks):
        if line - 1 + len(lines) > len(labels):
            raise NotScorable(f"{what} has more lines than the {len(labels)} labels")
        if objective.bracketed:
            for offset, text in enumerate(lines):
                number = line + offset
                stripped = text.strip()
                if not (stripped.startswith(b"[") and stripped.endswith(b"]")):
                    raise _bad(what, number, text, "a bracketed list of numbers")
                try:
                    row = [float(field) for field in stripped[1:-1].split(b",")]
                except ValueError:
                    raise _bad(what, number, text, f"a list of {objective.classes} numbers") from None
                if len(row) != objective.classes:
                    raise _bad(what, number, text, f"a list of {objective.classes} numbers")
                if not all(0 <= p <= 1 for p in row):
                    raise NotScorable(f"{what} line {number} holds {row}, not a probability")
                values_kept.append(max(range(len(row)), key=row.__getitem__))
                probabilities.append(row[labels[number - 1]])
        else:
            values = _floats(lines, what, line)
            for offset, value in enumerate(values):
                if kind == PROBABILITY:
                    ok, wanted = 0 <= value <= 1, "not a probability"
                elif kind == HINGE:
                    ok, wanted = value in (0.0, 1.0), "not 0 or 1"
                elif kind == MULTICLASS:
                    ok, wanted = (
                        0 <= value < objective.classes and value == int(value),
                        f"not a class 0..{objective.classes - 1}",
                    )
                else:
                    ok, wanted = math.isfinite(value), "not a finite number"
                if not ok:
                    raise NotScorable(f"{what} line {line + offset} holds {value}, {wanted}")
            values_kept.extend(values)
        line += len(lines)
    if line - 1 != len(labels):
        raise NotScorable(f"{what} has {line - 1} lines, expected {len(labels)}")
    return (values_kept, probabilities) if objective.bracketed else values_kept


# -- the metrics ----------------------------------------------------------------------------------

_EPSILON = sys.float_info.epsilon  # scikit-learn's log_loss clips to [eps, 1 - eps]


def roc_auc(labels: Sequence, scores: Sequence[float]) -> float | None:
    """Area under the ROC curve: P(positive scores higher) + half P(tie). None if one class only.
    One sort of each class's scores, then one merge: O(n log n)."""
    positives = sorted(score for label, score in zip(labels, scores, strict=True) if label == 1)
    negatives = sorted(score for label, score in zip(labels, scores, strict=True) if label != 1)
    if not positives or not negatives:
        return None
    wins = below = equal = 0
    index, count = 0, len(negatives)
    previous = None
    for score in positives:
        if score != previous:
            while index < count and negatives[index] < score:
                index += 1
            below, equal = index, 0
            while index + equal < count and negatives[index + equal] == score:
                equal += 1
            previous = score
        wins += 2 * below + equal  # twice the count: integers stay exact
    return wins / (2 * len(positives) * len(negatives))


def _ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator else None


def _classification(labels, guesses, names) -> tuple[dict, dict]:
    n = len(labels)
    hits = predicted = actual = 0
    for label, guess in zip(labels, guesses, strict=True):
        truth = label == 1
        hits += truth and guess
        predicted += guess
        actual += truth
    correct = n - (predicted - hits) - (actual - hits)
    scores = {
        "accuracy": correct / n,
        "precision": _ratio(hits, predicted),
        "recall": _ratio(hits, actual),
        "f1": _ratio(2 * hits, predicted + actual),
    }
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
    return None, {
        "auc": f"undefined: every held-out label is {int(labels[0])}, AUC needs both classes (use more --rows)"
    }


def _log_loss(probabilities: Iterable[float]) -> float:
    """Mean -log p of the true class, p clipped as scikit-learn clips it (exact sum: fsum)."""
    values = [math.log(min(max(p, _EPSILON), 1 - _EPSILON)) for p in probabilities]
    return -math.fsum(values) / len(values)


def _regression_sums(labels, predictions) -> tuple[float, float]:
    try:
        squared = math.fsum((p - y) * (p - y) for y, p in zip(labels, predictions, strict=True))
    except OverflowError:
        squared = math.inf
    return squared, math.fsum(abs(p - y) for y, p in zip(labels, predictions, strict=True))


def score(
    labels: Sequence, predictions, objective: Objective = BINARY_LOGISTIC
) -> tuple[dict[str, float | None], dict[str, str]]:
    """The metrics of `objective`'s predictions against the labels (as `read_predictions` and
    `read_labels` return them; any sequences of numbers do), and for any that is undefined
    (None), the reason. See docs/results.md, "How a run is scored"."""
    size = len(predictions[0]) if objective.bracketed else len(predictions)
    if len(labels) != size:
        raise NotScorable(f"{size} predictions for {len(labels)} labels")
    if size == 0:
        raise NotScorable("no predictions to score")
    kind = objective.kind
    if kind == PROBABILITY:
        scores, undefined = _classification(
            labels, (p > 0.5 for p in predictions), ("accuracy", "precision", "recall", "f1")
        )
        scores["auc"], auc_undefined = _auc(labels, predictions)
        scores["logloss"] = _log_loss(p if y == 1 else 1 - p for y, p in zip(labels, predictions, strict=True))
        scores["rmse"] = math.sqrt(_regression_sums(labels, predictions)[0] / size)
        return _finite({name: scores[name] for name in METRICS[kind]}, {**auc_undefined, **undefined})
    if kind == MARGIN:
        scores, undefined = _classification(labels, (m > 0 for m in predictions), ("accuracy",))
        scores["auc"], auc_undefined = _auc(labels, predictions)
        return _finite({name: scores[name] for name in METRICS[kind]}, auc_undefined)
    if kind == HINGE:
        return _finite(*_classification(labels, (c == 1 for c in predictions), ("accuracy", "f1")))
    if kind == MULTICLASS:
        predicted = predictions[0] if objective.bracketed else predictions
        hits, labelled, guessed = ([0] * objective.classes for _ in range(3))
        for label, guess in zip(labels, predicted, strict=True):
            label, guess = int(label), int(guess)
            labelled[label] += 1
            guessed[guess] += 1
            hits[label] += label == guess
        f1 = [
            2 * hit / (truth + guess)
            for hit, truth, guess in zip(hits, labelled, guessed, strict=True)
            if truth + guess
        ]
        scores = {"accuracy": sum(hits) / size, "f1": math.fsum(f1) / len(f1)}
        if objective.bracketed:
            scores["logloss"] = _log_loss(predictions[1])
        return _finite(scores, {})
    squared, absolute = _regression_sums(labels, predictions)
    mean = math.fsum(labels) / size
    spread = math.fsum((y - mean) * (y - mean) for y in labels)
    scores = {"rmse": math.sqrt(squared / size), "mae": absolute / size, "r2": 1 - squared / spread if spread else None}
    undefined = (
        {} if spread else {"r2": f"undefined: every held-out label is {float(labels[0]):g}, R² needs labels that vary"}
    )
    return _finite(scores, undefined)


def _finite(scores: dict, undefined: dict) -> tuple[dict, dict]:
    """A metric that overflowed (rmse of predictions near 1e308) is None, with the reason."""
    for name, value in scores.items():
        scores[name] = None if value is None else float(value)
        if value is not None and not math.isfinite(value):
            scores[name] = None
            undefined[name] = f"not finite ({value}): the predictions or labels overflow float64"
    return scores, undefined


def model_quality_statistics(objective: Objective, scores: dict) -> dict:
    """evaluation.json: SageMaker's model quality statistics form; undefined metrics left out."""
    return {
        "version": 0.0,
        STATISTICS_GROUPS[objective.kind]: {
            name: {"value": value} for name, value in scores.items() if value is not None
        },
    }


# -- the state's function -------------------------------------------------------------------------

# What the function scores at its memory (components/lambda_functions.py, 1769 MB) within Lambda's 900 s:
# about 56 bytes a held-out row at the peak, and 2-14 us a row by objective (bench/evaluation_bench.py).
MAX_HELD_OUT_ROWS = 20_000_000


class TooManyRows(Exception):
    """More held-out rows than the function can score: the run fails at once, saying so."""


CHUNK_BYTES = 8 << 20


def run_keys(name: str) -> dict[str, str]:
    """The keys a run's evaluation reads and writes (the layout seed_dataset.py and the transform make)."""
    prefix = bucket_layout.run_prefix(name)
    return {
        "labels": f"{prefix}{bucket_layout.LABELS_FILE}",
        "predictions": f"{prefix}{bucket_layout.PREDICTIONS_FILE}",
        "evaluation": f"{prefix}{bucket_layout.EVALUATION_FILE}",
    }


def _object_chunks(s3, bucket: str, key: str) -> Iterator[bytes]:
    body = s3.get_object(Bucket=bucket, Key=key)["Body"]
    try:
        yield from body.iter_chunks(CHUNK_BYTES)
    finally:
        body.close()


# CreateModelPackage's limits (botocore's model): CustomerMetadataProperties hold at most 50 entries,
# keys of 1-128 and values of 1-256 characters out of letters, digits, spaces and _.:/=+-@; the
# description at most 1024 characters.
_METADATA_TEXT = re.compile(r"[\w\s.:/=+\-@]{1,256}")
MAX_METADATA = 50
MAX_DESCRIPTION = 1024


def registration(
    name: str, hyperparameters: dict, rows: dict, source: dict, objective: str, scores: dict
) -> tuple[str, dict[str, str]]:
    """The model package's description (everything, as JSON, cut to fit) and metadata (the values
    SageMaker's pattern admits: a hyperparameter such as `eval_metric=auc,error` is in the
    description only)."""
    metadata = {
        "execution": name,
        "objective": objective,
        "data": str(source.get("kind", "generated")),
        **{f"rows.{part}": str(count) for part, count in rows.items() if isinstance(count, int)},
        **{f"metric.{metric}": repr(value) for metric, value in scores.items() if value is not None},
        **{f"hyperparameter.{key}"[:128]: str(value) for key, value in sorted(hyperparameters.items())},
    }
    metadata = {
        key: value
        for key, value in metadata.items()
        if _METADATA_TEXT.fullmatch(key[:128]) and _METADATA_TEXT.fullmatch(value)
    }
    metadata = dict(list(metadata.items())[:MAX_METADATA])
    description = json.dumps(
        {"run": name, "data": source, "rows": rows, "hyperparameters": hyperparameters},
        separators=(",", ":"),
        sort_keys=True,
    )
    if len(description) > MAX_DESCRIPTION:
        description = description[: MAX_DESCRIPTION - 3] + "..."
    return description, metadata


def evaluate(
    s3,
    bucket: str,
    name: str,
    hyperparameters: dict,
    gate: QualityGate | None,
    rows: dict | None = None,
    source: dict | None = None,
) -> dict:
    """Score the run's predictions, write evaluation.json, and judge the gate: the state's result."""
    keys, rows, source = run_keys(name), rows or {}, source or {}
    expected = rows.get("test") if isinstance(rows.get("test"), int) else None
    if expected is not None and expected > MAX_HELD_OUT_ROWS:
        raise TooManyRows(
            f"{expected:,} held-out rows are more than the evaluation function scores within Lambda's "
            f"memory and time ({MAX_HELD_OUT_ROWS:,}): hold out fewer rows (data.split.test, or a "
            "smaller test file)"
        )
    objective_name, kind, missing = hyperparameter(hyperparameters, "objective") or DEFAULT_OBJECTIVE, None, None
    scores, undefined, statistics = {}, {}, {"version": 0.0}
    try:  # predictions no metric reads (rank:*), or that are not what the objective writes
        objective = objective_of(hyperparameters)
        kind = objective.kind
        labels = read_labels(_object_chunks(s3, bucket, keys["labels"]), objective, expected)
        # SageMaker's assembly may leave a blank line after each mini-batch: dropped, as run.py drops it.
        predictions = read_predictions(
            without_assembly_blanks(_object_chunks(s3, bucket, keys["predictions"])), objective, labels
        )
        scores, undefined = score(labels, predictions, objective)
        statistics = model_quality_statistics(objective, scores)
    except NotScorable as problem:
        missing = f"cannot score: {problem}"
    s3.put_object(
        Bucket=bucket,
        Key=keys["evaluation"],
        Body=json.dumps(statistics, indent=2).encode(),
        ContentType="application/json",
    )
    verdict = gate.verdict(scores) if gate else {"passed": True, "message": "no quality gate"}
    if gate and missing:
        verdict["message"] = f"Quality gate failed: {gate} cannot be checked, {missing}"
    description, metadata = registration(name, hyperparameters, rows, source, objective_name, scores)
    return {
        "objective": objective_name,
        "kind": kind,
        "rows": expected,
        "metrics": scores or None,
        "undefined": undefined,
        "missing": missing,
        "evaluationUri": f"s3://{bucket}/{keys['evaluation']}",
        "gate": verdict,
        "description": description,
        "metadata": metadata,
    }


def handler(event: dict, context: object) -> dict:
    """`{executionName, hyperparameters, qualityGate, rows, source}` (the checked run and the dataset
    record); the bucket and the names' rules are the function's environment, never the event's."""
    import boto3

    execution_input = _execution_input()
    bucket = os.environ[execution_input.BUCKET_VARIABLE]
    prefix = execution_input.check_prefix(os.environ[execution_input.JOB_NAME_PREFIX_VARIABLE])
    name = execution_input.check_execution_name(event.get("executionName"), prefix)
    gate = parse_gate(event.get("qualityGate"))
    hyperparameters = event.get("hyperparameters") if isinstance(event.get("hyperparameters"), dict) else {}
    rows = event.get("rows") if isinstance(event.get("rows"), dict) else {}
    source = event.get("source") if isinstance(event.get("source"), dict) else {}
    return evaluate(boto3.client("s3"), bucket, name, hyperparameters, gate, rows, source)
