"""run.py --local --data: real public datasets end to end, and bad data refused before anything starts.

Each dataset goes through the whole rehearsal (upload, Validate input, Prepare dataset, training
with a validation channel, batch transform), and its predictions must equal a plain XGBoost
script's trained on the same split (re-derived here from the documented rule: one
random.Random(seed).random() draw per row) with the same hyperparameters and the container's
numerics: the library of the stack's image, in that image's environment, with its defaults.
"""

import json
import random
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from local_run import SEED, run
from sklearn import datasets

from components.settings import load_stack_settings
from runner import cli
from runner import data as user_data
from runner.cli import start
from runner.emulator.image_environments import python_for


def split(frame: pd.DataFrame, validation: float, test: float):
    rng = random.Random(SEED)
    draws = np.array([rng.random() for _ in range(len(frame))])
    return (
        frame[draws >= test + validation],
        frame[(draws >= test) & (draws < test + validation)],
        frame[draws < test],
    )


_PLAIN = """
import json, sys
import numpy as np, xgboost as xgb
folder = sys.argv[1]
params, rounds = json.loads(open(folder + "/params.json").read())
def matrix(name):
    data = np.load(folder + "/" + name + ".npy")
    return xgb.DMatrix(data[:, 1:], label=data[:, 0])
train, validation = matrix("train"), matrix("validation")
booster = xgb.train(params, train, rounds, evals=[(train, "train"), (validation, "validation")], verbose_eval=False)
np.save(folder + "/predictions.npy", booster.predict(matrix("test")))
"""


def plain_predictions(train, validation, test, label, params, rounds):
    """A plain script on the stack's image's library (its environment's interpreter), on the same split."""
    with tempfile.TemporaryDirectory() as folder:
        for name, frame in (("train", train), ("validation", validation), ("test", test)):
            columns = [label] + [column for column in frame.columns if column != label]
            np.save(f"{folder}/{name}.npy", frame[columns].to_numpy(np.float32))
        Path(folder, "params.json").write_text(json.dumps([params, rounds]))
        subprocess.run(
            [str(python_for(load_stack_settings("dev").xgboost_version)), "-c", _PLAIN, folder],
            check=True,
            capture_output=True,
        )
        return np.load(f"{folder}/predictions.npy")


def predictions_of(summary):
    return np.loadtxt(summary["predictions"], ndmin=1)


def check_run(summary, train, validation, test, label, params, rounds):
    assert summary["status"] == "SUCCEEDED", summary.get("cause")
    assert summary["rows"] == {"train": len(train), "validation": len(validation), "test": len(test)}
    expected = plain_predictions(train, validation, test, label, params, rounds)
    np.testing.assert_allclose(predictions_of(summary), expected, rtol=1e-6, atol=1e-7)
    final = summary["training"]["final_metrics"]
    assert any(name.startswith("validation:") for name in final), final


def test_binary_breast_cancer_csv_matches_plain_xgboost(capsys, tmp_path, shared_stack):
    frame = datasets.load_breast_cancer(as_frame=True).frame.rename(columns={"target": "label"})
    frame.to_csv(tmp_path / "cancer.csv", index=False)
    params = {"objective": "binary:logistic", "eval_metric": "logloss", "max_depth": 3}
    code, summary, err = run(
        capsys,
        tmp_path,
        "--data",
        str(tmp_path / "cancer.csv"),
        *[f"--hp={k}={v}" for k, v in params.items()],
        "--hp",
        "num_round=8",
    )
    assert code == 0, err
    assert "] Prepare dataset: succeeded" in err and "Generate dataset" not in err  # the progress shows it
    # The label column was first in the frame's last place; the features keep their order.
    check_run(summary, *split(frame, 0.1, 0.2), "label", params, 8)
    # The record says where the rows came from and which split the seed drew.
    assert summary["data"]["kind"] == "file" and summary["data"]["label"] == "label"
    assert summary["data"]["split"] == {"validation": 0.1, "test": 0.2}
    assert summary["data"]["features"] == [c for c in frame.columns if c != "label"]
    assert (
        np.loadtxt(summary["predictions"].replace("predictions.csv", "labels.csv")).tolist()
        == split(frame, 0.1, 0.2)[2]["label"].tolist()
    )


def test_multiclass_iris_parquet_with_class_names_matches_plain_xgboost(capsys, tmp_path, shared_stack):
    iris = datasets.load_iris(as_frame=True)
    frame = iris.frame.assign(species=[iris.target_names[t] for t in iris.frame.target]).drop(columns="target")
    frame.to_parquet(tmp_path / "iris.parquet")
    params = {"objective": "multi:softmax", "num_class": 3, "eval_metric": "mlogloss"}
    code, summary, err = run(
        capsys,
        tmp_path,
        "--data",
        str(tmp_path / "iris.parquet"),
        "--label",
        "species",
        "--split",
        "0.2,0.2",
        *[f"--hp={k}={v}" for k, v in params.items()],
        "--hp",
        "num_round=4",
    )
    assert code == 0, err
    # Class names map to 0..K-1 in order of first appearance (iris is sorted: setosa first).
    numbered = frame.assign(species=frame.species.map({"setosa": 0, "versicolor": 1, "virginica": 2}))
    check_run(summary, *split(numbered, 0.2, 0.2), "species", params, 4)


def test_regression_diabetes_with_a_test_file_matches_plain_xgboost(capsys, tmp_path, shared_stack):
    frame = datasets.load_diabetes(as_frame=True).frame.rename(columns={"target": "progression"})
    frame = frame[["progression", *frame.columns[:-1]]]  # the label may be any column, first included
    frame.iloc[:400].to_csv(tmp_path / "train.csv", index=False)
    frame.iloc[400:].to_csv(tmp_path / "test.csv", index=False)
    params = {"objective": "reg:squarederror", "eval_metric": "rmse", "eta": 0.3}
    code, summary, err = run(
        capsys,
        tmp_path,
        "--data",
        str(tmp_path / "train.csv"),
        "--test",
        str(tmp_path / "test.csv"),
        "--label",
        "progression",
        "--split",
        "0.15,0",
        *[f"--hp={k}={v}" for k, v in params.items()],
        "--hp",
        "num_round=6",
    )
    assert code == 0, err
    train, validation, _ = split(frame.iloc[:400], 0.15, 0.0)
    check_run(summary, train, validation, frame.iloc[400:], "progression", params, 6)


def test_early_stopping_works_through_the_validation_channel(capsys, tmp_path, shared_stack):
    """The issue's item 3: early_stopping_rounds=3 now stops on the validation channel."""
    frame = datasets.load_breast_cancer(as_frame=True).frame.rename(columns={"target": "label"})
    frame.to_csv(tmp_path / "cancer.csv", index=False)
    common = [
        "--data",
        str(tmp_path / "cancer.csv"),
        "--hp",
        "objective=binary:logistic",
        "--hp",
        "eval_metric=logloss",
        "--hp",
        "num_round=500",
        "--hp",
        "eta=0.9",
    ]
    code, stopped, err = run(capsys, tmp_path, *common, "--hp", "early_stopping_rounds=3")
    assert code == 0, err
    code, full, err = run(capsys, tmp_path, *common)
    assert code == 0, err
    # The best iteration is kept: the stopped model differs from the 500-round one.
    assert not np.allclose(predictions_of(stopped), predictions_of(full))


BAD = {
    "non-numeric.csv": (
        "a,weight,label\n" + "1,2.5,0\n" * 20 + "2,?,1\n",
        "column 'weight' holds numbers but also text such as '?'",
    ),
    "no-label.csv": ("a,b\n1,0\n2,1\n", "no label column 'label' in the header ('a', 'b'): pass --label"),
    "empty.csv": ("", "the file is empty: expected a header row"),
    "header-only.csv": ("a,label\n", "the header is there but no data rows follow it"),
    "three-classes.csv": (
        "a,label\n" + "".join(f"{i},{i % 3}\n" for i in range(30)),
        "runs from 0 to 2, but objective binary:logistic needs labels from 0 to 1",
    ),
    "inf.csv": ("a,label\n1,0\ninf,1\n", "line 3: column 'a' holds 'inf', which is not finite"),
    "ragged.csv": ("a,b,label\n1,2,0\n1,2\n", "line 3 has 2 fields, the header 3"),
}


@pytest.mark.parametrize("file_name", sorted(BAD))
def test_bad_data_is_one_line_exit_2_nothing_uploaded_or_started(capsys, tmp_path, monkeypatch, file_name):
    text, expected = BAD[file_name]
    (tmp_path / file_name).write_text(text)
    calls = []
    monkeypatch.setattr(user_data, "upload", lambda s3, files: calls.append(files))
    started = []
    launch = start.launch
    monkeypatch.setattr(start, "launch", lambda *args, **kwargs: started.append(args) or launch(*args, **kwargs))
    code, summary, err = run(capsys, tmp_path, "--data", str(tmp_path / file_name), "--hp", "objective=binary:logistic")
    assert code == 2 and summary is None
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        f"run.py: error: {tmp_path / file_name}" if file_name != "three-classes.csv" else "run.py: error: label"
    ), err
    assert expected in lines[0]
    assert calls == [] and started == []
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_data_too_big_for_lambda_is_refused_before_the_upload(capsys, tmp_path, monkeypatch):
    (tmp_path / "big.csv").write_text("a,label\n" + "1,0\n" * 1000)
    monkeypatch.setattr("lambda_src.data_preparation.PREPARE_BYTES_PER_SECOND", 1)
    code, _, err = run(capsys, tmp_path, "--data", str(tmp_path / "big.csv"))
    assert code == 2 and "would take about 4,008 s to prepare in Lambda" in err


def test_more_held_out_rows_than_the_evaluation_scores_are_refused_before_the_upload(capsys, tmp_path, monkeypatch):
    (tmp_path / "many.csv").write_text("a,label\n" + "1,0\n2,1\n" * 500)
    monkeypatch.setattr("lambda_src.data_preparation.MAX_HELD_OUT_ROWS", 100)
    calls = []
    monkeypatch.setattr(user_data, "upload", lambda s3, files: calls.append(files))
    code, summary, err = run(capsys, tmp_path, "--data", str(tmp_path / "many.csv"))
    assert code == 2 and summary is None and calls == []
    [line] = err.strip().splitlines()
    assert line.startswith(f"run.py: error: {tmp_path / 'many.csv'}: line ")
    assert line.endswith(
        "more than 100 held-out rows, the most the pipeline's evaluation scores within Lambda's "
        "memory and time: lower the split's test fraction (now 0.2: run.py --split, "
        "or data.split.test)"
    )


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["--label", "y"], "--label only applies with --data"),
        (["--data", "x.csv", "--rows", "10"], "--rows sizes the generated dataset"),
        (["--data", "missing.csv"], "--data missing.csv: no such file"),
        (["--data", "s3://b/a.csv", "--test", "t.csv"], "both be local files or both s3:// URIs"),
        (["--data", "x.csv", "--split", "0.1"], "expected VALIDATION,TEST fractions"),
    ],
)
def test_flag_mistakes_are_usage_errors(capsys, tmp_path, argv, expected):
    try:
        code = cli.main(["--local", "--runs-dir", str(tmp_path), *argv])
    except SystemExit as exit:  # argparse's own usage errors
        code = exit.code
    assert code == 2
    assert expected in capsys.readouterr().err


def test_a_parquet_file_too_large_as_csv_is_refused_without_converting_it_all(tmp_path, monkeypatch):
    frame = pd.DataFrame({"a": np.arange(300_000, dtype=float), "label": np.arange(300_000) % 2})
    frame.to_parquet(tmp_path / "big.parquet")
    monkeypatch.setattr("lambda_src.data_preparation.PREPARE_BYTES_PER_SECOND", 100)  # limit 84 kB
    with pytest.raises(
        user_data.UsageError,
        match=r"big.parquet: more than 0.0 GB as CSV, over what the seeding "
        r"function can prepare within Lambda's time limit",
    ):
        with user_data.as_csv(tmp_path / "big.parquet"):
            pass


def test_parquet_becomes_csv_with_a_header_and_empty_cells_for_nulls(tmp_path):
    pd.DataFrame({"a": [1.5, None], "label": [1, 0]}).to_parquet(tmp_path / "small.parquet")
    with user_data.as_csv(tmp_path / "small.parquet") as converted:
        assert converted.read_text().splitlines() == ['"a","label"', "1.5,1", ",0"]
