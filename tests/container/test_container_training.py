"""The local container trains as each SageMaker XGBoost image does (its library, CSV reading,
callbacks, metrics and model file), in the image's environment, across the process boundary."""

from __future__ import annotations

import dataclasses
import json
import re

import numpy as np
import pytest
from local_container import channel, in_image, model_config, train

from runner.container.failures import ContainerError
from runner.container.images import IMAGES
from runner.emulator import preflight
from runner.emulator.image_environments import IMAGE_VERSIONS
from runner.emulator.sagemaker import jobs as sagemaker_jobs
from runner.emulator.sagemaker.hosts import Stopped

HYPERPARAMETERS = {"objective": "reg:logistic", "eval_metric": "rmse", "num_round": "5"}


def _dataset(rows, seed=7):
    rng = np.random.default_rng(seed)
    xy = rng.integers(0, 101, size=(rows, 2))
    labels = (xy[:, 1] >= 3 * xy[:, 0] + 5).astype(int)
    return "".join(f"{label},{x},{y}\n" for label, (x, y) in zip(labels, xy)).encode()


def _train(tmp_path, files, hyperparameters=HYPERPARAMETERS, validation=None, version="1.7-1", **kwargs):
    channels = [channel(tmp_path, "train", files)]
    if validation is not None:
        channels.append(channel(tmp_path, "validation", validation))
    return train(version, channels, hyperparameters, **kwargs)


@pytest.mark.parametrize("version", IMAGE_VERSIONS)
def test_each_environment_holds_the_library_its_image_pins(version):
    assert in_image(version, "import xgboost; print(xgboost.__version__)").strip() == IMAGES[version].xgboost


def test_a_version_without_a_local_image_is_refused_naming_the_setting():
    preflight.check_container_version("1.7-1")
    with pytest.raises(preflight.UnsupportedVersion) as refused:
        preflight.check_container_version("1.5-1")
    message = str(refused.value)
    assert message.startswith("xgboostVersion '1.5-1': ") and "\n" not in message and "3.2-0" in message


def test_the_local_stack_refuses_the_version_before_starting_anything(monkeypatch):
    from components.settings import load_stack_settings
    from runner.emulator import stack

    settings = dataclasses.replace(load_stack_settings("dev"), xgboost_version="1.5-1")
    monkeypatch.setattr(stack, "mock_aws", lambda **_: pytest.fail("the emulator started"))
    with pytest.raises(stack.DeployError, match="xgboostVersion '1.5-1'"):
        with stack.local_stack(settings):
            pass


@pytest.mark.parametrize(
    "version, updaters, base_score",
    [
        ("1.7-1", "grow_colmaker,prune", 0.5),  # 1.7.4: auto is exact on one host, base_score 0.5
        ("3.2-0", "grow_quantile_histmaker", None),  # 3.x: auto is hist, base_score estimated from the labels
    ],
)
def test_tree_method_and_base_score_are_the_images_librarys_defaults(tmp_path, version, updaters, base_score):
    result = _train(tmp_path, {"part-00000.csv": _dataset(500)}, version=version)
    config = model_config(version, result.model)
    train_param = config["learner"]["gradient_booster"]["gbtree_train_param"]
    assert (train_param["tree_method"], train_param["updater"]) == ("auto", updaters)
    score = float(config["learner"]["learner_model_param"]["base_score"].strip("[]"))
    if base_score is not None:
        assert score == base_score
    else:
        assert score != 0.5 and 0 < score < 1


def test_absolute_error_starts_from_the_label_median_as_1_7_4_does(tmp_path):
    data = b"".join(f"{v},{i}\n".encode() for i, v in enumerate([1, 2, 3, 10, 100]))
    result = _train(tmp_path, {"a.csv": data}, {"objective": "reg:absoluteerror", "num_round": "1"})
    assert float(model_config("1.7-1", result.model)["learner"]["learner_model_param"]["base_score"]) == 3.0


_MATRIX = """
import json, sys
from pathlib import Path
import numpy as np
from runner.container.data import load_channel
matrix = load_channel(Path(sys.argv[1]), False, Path(sys.argv[2]))
dense = np.full((matrix.num_row(), matrix.num_col()), np.nan)
coo = matrix.get_data().tocoo()
dense[coo.row, coo.col] = coo.data
print(json.dumps([matrix.num_row(), float(matrix.get_label()[0]), [None if np.isnan(v) else v for v in dense[0, :2]]]))
"""


@pytest.mark.parametrize("version", ["1.7-1", "3.2-0"])
@pytest.mark.parametrize(
    "data, rows, label0, first_row",
    [
        (b"label,x,y\n1,1,1\n0,1,2\n", 3, 0.0, [None, None]),  # a header: label 0, features missing
        (b"1,nan,3\n0,2,3\n", 2, 1.0, [None, 3.0]),  # nan: missing, not 0
        (b'1,"2",3\n0,2,3\n', 2, 1.0, [None, 3.0]),  # a quoted number is not a number
        (b"1,2,3\n\n\n0,2,3\n", 2, 1.0, [2.0, 3.0]),  # blank lines are skipped
        (b"1,2\n0,2,3\n", 2, 1.0, [2.0, None]),  # ragged rows are sparse
        (b"1;2;3\n0;4;5\n", 2, 1.0, [2.0, 3.0]),  # the delimiter is sniffed
    ],
)
def test_training_csv_is_read_by_xgboosts_own_parser(tmp_path, version, data, rows, label0, first_row):
    path = channel(tmp_path, "train", {"a.csv": data}).path
    assert json.loads(in_image(version, _MATRIX, str(path), str(tmp_path))) == [rows, label0, first_row]


def test_inf_is_a_parse_error(tmp_path):
    with pytest.raises(ContainerError) as failure:
        _train(tmp_path, {"a.csv": b"1,inf,3\n0,2,3\n"})
    assert failure.value.reason.startswith("ClientError: Failed to load csv data with exception:\n")


def test_a_hidden_file_fails_the_job(tmp_path):
    with pytest.raises(ContainerError) as failure:
        _train(tmp_path, {"a.csv": _dataset(50), "sub/.hidden": b"1,1,1\n"})
    assert failure.value.reason == "ClientError: Hidden file found in the data path! Remove that before training."


def test_files_down_to_depth_three_are_read_deeper_ones_are_not(tmp_path):
    one = b"1,1,1\n"
    assert _train(tmp_path / "3", {"b/c/c.csv": one}, {"num_round": "1"}).rows == {"train": 1}
    with pytest.raises(ContainerError) as failure:
        _train(tmp_path / "4", {"b/c/d/d.csv": one}, {"num_round": "1"})
    assert failure.value.reason == "AlgorithmError: IndexError: list index out of range"


def test_csv_weights_reads_column_one_as_the_weight(tmp_path):
    result = _train(tmp_path, {"a.csv": b"1,0.5,2,3\n0,2,4,5\n1,1,1,1\n"}, {**HYPERPARAMETERS, "csv_weights": "1"})
    assert model_config("1.7-1", result.model)["features"] == 2


@pytest.mark.parametrize(
    "files, hyperparameters, name, content_type, reason",
    [
        (
            {"a": b"2,1,1\n0,1,2\n"},
            HYPERPARAMETERS,
            "train",
            "text/csv",
            "ClientError: [??:??:??] ../src/objective/regression_obj.cu:148: label must be in [0,1] for logistic regression",
        ),
        ({"a": b"1,1,1\n"}, HYPERPARAMETERS, "extra", "text/csv", "ClientError: Missing required channel: train"),
        ({"a": b"1,1,1\n"}, HYPERPARAMETERS, "train", "text/libsvm", "ClientError: Channel configuration for 'train'"),
        (
            {"a": b"1,1,1\n"},
            {"num_round": "0"},
            "train",
            "text/csv",
            "ClientError: Hyperparameter num_round: 0 is not in [1, +inf)",
        ),
        (
            {"a": b"1,1,1\n"},
            {"num_round": "1", "sagemaker_program": "train.py"},
            "train",
            "text/csv",
            "ClientError: Hyperparameter sagemaker_program is not allowed: it switches the container to script mode",
        ),
        ({"a": b""}, HYPERPARAMETERS, "train", "text/csv", "ClientError: No data in train channel path"),
    ],
)
def test_container_fails_like_the_real_one(tmp_path, files, hyperparameters, name, content_type, reason):
    with pytest.raises(ContainerError) as failure:
        train("1.7-1", [channel(tmp_path, name, files, content_type)], hyperparameters)
    # xgboost's own message, its time and stack trace included, as the container passes it on
    assert re.sub(r"^(ClientError: )\[\d\d:\d\d:\d\d\]", r"\1[??:??:??]", failure.value.reason).startswith(reason)
    assert len(failure.value.reason) <= 1024


@pytest.mark.parametrize("version, accuracy_is_the_positive_share", [("1.7-1", False), ("3.2-0", True)])
def test_every_round_is_logged_with_five_decimals_and_the_containers_metrics_see_what_the_image_gives(
    tmp_path, version, accuracy_is_the_positive_share
):
    """1.7-1 hands its metrics to xgb.train as feval (raw margins); 3.x as custom_metric (the
    library gives it probabilities, which margin_to_class_label still compares with 0: every row
    is class 1, so accuracy is the share of positive labels)."""
    validation = _dataset(300, seed=8)
    rounds = []
    result = _train(
        tmp_path,
        {"a.csv": _dataset(500)},
        {"objective": "binary:logistic", "num_round": "3", "eval_metric": "auc,accuracy"},
        validation={"v.csv": validation},
        version=version,
        on_round=rounds.append,
    )
    assert rounds == [0, 1, 2] and len(result.log) == 3
    assert result.log[0].startswith("[0]\ttrain-auc:") and "\tvalidation-accuracy:" in result.log[0]
    fields = [field.split(":")[1] for field in result.log[-1].split("\t")[1:]]
    assert all(len(value.split(".")[1]) == 5 for value in fields)
    accuracy = sagemaker_jobs.final_metrics(result.log)["validation:accuracy"]
    positives = np.mean([line.startswith(b"1,") for line in validation.splitlines()])
    if accuracy_is_the_positive_share:
        assert accuracy == pytest.approx(positives, abs=1e-5)
    else:
        assert accuracy >= 0.97


def test_final_metrics_are_what_the_metric_definitions_read_float32_and_finite():
    log = [
        "[0]\ttrain-rmse:0.50000\tvalidation-rmse:inf\ttrain-custom:0.1",
        "[1]\ttrain-rmse:1.19876\tvalidation-rmse:nan\tvalidation-logloss:0.25000\ttrain-mae:1e39",
    ]
    assert sagemaker_jobs.final_metrics(log) == {"train:rmse": 1.1987600326538086, "validation:logloss": 0.25}


@pytest.mark.parametrize("version", ["1.7-1", "3.2-0"])
def test_early_stopping_keeps_the_best_round_on_the_last_eval_metric(tmp_path, version):
    result = _train(
        tmp_path,
        {"a.csv": _dataset(2000)},
        {
            "objective": "binary:logistic",
            "num_round": "200",
            "early_stopping_rounds": "3",
            "eval_metric": "error,logloss",
        },
        validation={"v.csv": _dataset(500, seed=9)},
        version=version,
    )
    config = model_config(version, result.model)
    best = int(config["best_iteration"])
    scores = [float(line.split("validation-logloss:")[1].split("\t")[0]) for line in result.log]
    assert scores[best] == min(scores) and len(result.log) < 200
    assert config["rounds"] == best + 1  # save_best: the rounds after the best are dropped


def test_a_stop_request_ends_the_host(tmp_path):
    rounds = []
    with pytest.raises(Stopped):
        _train(
            tmp_path,
            {"a.csv": _dataset(200)},
            {**HYPERPARAMETERS, "num_round": "100000"},
            on_round=rounds.append,
            stop_requested=lambda: len(rounds) >= 2,
        )
    assert 2 <= len(rounds) < 100000


@pytest.mark.parametrize("option", [{"predictor": "gpu_predictor"}, {"tree_method": "gpu_hist"}])
def test_gpu_options_fail_as_on_a_cpu_instance_even_where_this_machine_has_a_gpu(tmp_path, option):
    with pytest.raises(ContainerError) as failure:
        _train(tmp_path, {"a.csv": _dataset(100)}, {**HYPERPARAMETERS, **option})
    assert "No visible GPU is found for XGBoost." in failure.value.reason
