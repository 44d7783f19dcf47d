"""Defaults that follow the data and common data mistakes (issue 27, items 4 and 5)."""

import io

import pytest
from dev_stack import PREFIX

from lambda_src import data_preparation
from lambda_src.execution_input import merge_hyperparameters, validate_execution
from runner import cli

STACK = {"objective": "reg:logistic", "eval_metric": "rmse", "num_round": "5"}  # Pulumi.dev.yaml's
WINE_LIKE = "alcohol,malic_acid,cultivar\n" + "".join(f"{13 + i % 3},{i % 5},{'abc'[i % 3]}\n" for i in range(40))


def test_the_stacks_eval_metric_is_left_out_when_the_objective_cannot_use_it():
    merged, notes = merge_hyperparameters(STACK, {"objective": "multi:softmax", "num_class": "4"})
    assert merged == {"objective": "multi:softmax", "num_class": "4", "num_round": "5"}
    assert notes == [
        "the stack's eval_metric=rmse does not fit objective multi:softmax: left out, so the "
        "objective's own metric is reported (pass --hp eval_metric=... to choose one)"
    ]
    # The validation step merges the same way: the run is accepted (it was refused for the stack's rmse).
    checked = validate_execution(
        {"hyperparameters": {"objective": "multi:softmax", "num_class": "4"}},
        execution_name=f"{PREFIX}--a",
        job_name_prefix=PREFIX,
        defaults={"rows": 100, "hyperparameters": STACK, "training": {"image_version": "3.2-0"}},
    )
    assert "eval_metric" not in checked["hyperparameters"]


def test_a_fitting_or_given_eval_metric_is_kept():
    assert merge_hyperparameters(STACK, {"objective": "reg:squarederror"})[0]["eval_metric"] == "rmse"
    merged, notes = merge_hyperparameters(STACK, {"objective": "multi:softmax", "eval_metric": "mlogloss"})
    assert merged["eval_metric"] == "mlogloss" and notes == []


def test_num_class_comes_from_the_classes_run_py_read(capsys, tmp_path, no_deployment):
    data = tmp_path / "wine.csv"
    data.write_text(WINE_LIKE)
    code = cli.main(
        [
            "--local",
            "--no-progress",
            "--runs-dir",
            str(tmp_path / "runs"),
            "--data",
            str(data),
            "--label",
            "cultivar",
            "--hp",
            "objective=multi:softmax",
        ]
    )
    err = capsys.readouterr().err
    assert code == 1 and no_deployment, err  # checked and accepted: it reached the deployment
    assert "run.py: Pulumi.dev.yaml: the stack's eval_metric=rmse does not fit objective multi:softmax" in err
    assert "run.py: num_class=3: the classes of label column 'cultivar' (--hp num_class=N to set it)" in err


def test_a_given_num_class_that_disagrees_is_still_refused(capsys, tmp_path, no_deployment):
    data = tmp_path / "wine.csv"
    data.write_text(WINE_LIKE)
    code = cli.main(
        [
            "--local",
            "--no-progress",
            "--runs-dir",
            str(tmp_path / "runs"),
            "--data",
            str(data),
            "--label",
            "cultivar",
            "--hp",
            "objective=multi:softmax",
            "--hp",
            "num_class=4",
        ]
    )
    assert code == 2 and "num_class=4 but label column 'cultivar' has 3 classes" in capsys.readouterr().err


def _prepare(text: str, label: str = "label"):
    return data_preparation.prepare(
        [("data.csv", io.StringIO(text))],
        data_preparation.CountingSink(),
        label=label,
        seed=1,
        hyperparameters={"objective": "multi:softprob", "num_class": "3"},
    )


@pytest.mark.parametrize("delimiter, word", [("\t", "tab"), (";", "semicolon")])
def test_another_delimiter_is_named(delimiter, word):
    with pytest.raises(data_preparation.InvalidData) as error:
        _prepare(WINE_LIKE.replace(",", delimiter), "cultivar")
    assert f"the file looks {word}-separated, and only comma-separated CSV is read" in str(error.value)


def test_an_unnamed_index_column_is_refused_with_how_to_keep_it():
    text = ",alcohol,cultivar\n" + "".join(f"{i},{13 + i % 3},{'abc'[i % 3]}\n" for i in range(40))
    with pytest.raises(data_preparation.InvalidData) as error:
        _prepare(text, "cultivar")
    assert "column 1 of the header has no name, as pandas writes its index" in str(error.value)
    assert "name it in the header to train on it" in str(error.value)


def test_an_identifier_like_column_is_found_and_warned_about(capsys, tmp_path, no_deployment):
    text = "id,alcohol,cultivar\n" + "".join(f"{100 + 2 * i},{13 + i % 3},{'abc'[i % 3]}\n" for i in range(40))
    assert _prepare(text, "cultivar").identifier_like == ["id"]
    assert _prepare(WINE_LIKE, "cultivar").identifier_like == []
    data = tmp_path / "ids.csv"
    data.write_text(text)
    cli.main(
        [
            "--local",
            "--no-progress",
            "--runs-dir",
            str(tmp_path / "runs"),
            "--data",
            str(data),
            "--label",
            "cultivar",
            "--hp",
            "objective=multi:softprob",
        ]
    )
    assert (
        f"run.py: warning: {data}: column 'id' holds whole numbers increasing row after row, like a row number or an id"
    ) in capsys.readouterr().err


def test_a_directory_is_refused_as_a_directory(capsys, tmp_path, no_deployment):
    code = cli.main(["--local", "--no-progress", "--runs-dir", str(tmp_path / "runs"), "--data", str(tmp_path)])
    assert code == 2
    assert capsys.readouterr().err.strip() == (
        f"run.py: error: --data {tmp_path} is a directory: give one CSV or Parquet file in it (a folder of files: "
        "upload it to S3 and pass s3://bucket/prefix/)"
    )
