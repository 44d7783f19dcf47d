"""The local container checkpoints and resumes as the 1.7-1 container does (callback.get_callbacks,
checkpointing.load_checkpoint), on xgboost 1.7.4."""

from __future__ import annotations

import numpy as np
import pytest
import xgboost as xgb

from runner.emulator.sagemaker import container

HYPERPARAMETERS = {"objective": "reg:logistic", "eval_metric": "rmse", "num_round": "6"}


def _dataset(rows=300, seed=3) -> bytes:
    rng = np.random.default_rng(seed)
    xy = rng.integers(0, 101, size=(rows, 2))
    labels = (xy[:, 1] >= 3 * xy[:, 0] + 5).astype(int)
    return "".join(f"{label},{x},{y}\n" for label, (x, y) in zip(labels, xy)).encode()


@pytest.fixture
def channels(tmp_path):
    path = tmp_path / "data" / "train" / "train.csv"
    path.parent.mkdir(parents=True)
    path.write_bytes(_dataset())
    return [container.Channel("train", "text/csv", path.parent)]


class Reclaimed(container.Stopped):
    pass


def _reclaim_after(rounds: int):
    def hook(epoch: int) -> None:
        if epoch + 1 >= rounds:
            raise Reclaimed()
    return hook


def test_a_fresh_job_writes_the_one_checkpoint_1_7_1_writes_and_a_restart_trains_from_round_0(tmp_path, channels):
    uninterrupted = container.train_host(channels, HYPERPARAMETERS, checkpoint_dir=tmp_path / "a")
    # TrainingCheckPoint(iterations=0) saves after round 0 only, under a name load_checkpoint ignores.
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["xgboost-checkpoint_0.json"]

    folder = tmp_path / "b"
    with pytest.raises(Reclaimed):
        container.train_host(channels, HYPERPARAMETERS, checkpoint_dir=folder, after_round=_reclaim_after(3))
    assert container.load_checkpoint(folder) == (None, 0)
    restarted = container.train_host(channels, HYPERPARAMETERS, checkpoint_dir=folder)
    assert [line.split("\t")[0] for line in restarted.log] == [f"[{i}]" for i in range(6)]
    assert restarted.model == uninterrupted.model


def test_a_folder_with_numbered_checkpoints_is_resumed_from_the_latest(tmp_path, channels):
    uninterrupted = container.train_host(channels, HYPERPARAMETERS)
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    matrix = xgb.DMatrix(f"{channels[0].path}?format=csv&label_column=0", silent=True)
    params = {"objective": "reg:logistic", "eval_metric": ["rmse"]}
    for rounds in (2, 3):  # xgboost-checkpoint.1 and .2: the latest by number wins, not by name
        xgb.train(params, matrix, num_boost_round=rounds).save_model(str(folder / f"xgboost-checkpoint.{rounds - 1}"))
    (folder / "xgboost-checkpoint.10.bak").write_text("not a checkpoint")
    assert container.load_checkpoint(folder) == (str(folder / "xgboost-checkpoint.2"), 3)

    resumed = container.train_host(channels, HYPERPARAMETERS, checkpoint_dir=folder)
    # num_round - 3 more rounds; 1.7.4 numbers a resumed run's rounds (and log lines) from 0 again
    assert [line.split("\t")[0] for line in resumed.log] == ["[0]", "[1]", "[2]"]
    assert resumed.model == uninterrupted.model


def test_without_a_checkpoint_folder_nothing_is_written(tmp_path, channels):
    result = container.train_host(channels, HYPERPARAMETERS)
    assert len(result.log) == 6 and container.load_checkpoint(None) == (None, 0)
