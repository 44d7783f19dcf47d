"""What differs between the SageMaker XGBoost images this local container runs: one table.

Each entry was read in that image's container code (aws/sagemaker-xgboost-container: branch
`1.7-1`, `release-3.0.5`, `master` for 3.2-0) and library (dmlc/xgboost). What the library itself
decides (tree method `auto`/`hist`, `base_score` 0.5 or estimated, the model file format, the
checkpoint file suffix) is not set here: the image's library in its environment does it; the
table names it for the docs and the tests (`model_magic`, `checkpoint_suffix`).
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Image:
    version: str  # the image tag: sagemaker-xgboost:<version>
    xgboost: str  # the library it pins
    # The first bytes of `xgboost-model` as booster.save_model writes it with no extension:
    # 1.7.4 the legacy binary format ("binf"), 2.1+ UBJSON ("{"); 3.1+ cannot load the legacy one.
    model_magic: bytes
    # TrainingCheckPoint's keyword for "save every n rounds" (callback.get_callbacks passes the
    # resumed round count there: 0 on a fresh start, so it saves after round 0 only) and the suffix
    # of what it writes: 1.7.4 `iterations` and `_N.json`, 3.x `interval` and `_N.ubj`.
    checkpoint_every: str
    checkpoint_suffix: str
    # algorithm_mode/train.py hands the container's own metrics to xgb.train as `feval` on 1.7-1
    # (1.7.4 gives it the raw margins) and as `custom_metric` on 3.x (the library gives it the
    # transformed predictions, which custom_metrics.margin_to_class_label still compares with 0).
    metric_keyword: str  # "feval" | "custom_metric"
    # callback.get_callbacks: 1.7-1 checkpoints and keeps the best model on every host, 3.x on the master only.
    master_only_callbacks: bool
    # distributed.Rabit: 1.7-1 runs xgboost 1.7.4's Python tracker and collective.init; 3.x the
    # native xgboost.tracker.RabitTracker with collective.CommunicatorContext, and dmlc_timeout is
    # max(connect_retry_timeout, 30) (PRs 479-482).
    tracker: str  # "python" | "native"
    dmlc_timeout_floor: int | None
    # data_utils.get_csv_dmatrix: master (3.2-0) removed MLIO and refuses Pipe mode with this message.
    pipe_mode_refusal: str | None


_PIPE_REMOVED = (
    "Pipe mode for CSV is no longer supported. Please use Fast File mode (default) instead. "
    "Set input_mode='File' in your SageMaker Estimator or TrainingInput."
)

IMAGES = {
    image.version: image
    for image in (
        Image("1.7-1", "1.7.4", b"binf", "iterations", ".json", "feval", False, "python", None, None),
        Image("3.0-5", "3.0.5", b"{", "interval", ".ubj", "custom_metric", True, "native", 30, None),
        Image("3.2-0", "3.2.0", b"{", "interval", ".ubj", "custom_metric", True, "native", 30, _PIPE_REMOVED),
    )
}


def image_of_library(version: str) -> Image:
    """The image whose library is xgboost `version` (the environment this process runs in)."""
    for image in IMAGES.values():
        if image.xgboost == version:
            return image
    raise LookupError(f"xgboost {version} is the library of none of the images {', '.join(IMAGES)}")
