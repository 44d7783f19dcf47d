"""How good the predictions are against the held-out labels."""

from __future__ import annotations

import numpy as np

_EPSILON = 1e-15


def parse_column(text: str, what: str) -> np.ndarray:
    """One number per line, as the batch transform and the seeding function write them."""
    try:
        return np.array(text.split(), dtype=np.float64)
    except ValueError as error:
        raise ValueError(f"{what} has a line that is not a number ({error})") from None


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve via the rank-sum (Mann-Whitney U) statistic, ties averaged."""
    positives = int(labels.sum())
    negatives = labels.size - positives
    if positives == 0 or negatives == 0:
        return float("nan")
    # 1-based ranks; every run of equal scores gets the average rank of the run.
    _, run_of, run_sizes = np.unique(scores, return_inverse=True, return_counts=True)
    run_ends = np.cumsum(run_sizes)
    ranks = ((run_ends - run_sizes + 1 + run_ends) / 2.0)[run_of]
    rank_sum = ranks[labels == 1].sum()
    return float((rank_sum - positives * (positives + 1) / 2.0) / (positives * negatives))


def score(labels: np.ndarray, predictions: np.ndarray) -> dict[str, float]:
    """accuracy (threshold 0.5), auc, rmse and logloss of probability predictions."""
    if labels.size != predictions.size:
        raise ValueError(f"{predictions.size} predictions for {labels.size} labels")
    if labels.size == 0:
        raise ValueError("no predictions to score")
    clipped = np.clip(predictions, _EPSILON, 1 - _EPSILON)
    return {
        "accuracy": float(np.mean((predictions >= 0.5) == (labels == 1))),
        "auc": roc_auc(labels, predictions),
        "rmse": float(np.sqrt(np.mean((predictions - labels) ** 2))),
        "logloss": float(-np.mean(labels * np.log(clipped) + (1 - labels) * np.log(1 - clipped))),
    }
