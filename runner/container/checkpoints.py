"""Checkpoints as the container writes and looks for them (checkpointing.py, callback.get_callbacks).

Every image resumes only from files named `xgboost-checkpoint.<round>` (load_checkpoint's
pattern), yet saves with xgboost's own TrainingCheckPoint, passing the rounds it resumed (0 on a
fresh start) as the interval: it writes `xgboost-checkpoint_0.json` (1.7.4) or
`xgboost-checkpoint_0.ubj` (3.x) once, after round 0. So a restarted job finds none of its own
checkpoints and trains again from round 0 (checked on branches 1.7-1, release-3.0.5 and master);
a folder holding `xgboost-checkpoint.N` files is resumed from N + 1.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import xgboost as xgb

CHECKPOINT_FILENAME = "xgboost-checkpoint"  # checkpointing.CHECKPOINT_FILENAME


def load_checkpoint(checkpoint_dir: Path | None) -> tuple[str | None, int]:
    """checkpointing.load_checkpoint: the latest `xgboost-checkpoint.N` and the rounds it holds."""
    if not checkpoint_dir or not os.path.exists(checkpoint_dir):
        return None, 0
    pattern = re.compile(rf"^{CHECKPOINT_FILENAME}\.[0-9]+$")
    checkpoints = sorted(
        (name for name in os.listdir(checkpoint_dir) if pattern.match(name)), key=lambda name: int(name.split(".")[1])
    )
    if not checkpoints:
        return None, 0
    return os.path.join(checkpoint_dir, checkpoints[-1]), int(checkpoints[-1].split(".")[1]) + 1


def checkpoint_callback(image, checkpoint_dir: Path, iteration: int) -> xgb.callback.TrainingCallback:
    """callback.get_callbacks' TrainingCheckPoint(directory, <iteration>, name=CHECKPOINT_FILENAME)."""
    os.makedirs(checkpoint_dir, exist_ok=True)
    return xgb.callback.TrainingCheckPoint(
        directory=str(checkpoint_dir), name=CHECKPOINT_FILENAME, **{image.checkpoint_every: iteration}
    )
