"""run.py without an emulator: outputs, usage errors, metrics, history parsing, cleanup (Stubber)."""

import io
import itertools
import json
from datetime import UTC, datetime, timedelta

import boto3
import numpy as np
import pytest
from botocore.stub import Stubber
from run_py_stubs import OUTPUTS, _StubbedClients, run

from runner import cli, metrics
from runner.cli import list as listing
from runner.cli import parser, stack, watch
from runner.execution import build_input, new_name
from runner.follow import states_from_history
from runner.results import readable_cause


def test_outputs_from_file_reach_the_commands(outputs_file, monkeypatch, capsys):
    seen = {}
    monkeypatch.setattr(listing, "executions", lambda args, clients, outputs: seen.setdefault("outputs", outputs) and 0)
    monkeypatch.setattr(stack, "Clients", lambda region: seen.setdefault("region", region))
    assert run(["list", "--outputs-file", outputs_file], capsys)[0] == 0
    assert seen["region"] == "us-west-2"
    assert seen["outputs"].state_machine_arn == OUTPUTS["stateMachineArn"]
    assert seen["outputs"].job_name_prefix == "xgb-dev"


def test_outputs_from_stdin(monkeypatch, capsys):
    seen = {}
    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps(OUTPUTS)))
    monkeypatch.setattr(listing, "executions", lambda args, clients, outputs: seen.setdefault("outputs", outputs) and 0)
    monkeypatch.setattr(stack, "Clients", lambda region: None)
    assert run(["list", "--outputs-file", "-"], capsys)[0] == 0
    assert seen["outputs"].bucket_name == "pipeline-bucket-1234"


def test_missing_keys_are_named(tmp_path, no_aws, capsys):
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps({k: v for k, v in OUTPUTS.items() if k not in ("region", "bucketName")}))
    code, out, err = run(["--outputs-file", str(path)], capsys)
    assert code == 2 and out == ""
    assert "lacks bucketName, region" in err and len(err.strip().splitlines()) == 1


def test_outputs_file_that_is_not_json(tmp_path, no_aws, capsys):
    path = tmp_path / "outputs.json"
    path.write_text("bucketName = x")
    code, _, err = run(["--outputs-file", str(path)], capsys)
    assert code == 2 and "is not JSON" in err and "pulumi stack output --json" in err


def test_missing_pulumi_cli(monkeypatch, no_aws, capsys):
    monkeypatch.setenv("PATH", "/nonexistent")
    code, _, err = run([], capsys)
    assert code == 2
    assert "pulumi CLI is not on PATH" in err and "--outputs-file" in err
    assert "Traceback" not in err


def test_missing_stack(tmp_path, monkeypatch, no_aws, capsys):
    fake = tmp_path / "pulumi"
    fake.write_text("#!/bin/sh\necho \"error: no stack named 'nope' found\" >&2\nexit 255\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    code, _, err = run(["--stack", "nope"], capsys)
    assert code == 2
    assert "no stack named 'nope' found" in err and "--stack NAME" in err


@pytest.mark.parametrize(
    "argv, problem",
    [
        (["--name=-starts-with-hyphen"], "invalid execution name"),
        (["--name", "has_underscore"], "invalid execution name"),
        (["--name", "x" * 64], "invalid execution name"),
        (["--rows", "0"], "not a positive integer"),
        (["--rows", "ten"], "not a positive integer"),
        (["--hp", "num_round"], "expected key=value"),
        (["--seed", "-1"], "expected an integer from 0 to"),
        (["--seed", "seven"], "expected an integer from 0 to"),
        (["--runs-dir", ""], "argument --runs-dir: is empty"),
        (["--bogus-flag"], "unknown flag --bogus-flag"),
    ],
)
def test_usage_errors_exit_2_before_any_call(argv, problem, outputs_file, no_aws, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv + ["--outputs-file", outputs_file])
    assert exit_info.value.code == 2
    assert problem in capsys.readouterr().err


def test_name_outside_the_prefix_is_refused_before_any_call(outputs_file, no_aws, capsys):
    # A name without `--` is a short name (<prefix>--name); one with it is taken whole.
    for name in ("other--run-1", "xgb-dev-2--run", "xgb-dev1--a"):
        code, _, err = run(["--outputs-file", outputs_file, "--name", name], capsys)
        assert code == 2 and "must start with 'xgb-dev--'" in err and len(err.splitlines()) == 1


@pytest.mark.parametrize(
    "argv, problem",
    [
        (
            ["--hp", "sagemaker_program=train.py"],
            "sagemaker_program is not allowed: it switches the container to script",
        ),
        (["--hp", "eval_metric=auc"], "Metric 'auc' can only be applied for classification"),
        (["--hp", "eta=2"], "Hyperparameter eta: 2.0 is not in [0, 1]"),
        (["--hp", "bogus=1"], "Extraneous hyperparameter found: bogus"),
        (["--input", '{"rows": "abc"}'], 'rows: "abc" is not an integer'),
        (["--input", '{"hyperparameters": "x"}'], "hyperparameters: expected an object"),
        (["--input", '{"rowz": 5}'], "unknown field 'rowz'"),
    ],
)
def test_input_the_state_machine_would_refuse_is_refused_before_any_call(argv, problem, outputs_file, no_aws, capsys):
    code, out, err = run(["--outputs-file", outputs_file, *argv], capsys)
    assert code == 2 and out == ""
    assert err.startswith("run.py: error: the execution would be refused: ") and problem in err, err
    assert len(err.splitlines()) == 1


def test_generated_names_are_unique_valid_job_names():
    moment = datetime(2026, 11, 26, 17, 0, 0, tzinfo=UTC)
    names = {new_name("p" * 39, moment) for _ in range(50)}  # the longest prefix settings allow
    assert len(names) == 50
    for name in names:
        assert len(name) <= 63 and name.startswith("p" * 39 + "--20261126-170000-")


def test_execution_input_layers_rows_hyperparameters_and_seed_over_raw_input():
    raw = '{"rows": 5, "hyperparameters": {"eta": "0.3", "num_round": "2"}, "seed": 1}'
    assert build_input(raw, 100, [("num_round", "9")], 7) == {
        "rows": 100,
        "hyperparameters": {"eta": "0.3", "num_round": "9"},
        "seed": 7,
    }
    assert build_input('{"seed": 7}', None, [])["seed"] == 7


def test_a_seed_is_drawn_when_none_is_given():
    drawn = {build_input(None, None, [])["seed"] for _ in range(20)}
    assert len(drawn) > 1 and all(isinstance(seed, int) and 0 <= seed < 2**31 for seed in drawn)


def test_metrics_on_a_known_prediction_set():
    labels = np.array([0, 0, 1, 1, 0, 1], dtype=float)
    predictions = np.array([0.1, 0.6, 0.35, 0.8, 0.2, 0.9])
    scores, undefined = metrics.score(labels, predictions)
    assert undefined == {}
    assert scores["accuracy"] == pytest.approx(4 / 6)
    # 9 positive/negative pairs; the positive scores higher in 8 of them (0.35 < 0.6).
    assert scores["auc"] == pytest.approx(8 / 9)
    assert scores["rmse"] == pytest.approx(np.sqrt(np.mean((predictions - labels) ** 2)))
    expected_logloss = -np.mean([np.log(0.9), np.log(0.4), np.log(0.35), np.log(0.8), np.log(0.8), np.log(0.9)])
    assert scores["logloss"] == pytest.approx(expected_logloss)


def test_auc_counts_ties_as_half():
    labels = np.array([0, 1, 0, 1], dtype=float)
    scores = np.array([0.5, 0.5, 0.2, 0.9])
    pairs = [(p, n) for p, n in itertools.product(scores[labels == 1], scores[labels == 0])]
    brute = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p, n in pairs) / len(pairs)
    assert metrics.roc_auc(labels, scores) == pytest.approx(brute) == pytest.approx(0.875)


def test_metrics_refuse_mismatched_lengths():
    with pytest.raises(ValueError, match="3 predictions for 2 labels"):
        metrics.score(np.array([0.0, 1.0]), np.array([0.1, 0.2, 0.3]))


def test_readable_cause_prefers_sagemaker_failure_reason():
    cause = json.dumps(
        {"TrainingJobStatus": "Failed", "FailureReason": "ClientError: Missing required hyperparameter: num_round"}
    )
    assert readable_cause(cause) == "ClientError: Missing required hyperparameter: num_round"
    lambda_cause = json.dumps(
        {"errorType": "InvalidSeedRequest", "errorMessage": "rows must be a positive integer, got 0"}
    )
    assert readable_cause(lambda_cause) == "InvalidSeedRequest: rows must be a positive integer, got 0"
    assert readable_cause("plain words") == "plain words"


def test_history_becomes_per_state_progress_with_retries_and_failures():
    def entered(name, t, kind="Task"):
        return {"type": f"{kind}StateEntered", "timestamp": _t(t), "stateEnteredEventDetails": {"name": name}}

    def exited(name, t):
        return {"type": "TaskStateExited", "timestamp": _t(t), "stateExitedEventDetails": {"name": name}}

    events = [
        entered("Generate dataset", 0),
        {
            "type": "LambdaFunctionFailed",
            "timestamp": _t(1),
            "lambdaFunctionFailedEventDetails": {"error": "Lambda.ServiceException", "cause": "blip"},
        },
        {"type": "LambdaFunctionSucceeded", "timestamp": _t(3), "lambdaFunctionSucceededEventDetails": {}},
        exited("Generate dataset", 3),
        entered("Train model (XGBoost)", 3),
        {
            "type": "TaskScheduled",
            "timestamp": _t(3),
            "taskScheduledEventDetails": {
                "resource": "createTrainingJob.sync",
                "resourceType": "sagemaker",
                "parameters": json.dumps({"TrainingJobName": "xgb-dev-1"}),
            },
        },
        {
            "type": "TaskFailed",
            "timestamp": _t(60),
            "taskFailedEventDetails": {"error": "States.TaskFailed", "cause": '{"FailureReason": "boom"}'},
        },
        entered("Pipeline failed", 60, kind="Fail"),
    ]
    states = states_from_history(events)
    assert [s.name for s in states] == ["Generate dataset", "Train model (XGBoost)", "Pipeline failed"]
    seed, train, fail = states
    assert seed.status == "succeeded" and seed.error is None and seed.seconds(_t(99)) == 3
    assert train.job_name == "xgb-dev-1" and train.resource == "createTrainingJob.sync"
    assert train.error == "States.TaskFailed" and train.status == "retrying" and train.exited is None
    assert fail.status == "failed"


def _t(seconds):
    return datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=seconds)


def test_cleanup_dry_run_lists_tagged_models_and_deletes_nothing(outputs_file, monkeypatch, capsys):
    clients = _StubbedClients()
    stub = Stubber(clients.sagemaker)
    now = datetime(2026, 1, 1, tzinfo=UTC)
    arn = "arn:aws:sagemaker:us-west-2:111122223333:model/{}"
    stub.add_response(
        "list_models",
        {
            "Models": [
                {"ModelName": "xgb-dev--1", "ModelArn": arn.format("xgb-dev--1"), "CreationTime": now},
                {"ModelName": "xgb-dev--hand-made", "ModelArn": arn.format("xgb-dev--hand-made"), "CreationTime": now},
            ]
        },
        {"NameContains": "xgb-dev--"},
    )
    stub.add_response(
        "list_tags",
        {"Tags": [{"Key": "training-pipeline:execution", "Value": "xgb-dev--1"}]},
        {"ResourceArn": arn.format("xgb-dev--1")},
    )
    stub.add_response("list_tags", {"Tags": []}, {"ResourceArn": arn.format("xgb-dev--hand-made")})
    monkeypatch.setattr(stack, "Clients", lambda region: clients)
    with stub:  # any delete_model call would be an unexpected call and fail
        code, out, _ = run(["cleanup", "--dry-run", "--json", "--outputs-file", outputs_file], capsys)
    stub.assert_no_pending_responses()
    assert code == 0
    assert json.loads(out) == {"dry_run": True, "models": ["xgb-dev--1"]}


def _interrupt(*args, **kwargs):
    raise KeyboardInterrupt


@pytest.mark.parametrize(
    "argv, problem",
    [
        (["--rows", "5", "list"], "--rows only applies when starting a run"),
        (["--local", "--detach"], "--detach needs a deployed stack"),
        (["--detach", "follow", "arn:aws:states:x"], "follow detaches on Ctrl-C by default; --stop stops"),
        (["--keep-data", "list"], "--keep-data only applies when starting a run"),
        (["list", "--max", "1001"], "argument --max: '1001' is more than 1000"),
    ],
)
def test_options_that_cannot_apply_are_refused(argv, problem, outputs_file, no_aws, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv)
    assert exit_info.value.code == 2
    assert problem in capsys.readouterr().err


def test_an_output_without_the_pipeline_keys_is_one_line_exit_1(outputs_file, monkeypatch, capsys, tmp_path):
    from runner.follow import ExecutionView

    view = ExecutionView(
        arn="arn:aws:states:us-west-2:111122223333:execution:pipeline-abc:xgb-dev-1",
        name="xgb-dev-1",
        status="SUCCEEDED",
        started=_t(0),
        stopped=_t(5),
        states=[],
        output={"hello": "world"},
    )
    monkeypatch.setattr(stack, "Clients", lambda region: _StubbedClients())
    monkeypatch.setattr(watch, "follow", lambda *args: view)
    monkeypatch.setattr(parser, "RUNS_DIR", tmp_path / "runs")  # the default runs/ (the project's)
    code, out, err = run(["follow", view.arn, "--outputs-file", outputs_file, "--json"], capsys)
    assert code == 1
    message = "the output of xgb-dev-1 has no 'dataset' key: was it started from this project's state machine?"
    assert err.strip() == f"run.py: error: {message}"
    summary = json.loads(out)
    assert summary["results_error"] == message and summary["artifacts_dir"] is None
    assert list((tmp_path / "runs").iterdir()) == []  # nothing half-written


def test_stop_stops_only_this_stacks_running_executions(outputs_file, monkeypatch, capsys):
    sfn = boto3.client("stepfunctions", region_name="us-west-2", aws_access_key_id="x", aws_secret_access_key="x")
    stub = Stubber(sfn)
    running = [f"arn:aws:states:us-west-2:111122223333:execution:pipeline-abc:xgb-dev--{i}" for i in (1, 2)]
    stub.add_response(
        "list_executions",
        {
            "executions": [
                {
                    "executionArn": arn,
                    "stateMachineArn": OUTPUTS["stateMachineArn"],
                    "name": arn.rsplit(":", 1)[1],
                    "status": "RUNNING",
                    "startDate": datetime(2026, 1, 1),
                }
                for arn in running
            ]
        },
        {"stateMachineArn": OUTPUTS["stateMachineArn"], "statusFilter": "RUNNING"},
    )
    for arn in running:
        stub.add_response(
            "stop_execution",
            {"stopDate": datetime(2026, 1, 1)},
            {"executionArn": arn, "error": "Stopped", "cause": "stopped by run.py stop"},
        )
    clients = _StubbedClients()
    clients.sfn = sfn
    monkeypatch.setattr(stack, "Clients", lambda region: clients)
    with stub:
        code, out, _ = run(["stop", "--json", "--outputs-file", outputs_file], capsys)
    stub.assert_no_pending_responses()
    assert code == 0 and json.loads(out) == {"dry_run": False, "executions": running}


@pytest.mark.parametrize(
    "make_args, problem",
    [
        (
            lambda tmp: ["--data", "s3://someone-elses/data.csv"],
            "the execution would be refused: data.uri: s3://someone-elses/data.csv is outside the stack's data sources",
        ),
        (lambda tmp: ["--data", str(tmp / "bad.csv")], "line 3: column 'x' holds 'inf', which is not finite"),
        (lambda tmp: ["--data", str(tmp / "bad.csv"), "--label", "y"], "no label column 'y' in the header"),
    ],
)
def test_data_on_aws_is_checked_before_any_call(make_args, problem, outputs_file, no_aws, capsys, tmp_path):
    """Against a deployed stack too: no client (so nothing uploaded, nothing started) before the data passes."""
    (tmp_path / "bad.csv").write_text("x,label\n1,0\ninf,1\n")
    code, out, err = run(["--outputs-file", outputs_file, *make_args(tmp_path)], capsys)
    assert code == 2 and out == "" and problem in err and len(err.splitlines()) == 1, err
