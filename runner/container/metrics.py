"""The container's own metrics (metrics/custom_metrics.py: scikit-learn there, numpy here).

They see raw margins, as xgboost >= 1.2 hands them to the container's feval; class metrics turn
margins into labels the container's way (argmax, or log-odds > 0).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


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


def feval(names: list[str]):
    """custom_metrics.configure_feval: the container's metrics, computed on the raw margins."""

    def custom_feval(margins: np.ndarray, matrix):
        labels = matrix.get_label()
        return [(name, CUSTOM_METRICS[name](labels, margins)) for name in names]

    return custom_feval
