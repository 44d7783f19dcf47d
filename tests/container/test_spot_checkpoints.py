"""The local container checkpoints and resumes as each image's container does (callback.get_callbacks,
checkpointing.load_checkpoint: branches 1.7-1, release-3.0.5 and master), in the image's environment."""

from __future__ import annotations

import numpy as np
import pytest
from local_container import channel, in_image, train

from runner.container.images import IMAGES

HYPERPARAMETERS = {"objective": "reg:logistic", "eval_metric": "rmse", "num_round": "6"}


def _dataset(rows=300, seed=3) -> bytes:
    rng = np.random.default_rng(seed)
    xy = rng.integers(0, 101, size=(rows, 2))
    labels = (xy[:, 1] >= 3 * xy[:, 0] + 5).astype(int)
    return "".join(f"{label},{x},{y}\n" for label, (x, y) in zip(labels, xy)).encode()


@pytest.fixture
def channels(tmp_path):
    return [channel(tmp_path / "data", "train", {"train.csv": _dataset()})]


class Reclaimed(Exception):
    pass


def _reclaim_after(rounds: int):
    def hook(epoch: int) -> None:
        if epoch + 1 >= rounds:
            raise Reclaimed()

    return hook


@pytest.mark.parametrize("version", ["1.7-1", "3.2-0"])
def test_a_fresh_job_writes_the_one_checkpoint_its_image_writes_and_a_restart_trains_from_round_0(
    tmp_path, channels, version
):
    uninterrupted = train(version, channels, HYPERPARAMETERS, checkpoint_dir=tmp_path / "a")
    # TrainingCheckPoint(<interval>=0) saves after round 0 only, under a name load_checkpoint ignores.
    suffix = IMAGES[version].checkpoint_suffix
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == [f"xgboost-checkpoint_0{suffix}"]

    folder = tmp_path / "b"
    with pytest.raises(Reclaimed):
        train(version, channels, HYPERPARAMETERS, checkpoint_dir=folder, on_round=_reclaim_after(3))
    restarted = train(version, channels, HYPERPARAMETERS, checkpoint_dir=folder)
    assert [line.split("\t")[0] for line in restarted.log] == [f"[{i}]" for i in range(6)]
    assert restarted.model == uninterrupted.model


_CHECKPOINTS = """
import sys, xgboost as xgb
matrix = xgb.DMatrix(sys.argv[1] + "?format=csv&label_column=0", silent=True)
params = {"objective": "reg:logistic", "eval_metric": ["rmse"]}
for rounds in (2, 3):  # xgboost-checkpoint.1 and .2: the latest by number wins, not by name
    xgb.train(params, matrix, num_boost_round=rounds).save_model(f"{sys.argv[2]}/xgboost-checkpoint.{rounds - 1}")
"""


@pytest.mark.parametrize("version", ["1.7-1", "3.2-0"])
def test_a_folder_with_numbered_checkpoints_is_resumed_from_the_latest(tmp_path, channels, version):
    uninterrupted = train(version, channels, HYPERPARAMETERS)
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    in_image(version, _CHECKPOINTS, str(channels[0].path / "train.csv"), str(folder))
    (folder / "xgboost-checkpoint.10.bak").write_text("not a checkpoint")

    resumed = train(version, channels, HYPERPARAMETERS, checkpoint_dir=folder)
    # num_round - 3 more rounds, numbered from 0 again in the log
    assert [line.split("\t")[0] for line in resumed.log] == ["[0]", "[1]", "[2]"]
    assert resumed.model == uninterrupted.model


def test_without_a_checkpoint_folder_nothing_is_written(tmp_path, channels):
    result = train("3.2-0", channels, HYPERPARAMETERS)
    assert len(result.log) == 6 and sorted(p.name for p in tmp_path.rglob("*checkpoint*")) == []
