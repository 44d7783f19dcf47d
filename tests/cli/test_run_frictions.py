"""Frictions from a new user's trial: a repeated --hp key, an instance type SageMaker does not have."""

import json

import pytest

from components.settings import SettingsError, load_stack_settings, sagemaker_instance_types
from runner import cli
from runner.cli import stack, watch
from runner.outputs import PROJECT_DIR


def test_a_repeated_hp_key_is_refused_instead_of_the_last_one_winning(capsys, tmp_path):
    code = cli.main(
        ["--local", "--hp", "eta=0.1", "--hp", "max_depth=3", "--hp", "eta=0.3", "--runs-dir", str(tmp_path)]
    )
    assert code == 2
    assert (
        capsys.readouterr().err.strip()
        == "run.py: error: --hp eta is given twice (eta=0.1 and eta=0.3): give each key once"
    )
    assert not list(tmp_path.iterdir())  # nothing started, nothing written


@pytest.mark.parametrize(
    "key, value, expected",
    [
        (
            "trainingInstanceType",
            "ml.foo",
            "trainingInstanceType: 'ml.foo' is not a SageMaker training instance "
            "type (e.g. ml.m5.xlarge; the list is botocore's model of the SageMaker API)",
        ),
        ("trainingInstanceType", "ml.m5.xlarg", "did you mean 'ml.m5.xlarge'?"),
        # A transform-only family is no training instance, and the reverse.
        ("transformInstanceType", "ml.c5n.xlarge", "is not a SageMaker transform instance type"),
    ],
)
def test_an_instance_type_sagemaker_does_not_have_is_refused_before_anything_is_created(tmp_path, key, value, expected):
    (tmp_path / "Pulumi.yaml").write_text((PROJECT_DIR / "Pulumi.yaml").read_text())
    (tmp_path / "Pulumi.t.yaml").write_text(f"config:\n  training-pipeline:{key}: {value}\n")
    with pytest.raises(SettingsError) as error:
        load_stack_settings("t", project_dir=tmp_path)
    assert expected in str(error.value)


def test_the_lists_are_sagemakers_own():
    training, transform = (
        sagemaker_instance_types("TrainingInstanceType"),
        sagemaker_instance_types("TransformInstanceType"),
    )
    assert "ml.m5.xlarge" in training and "ml.m5.xlarge" in transform
    assert "ml.c5n.xlarge" in training and "ml.c5n.xlarge" not in transform
    import boto3  # read without botocore's loader (before run.py's first line): the same lists as through it

    model = boto3.session.Session()._session.get_service_model("sagemaker")
    assert (training, transform) == tuple(
        tuple(model.shape_for(shape).enum) for shape in ("TrainingInstanceType", "TransformInstanceType")
    )


def test_ctrl_c_after_the_execution_ended_says_so_and_how_to_fetch_its_results(monkeypatch, capsys, tmp_path):
    from datetime import datetime

    from run_py_stubs import ARN, OUTPUTS, _sfn_stub

    from runner.follow import ExecutionView, Interrupted, StateProgress

    outputs_file = tmp_path / "outputs.json"
    outputs_file.write_text(json.dumps(OUTPUTS))
    clients, stub = _sfn_stub()
    stub.add_response("start_execution", {"executionArn": ARN, "startDate": datetime(2026, 1, 1)})
    moment = datetime(2026, 1, 1)
    view = ExecutionView(
        arn=ARN,
        name="xgb-dev--1",
        status="SUCCEEDED",
        started=moment,
        stopped=moment,
        states=[StateProgress(name="Batch transform", entered=moment, exited=moment, status="succeeded")],
    )

    def interrupted(*args):
        raise Interrupted(view)

    monkeypatch.setattr(stack, "Clients", lambda region: clients)
    monkeypatch.setattr(watch, "follow", interrupted)
    with stub:  # no stop_execution: nothing is left to stop
        code = cli.main(
            ["--outputs-file", str(outputs_file), "--name", "xgb-dev--1", "--runs-dir", str(tmp_path / "runs")]
        )
    err = capsys.readouterr().err
    assert code == 130
    assert "interrupted after xgb-dev--1 had ended (SUCCEEDED); its results were not saved: fetch them with:" in err
    assert f"run.py follow {ARN} --outputs-file {outputs_file}" in err
    assert "stopped" not in err
