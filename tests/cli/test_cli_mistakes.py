"""A new user's mistakes get an answer that names them and what was meant (issue 27, items 2, 3)."""

import pytest
from dev_stack import PREFIX

from lambda_src import data_preparation
from lambda_src.execution_input import InvalidExecutionInput, validate_execution
from runner import cli, execution
from runner.cli import parser as cli_parser
from runner.errors import UsageError

DEFAULTS = {
    "rows": 100,
    "hyperparameters": {"objective": "reg:logistic", "num_round": "5"},
    "training": {"image_version": "3.2-0"},
}


def _refusal(capsys, argv) -> str:
    with pytest.raises(SystemExit) as exit_:
        cli.main(argv)
    assert exit_.value.code == 2
    return capsys.readouterr().err.strip().splitlines()[-1]


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["--lable", "diagnosis"], "run.py: error: unknown flag --lable (did you mean --label?)"),
        (
            ["--local", "--hp=max_depth=3", "--stak", "dev"],
            "run.py: error: unknown flag --stak (did you mean --stack?)",
        ),
        (["runs", "--jsno"], "run.py: error: unknown flag --jsno (did you mean --json?)"),
        (["--frobnicate"], "run.py: error: unknown flag --frobnicate: run.py --help lists them"),
    ],
)
def test_an_unknown_flag_is_named_as_such_with_the_closest_one(capsys, argv, expected):
    assert _refusal(capsys, argv) == expected


def test_a_negative_number_and_an_abbreviation_are_no_unknown_flags(capsys):
    from runner import suggest

    parser = cli_parser.build_parser()
    assert suggest.unknown_flag(["--seed", "-1", "--loc", "--outputs-file", "-"], parser) is None


@pytest.mark.parametrize(
    "hyperparameters, expected",
    [
        ({"max_dpeth": "4"}, "Extraneous hyperparameter found: max_dpeth (did you mean 'max_depth'?)"),
        ({"Eta": "0.1"}, "Extraneous hyperparameter found: Eta (did you mean 'eta'?)"),
    ],
)
def test_a_mistyped_hyperparameter_gets_a_did_you_mean(hyperparameters, expected):
    with pytest.raises(InvalidExecutionInput) as error:
        validate_execution(
            {"hyperparameters": hyperparameters},
            execution_name=f"{PREFIX}--a",
            job_name_prefix=PREFIX,
            defaults=DEFAULTS,
        )
    assert str(error.value).endswith(expected)


@pytest.mark.parametrize(
    "execution_input, expected",
    [
        ({"row": 2000}, "execution input: unknown field 'row' (did you mean 'rows'?); allowed: rows, seed,"),
        ({"data": {"uri": "s3://b/k", "lable": "y"}}, "data: unknown field 'lable' (did you mean 'label'?); allowed:"),
    ],
)
def test_a_mistyped_input_field_gets_a_did_you_mean(execution_input, expected):
    with pytest.raises(InvalidExecutionInput) as error:
        validate_execution(execution_input, execution_name=f"{PREFIX}--a", job_name_prefix=PREFIX, defaults=DEFAULTS)
    assert str(error.value).startswith(expected)


def _prepare(text: str, label: str):
    import io

    return data_preparation.prepare(
        [("data.csv", io.StringIO(text))], data_preparation.CountingSink(), label=label, seed=1
    )


def test_a_label_in_the_wrong_case_names_the_column_meant():
    with pytest.raises(data_preparation.InvalidData) as error:
        _prepare("mean_radius,mean_texture,diagnosis\n1,2,0\n", "Diagnosis")
    assert str(error.value) == (
        "data.csv: no label column 'Diagnosis' in the header; did you mean 'diagnosis'? (--label diagnosis)"
    )


def test_the_header_is_shown_whole_not_cut_after_eight_columns():
    names = [f"feature_{i}" for i in range(12)] + ["target"]
    with pytest.raises(data_preparation.InvalidData) as error:
        _prepare(",".join(names) + "\n" + ",".join("1" * len(names)) + "\n", "outcome")
    assert "'target'" in str(error.value) and "..." not in str(error.value)


def test_a_wide_header_is_searched_for_the_label():
    names = [f"column_number_{i}" for i in range(200)] + ["price_label_2020"]
    with pytest.raises(data_preparation.InvalidData) as error:
        _prepare(",".join(names) + "\n" + ",".join("1" * len(names)) + "\n", "label")
    assert "201 columns; those containing 'label': 'price_label_2020'" in str(error.value)


def test_a_short_name_is_the_stacks_prefix_and_it():
    assert execution.full_name("baseline", PREFIX) == f"{PREFIX}--baseline"
    assert execution.full_name(f"{PREFIX}--baseline", PREFIX) == f"{PREFIX}--baseline"


def test_a_short_name_in_upper_case_gets_the_lower_case_name():
    with pytest.raises(UsageError) as error:
        execution.full_name("Baseline", PREFIX)
    assert str(error.value).endswith(f"use '{PREFIX}--baseline'")


def test_a_name_with_underscores_gets_a_valid_suggestion(capsys):
    line = _refusal(capsys, ["--local", "--name", "Baseline_2"])
    assert "lower-case letters, digits and hyphens" in line and line.endswith("use 'baseline-2'")


def test_run_py_accepts_a_short_name(capsys, tmp_path, no_deployment):
    # Refused names exit 2 before the deployment; this one reaches it (the fixture stops there).
    assert cli.main(["--local", "--no-progress", "--name", "baseline", "--runs-dir", str(tmp_path)]) == 1
    assert no_deployment
