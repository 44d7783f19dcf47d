"""The offline rehearsal end to end: `run.py --local` drives the real definition on the emulator."""

import json
import tarfile
import time
from pathlib import Path

import pytest
from local_container import model_config

from components.settings import load_stack_settings
from runner import cli
from runner.cli import stack, watch
from runner.emulator import engine as engine_module

SUMMARY_KEYS = {
    "execution_name",
    "execution_arn",
    "status",
    "states",
    "rows",
    "metrics",
    "predictions",
    "artifacts_dir",
    "error",
    "cause",
}


def boosted_rounds(path) -> int:
    """The rounds of the model in a SageMaker model.tar.gz (exactly one file, xgboost-model), as the
    stack's image's library reads them."""
    with tarfile.open(path) as archive:
        assert archive.getnames() == ["xgboost-model"]
        data = archive.extractfile("xgboost-model").read()
    return model_config(load_stack_settings("dev").xgboost_version, data)["rounds"]


def rehearse(capsys, tmp_path, *argv):
    code = cli.main(["--local", "--json", "--runs-dir", str(tmp_path), *argv])
    captured = capsys.readouterr()
    return code, json.loads(captured.out), captured.err


def test_pipeline_succeeds_and_scores_the_held_out_rows(capsys, tmp_path, shared_stack):
    code, summary, err = rehearse(capsys, tmp_path, "--rows", "2000", "--keep-data")
    assert code == 0, err
    assert SUMMARY_KEYS <= summary.keys()
    assert summary["status"] == "SUCCEEDED" and summary["error"] is None
    assert [s["name"] for s in summary["states"]][-7:] == [
        "Generate dataset",
        "Train model (XGBoost)",
        "Save Model",
        "Batch transform",
        "Evaluate model",
        "Quality gate",
        "Register model",
    ]
    assert all(s["status"] == "succeeded" for s in summary["states"])
    assert summary["rows"] == {"train": 2000, "validation": 200, "test": 2000}
    assert summary["metrics"]["accuracy"] >= 0.97 and summary["metrics"]["auc"] >= 0.97

    run_dir = tmp_path / summary["execution_name"]
    assert summary["artifacts_dir"] == str(run_dir)
    predictions = (run_dir / "predictions.csv").read_text().split()
    assert len(predictions) == 2000 and all(0.0 <= float(p) <= 1.0 for p in predictions)
    assert json.loads((run_dir / "summary.json").read_text()) == summary
    assert len((run_dir / "data" / "test" / "test.csv").read_text().splitlines()) == 2000
    assert boosted_rounds(run_dir / "model.tar.gz") == 5  # the stack default num_round
    # The least-privilege report: the five roles, every call allowed by a named statement.
    report = json.loads((run_dir / "iam.json").read_text())
    assert summary["iam_report"] == str(run_dir / "iam.json") and len(report) == 5
    calls = [call for role in report.values() for call in role["calls"]]
    assert {"s3:PutObject", "lambda:InvokeFunction", "sagemaker:CreateTrainingJob", "iam:PassRole", "s3:GetObject"} <= {
        call["action"] for call in calls
    }
    assert all(call["allowed"] and call["statement"] for call in calls)


def test_overrides_reach_the_jobs_and_two_runs_both_succeed(capsys, tmp_path, shared_stack):
    code, first, err = rehearse(capsys, tmp_path, "--rows", "300", "--hp", "num_round=3")
    assert code == 0, err
    assert first["rows"] == {"train": 300, "validation": 30, "test": 300}
    assert boosted_rounds(tmp_path / first["execution_name"] / "model.tar.gz") == 3

    code, second, err = rehearse(capsys, tmp_path, "--rows", "500")
    assert code == 0, err
    assert second["execution_name"] != first["execution_name"]
    assert second["rows"] == {"train": 500, "validation": 50, "test": 500}


def make_training_fail(monkeypatch):
    """Training fails after validation: the rules refuse every hyperparameter set known to fail,
    so the container is made to train gamma regression, which needs positive labels (the seeded
    labels are 0 and 1)."""
    from runner.emulator.sagemaker import hosts as sagemaker_hosts

    train = sagemaker_hosts.train
    monkeypatch.setattr(
        sagemaker_hosts,
        "train",
        lambda version, channels, config, count, hyperparameters, *args, **kwargs: train(
            version,
            channels,
            config,
            count,
            {**hyperparameters, "objective": "reg:gamma", "eval_metric": "gamma-nloglik"},
            *args,
            **kwargs,
        ),
    )


def test_failed_training_reports_the_container_reason(capsys, tmp_path, monkeypatch, shared_stack):
    code, first, _ = rehearse(capsys, tmp_path, "--rows", "200")
    assert code == 0
    earlier = sorted(p.name for p in (tmp_path / first["execution_name"]).iterdir())

    make_training_fail(monkeypatch)
    code, summary, _ = rehearse(capsys, tmp_path, "--rows", "200")
    assert code == 1
    assert summary["status"] == "FAILED" and summary["error"] == "States.TaskFailed"
    assert summary["failed_state"] == "Train model (XGBoost)"
    assert "label" in summary["cause"]
    assert summary["metrics"] is None and summary["predictions"] is None
    # The failed run left its record only, and the earlier run's artifacts as they were.
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([first["execution_name"], summary["execution_name"]])
    assert sorted(p.name for p in (tmp_path / summary["execution_name"]).iterdir()) == ["iam.json", "summary.json"]
    assert json.loads((tmp_path / summary["execution_name"] / "summary.json").read_text()) == summary
    assert summary["rows"] == {
        "train": 200,
        "validation": 20,
        "test": 200,
    }  # the dataset was generated before the failure
    assert sorted(p.name for p in (tmp_path / first["execution_name"]).iterdir()) == earlier


def test_human_report_of_a_failed_run(capsys, tmp_path, monkeypatch, shared_stack):
    make_training_fail(monkeypatch)
    code = cli.main(["--local", "--no-progress", "--runs-dir", str(tmp_path), "--rows", "200"])
    out = capsys.readouterr().out
    assert code == 1
    assert "FAILED in state 'Train model (XGBoost)'" in out
    assert "label" in out


@pytest.mark.parametrize(
    "execution_input, field",
    [
        ('{"rows": 0}', "rows"),
        ('{"rows": 2.5}', "rows"),
        ('{"hyperparameters": {"sagemaker_program": "x.py"}}', "sagemaker_program"),
    ],
)
def test_input_the_state_machine_would_refuse_starts_nothing(capsys, tmp_path, execution_input, field):
    code = cli.main(["--local", "--json", "--runs-dir", str(tmp_path), "--input", execution_input])
    captured = capsys.readouterr()
    assert code == 2 and captured.out == ""
    assert captured.err.startswith("run.py: error: the execution would be refused: ") and field in captured.err
    assert not tmp_path.exists() or list(tmp_path.iterdir()) == []


def test_ctrl_c_stops_the_execution_and_says_so(capsys, tmp_path, monkeypatch):
    seen = {}

    class RecordingClients(stack.Clients):
        def __init__(self, region):
            super().__init__(region)
            stop = self.sfn.stop_execution

            def recording_stop(**kwargs):
                seen["stopped"] = kwargs["executionArn"]
                response = stop(**kwargs)
                deadline = time.monotonic() + 10  # the emulator settles the status asynchronously
                while time.monotonic() < deadline:
                    seen["status"] = self.sfn.describe_execution(executionArn=kwargs["executionArn"])["status"]
                    if seen["status"] != "RUNNING":
                        break
                    time.sleep(0.05)
                return response

            self.sfn.stop_execution = recording_stop

    def interrupted_follow(sfn, sagemaker, arn, display, polling):
        """Ctrl-C once training has started."""
        seen["name"] = arn.rsplit(":", 1)[-1]
        while not any(
            event.get("stateEnteredEventDetails", {}).get("name") == "Train model (XGBoost)"
            for event in sfn.get_execution_history(executionArn=arn)["events"]
        ):
            time.sleep(0.01)
        raise KeyboardInterrupt

    monkeypatch.setattr(stack, "Clients", RecordingClients)
    monkeypatch.setattr(watch, "follow", interrupted_follow)
    code = cli.main(["--local", "--no-progress", "--runs-dir", str(tmp_path), "--rows", "1000000"])
    assert code == 130
    assert seen["stopped"].endswith(":" + seen["name"])
    # ABORTED, as on AWS; moto 5.2.5 has a race where a stop landing while a task's Parameters
    # are evaluated reads $$.Execution.Name as null and the execution ends FAILED instead.
    assert seen["status"] in ("ABORTED", "FAILED")
    assert "stopped xgb-" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_run_py_local_fails_naming_the_action_a_role_lacks(capsys, tmp_path, monkeypatch):
    """As if `s3:GetObject` were left out of the SageMaker role's policy in the component."""
    create_role_policy = engine_module.EmulatorEngine._role_policy

    def without_get_object(self, name, inputs):
        if "sagemaker" in name:
            document = json.loads(inputs["policy"])
            for statement in document["Statement"]:
                actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                statement["Action"] = [action for action in actions if action != "s3:GetObject"]
            document["Statement"] = [s for s in document["Statement"] if s["Action"]]
            inputs = dict(inputs, policy=json.dumps(document))
        return create_role_policy(self, name, inputs)

    monkeypatch.setitem(engine_module.RESOURCES, "aws:iam/rolePolicy:RolePolicy", without_get_object)
    code = cli.main(["--local", "--json", "--runs-dir", str(tmp_path), "--rows", "50"])
    summary = json.loads(capsys.readouterr().out)
    assert code == 1
    assert summary["status"] == "FAILED" and summary["failed_state"] == "Train model (XGBoost)"
    assert "is not authorized to perform: s3:GetObject on resource: " in summary["cause"]
    # iam.json shows the refusal: the call, not allowed, made as the SageMaker role.
    report = json.loads(Path(summary["iam_report"]).read_text())
    [sagemaker_role] = [role for role in report if "sagemaker-role" in role]
    refused = [call for call in report[sagemaker_role]["calls"] if not call["allowed"]]
    assert [call["action"] for call in refused] == ["s3:GetObject"]


def test_a_resource_the_local_engine_cannot_create_is_one_line_exit_1(capsys, tmp_path, monkeypatch):
    """A new resource type in the component is never skipped silently by the rehearsal."""
    monkeypatch.delitem(engine_module.RESOURCES, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration")
    code = cli.main(["--local", "--json", "--runs-dir", str(tmp_path), "--rows", "50"])
    captured = capsys.readouterr()
    assert code == 1 and captured.out == ""
    deploying, error = captured.err.splitlines()  # the run passed its checks: the deployment failed
    assert deploying == "run.py: deploying stack dev into the local emulator ..."
    assert error.startswith("run.py: error: the program could not be deployed to the local emulator: ")
    assert "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration" in error
    assert list(tmp_path.iterdir()) == []  # the run's folder, claimed before the deployment, given back
