"""The local container trains as the SageMaker XGBoost 1.7-1 container does (xgboost 1.7.4, its CSV
reading, callbacks, metrics and model file): one test per way the old emulation differed."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import xgboost as xgb

from runner.emulator.sagemaker import container

HYPERPARAMETERS = {"objective": "reg:logistic", "eval_metric": "rmse", "num_round": "5"}


def _dataset(rows, seed=7):
    rng = np.random.default_rng(seed)
    xy = rng.integers(0, 101, size=(rows, 2))
    labels = (xy[:, 1] >= 3 * xy[:, 0] + 5).astype(int)
    return "".join(f"{label},{x},{y}\n" for label, (x, y) in zip(labels, xy)).encode()


def _channel(root: Path, name: str, files: dict[str, bytes], content_type="text/csv") -> container.Channel:
    for relative, data in files.items():
        path = root / name / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return container.Channel(name, content_type, root / name)


def _train(tmp_path, files, hyperparameters=HYPERPARAMETERS, validation=None, **kwargs):
    channels = [_channel(tmp_path, "train", files)]
    if validation is not None:
        channels.append(_channel(tmp_path, "validation", validation))
    return container.train_host(channels, hyperparameters, **kwargs)


def _booster(result) -> xgb.Booster:
    return container.load_model(result.model_tar_gz)


def test_the_library_is_the_one_the_image_pins():
    assert xgb.__version__ == container.IMAGE_XGBOOST["1.7-1"] == "1.7.4"


def test_a_version_the_local_library_does_not_run_is_refused_naming_the_setting():
    container.check_container_version("1.7-1")
    with pytest.raises(container.UnsupportedVersion) as refused:
        container.check_container_version("1.5-1")
    message = str(refused.value)
    assert message.startswith("xgboostVersion '1.5-1': ") and "\n" not in message and "1.7-1" in message


def test_the_local_stack_refuses_the_version_before_starting_anything(monkeypatch):
    import dataclasses

    from components.settings import load_stack_settings
    from runner.emulator import stack

    settings = dataclasses.replace(load_stack_settings("dev"), xgboost_version="1.5-1")
    monkeypatch.setattr(stack, "mock_aws", lambda **_: pytest.fail("the emulator started"))
    with pytest.raises(stack.DeployError, match="xgboostVersion '1.5-1'"):
        with stack.local_stack(settings):
            pass


def test_tree_method_is_the_librarys_own_choice_and_base_score_its_default(tmp_path):
    """No XGBOOST_17_DEFAULTS: 1.7.4's auto (exact below 2^22 rows on one host), base_score 0.5."""
    result = _train(tmp_path, {"part-00000.csv": _dataset(500)})
    config = json.loads(_booster(result).save_config())
    assert config["learner"]["gradient_booster"]["gbtree_train_param"]["tree_method"] == "auto"
    assert config["learner"]["gradient_booster"]["gbtree_model_param"]  # a tree model
    assert set(config["learner"]["gradient_booster"]["updater"]) == {"grow_colmaker", "prune"}  # exact
    assert float(config["learner"]["learner_model_param"]["base_score"]) == 0.5


def test_absolute_error_starts_from_the_label_median_as_1_7_4_does(tmp_path):
    data = b"".join(f"{v},{i}\n".encode() for i, v in enumerate([1, 2, 3, 10, 100]))
    result = _train(tmp_path, {"a.csv": data}, {"objective": "reg:absoluteerror", "num_round": "1"})
    config = json.loads(_booster(result).save_config())
    assert float(config["learner"]["learner_model_param"]["base_score"]) == 3.0


def test_the_model_file_is_1_7_4s_legacy_binary(tmp_path):
    result = _train(tmp_path, {"a.csv": _dataset(200)})
    assert result.model[:4] == b"binf"
    assert _booster(result).num_boosted_rounds() == 5


@pytest.mark.parametrize("data, rows, label0, first_row", [
    (b"label,x,y\n1,1,1\n0,1,2\n", 3, 0.0, [np.nan, np.nan]),      # a header: label 0, features missing
    (b"1,nan,3\n0,2,3\n", 2, 1.0, [np.nan, 3.0]),                   # nan: missing, not 0
    (b'1,"2",3\n0,2,3\n', 2, 1.0, [np.nan, 3.0]),                   # a quoted number is not a number
    (b"1,2,3\n\n\n0,2,3\n", 2, 1.0, [2.0, 3.0]),                    # blank lines are skipped
    (b"1,2\n0,2,3\n", 2, 1.0, [2.0, np.nan]),                        # ragged rows are sparse
    (b"1;2;3\n0;4;5\n", 2, 1.0, [2.0, 3.0]),                         # the delimiter is sniffed
])
def test_training_csv_is_read_by_xgboosts_own_parser(tmp_path, data, rows, label0, first_row):
    matrix = container.load_channel(_channel(tmp_path, "train", {"a.csv": data}).path, False, tmp_path)
    assert matrix.num_row() == rows and matrix.get_label()[0] == label0
    dense = np.full((matrix.num_row(), matrix.num_col()), np.nan)
    coo = matrix.get_data().tocoo()
    dense[coo.row, coo.col] = coo.data
    assert np.array_equal(dense[0, :2], first_row, equal_nan=True)


def test_inf_is_a_parse_error(tmp_path):
    with pytest.raises(container.ContainerError) as failure:
        _train(tmp_path, {"a.csv": b"1,inf,3\n0,2,3\n"})
    assert failure.value.reason.startswith("ClientError: Failed to load csv data with exception:\n")


def test_a_hidden_file_fails_the_job(tmp_path):
    with pytest.raises(container.ContainerError) as failure:
        _train(tmp_path, {"a.csv": _dataset(50), "sub/.hidden": b"1,1,1\n"})
    assert failure.value.reason == "ClientError: Hidden file found in the data path! Remove that before training."


def test_files_down_to_depth_three_are_read_deeper_ones_are_not(tmp_path):
    one = b"1,1,1\n"
    assert _train(tmp_path / "3", {"b/c/c.csv": one}, {"num_round": "1"}).rows == {"train": 1}
    with pytest.raises(container.ContainerError) as failure:
        _train(tmp_path / "4", {"b/c/d/d.csv": one}, {"num_round": "1"})
    assert failure.value.reason == "AlgorithmError: IndexError: list index out of range"


def test_csv_weights_reads_column_one_as_the_weight(tmp_path):
    result = _train(tmp_path, {"a.csv": b"1,0.5,2,3\n0,2,4,5\n1,1,1,1\n"}, {**HYPERPARAMETERS, "csv_weights": "1"})
    assert _booster(result).num_features() == 2


@pytest.mark.parametrize("files, hyperparameters, name, content_type, reason", [
    ({"a": b"2,1,1\n0,1,2\n"}, HYPERPARAMETERS, "train", "text/csv",
     "ClientError: [??:??:??] ../src/objective/regression_obj.cu:148: label must be in [0,1] for logistic regression"),
    ({"a": b"1,1,1\n"}, HYPERPARAMETERS, "extra", "text/csv", "ClientError: Missing required channel: train"),
    ({"a": b"1,1,1\n"}, HYPERPARAMETERS, "train", "text/libsvm", "ClientError: Channel configuration for 'train'"),
    ({"a": b"1,1,1\n"}, {"num_round": "0"}, "train", "text/csv",
     "ClientError: Hyperparameter num_round: 0 is not in [1, +inf)"),
    ({"a": b"1,1,1\n"}, {"num_round": "1", "sagemaker_program": "train.py"}, "train", "text/csv",
     "ClientError: Hyperparameter sagemaker_program is not allowed: it switches the container to script mode"),
    ({"a": b""}, HYPERPARAMETERS, "train", "text/csv", "ClientError: No data in training channel path"),
])
def test_container_fails_like_the_real_one(tmp_path, files, hyperparameters, name, content_type, reason):
    with pytest.raises(container.ContainerError) as failure:
        container.train_host([_channel(tmp_path, name, files, content_type)], hyperparameters)
    # xgboost's own message, its time and stack trace included, as the container passes it on
    assert re.sub(r"^(ClientError: )\[\d\d:\d\d:\d\d\]", r"\1[??:??:??]", failure.value.reason).startswith(reason)
    assert len(failure.value.reason) <= 1024


def test_every_round_is_logged_with_five_decimals_and_the_containers_metrics_see_margins(tmp_path):
    lines = []
    result = _train(tmp_path, {"a.csv": _dataset(500)}, {"objective": "binary:logistic", "num_round": "3",
                    "eval_metric": "auc,accuracy"}, validation={"v.csv": _dataset(300, seed=8)},
                    emit=lines.append)
    assert lines == result.log and len(lines) == 3
    assert lines[0].startswith("[0]\ttrain-auc:") and "\tvalidation-accuracy:" in lines[0]
    fields = [field.split(":")[1] for field in lines[-1].split("\t")[1:]]
    assert all(len(value.split(".")[1]) == 5 for value in fields)
    metrics = container.final_metrics(result.log)
    assert metrics["validation:accuracy"] >= 0.97  # argmax / margin > 0, not probability > 0


def test_final_metrics_are_what_the_metric_definitions_read_float32_and_finite():
    log = ["[0]\ttrain-rmse:0.50000\tvalidation-rmse:inf\ttrain-custom:0.1",
           "[1]\ttrain-rmse:1.19876\tvalidation-rmse:nan\tvalidation-logloss:0.25000"]
    assert container.final_metrics(log) == {"train:rmse": 1.1987600326538086, "validation:logloss": 0.25}


def test_early_stopping_keeps_the_best_round_on_the_last_eval_metric(tmp_path):
    result = _train(tmp_path, {"a.csv": _dataset(2000)},
                    {"objective": "binary:logistic", "num_round": "200", "early_stopping_rounds": "3",
                     "eval_metric": "error,logloss"}, validation={"v.csv": _dataset(500, seed=9)})
    booster = _booster(result)
    best = int(booster.attr("best_iteration"))
    scores = [float(line.split("validation-logloss:")[1].split("\t")[0]) for line in result.log]
    assert scores[best] == min(scores) and len(result.log) < 200
    assert booster.num_boosted_rounds() == best + 1  # save_best: the rounds after the best are dropped


def test_a_stop_request_ends_training_at_the_next_round(tmp_path):
    rounds = []
    with pytest.raises(container.Stopped):
        _train(tmp_path, {"a.csv": _dataset(200)}, {**HYPERPARAMETERS, "num_round": "1000"},
               emit=rounds.append, stop_requested=lambda: len(rounds) >= 2)
    assert len(rounds) == 2


def test_a_non_master_host_trains_but_keeps_no_model(tmp_path):
    result = _train(tmp_path, {"a.csv": _dataset(200)}, is_master=False)
    assert result.model is None and len(result.log) == 5


@pytest.mark.parametrize("option", [{"predictor": "gpu_predictor"}, {"tree_method": "gpu_hist"}])
def test_gpu_options_fail_as_on_a_cpu_instance_even_where_this_machine_has_a_gpu(tmp_path, option):
    with pytest.raises(container.ContainerError) as failure:
        _train(tmp_path, {"a.csv": _dataset(100)}, {**HYPERPARAMETERS, **option})
    assert "No visible GPU is found for XGBoost." in failure.value.reason
