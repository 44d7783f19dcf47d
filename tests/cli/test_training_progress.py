"""The live table shows a training job's round and latest evaluation line, read from the job's
CloudWatch Logs stream as on AWS; the rehearsal writes that stream (issue 27, item 6)."""

import json
from datetime import datetime

import boto3
from botocore.stub import Stubber

from runner import cli
from runner.follow import TRAINING_LOG_GROUP, StateProgress, TrainingLog

JOB = "xgb-dev--live"


def _training_state(num_round="10") -> StateProgress:
    return StateProgress(
        name="Train model (XGBoost)",
        entered=datetime(2026, 1, 1),
        resource="createTrainingJob.sync",
        job_name=JOB,
        parameters={"HyperParameters": {"num_round": num_round}},
    )


class _CountingLogs:
    def __init__(self, client):
        self.client, self.calls = client, 0

    def __getattr__(self, name):
        self.calls += 1
        return getattr(self.client, name)


def test_the_round_and_latest_evaluation_line_come_from_the_jobs_log_stream():
    from moto import mock_aws

    from runner.emulator.sagemaker.jobs import training_log

    class Backend:
        account_id, region_name = "123456789012", "us-west-2"

    with mock_aws():
        write = training_log(Backend(), JOB)  # the rehearsal's SageMaker, as the container logs
        write("[0]\ttrain-rmse:0.40000\tvalidation-rmse:0.41000")
        write("[1]\ttrain-rmse:0.30000\tvalidation-rmse:0.32000")
        logs = _CountingLogs(boto3.client("logs", region_name="us-west-2"))
        now = [0.0]
        reader = TrainingLog(logs, every=10.0, clock=lambda: now[0])
        assert reader.progress_of(_training_state()) == "round 2/10  train-rmse:0.30000 validation-rmse:0.32000"
        calls = logs.calls
        write("[2]\ttrain-rmse:0.20000\tvalidation-rmse:0.25000")
        now[0] = 5.0  # throttled: the last line read is shown again, nothing is asked
        assert reader.progress_of(_training_state()).startswith("round 2/10") and logs.calls == calls
        now[0] = 10.0
        assert reader.progress_of(_training_state()) == "round 3/10  train-rmse:0.20000 validation-rmse:0.25000"


def test_a_cloudwatch_line_with_the_consoles_tab_escape_is_read():
    logs = boto3.client("logs", region_name="us-west-2", aws_access_key_id="x", aws_secret_access_key="x")
    stub = Stubber(logs)
    stub.add_response(
        "describe_log_streams", {"logStreams": [{"logStreamName": f"{JOB}/algo-1-1700000000", "creationTime": 1}]}
    )
    stub.add_response(
        "get_log_events",
        {
            "events": [
                {"timestamp": 1, "message": "[41]#011train-logloss:0.1#011validation-logloss:0.2"},
                {"timestamp": 2, "message": "[2026-01-01 00:00:00.000 ip-10-0-0-1:7 INFO train.py:123] still here"},
            ]
        },
    )
    with stub:
        assert (
            TrainingLog(logs, every=0).progress_of(_training_state("5000"))
            == "round 42/5000  train-logloss:0.1 validation-logloss:0.2"
        )


def test_a_refused_log_read_is_said_once_and_not_tried_again():
    logs = boto3.client("logs", region_name="us-west-2", aws_access_key_id="x", aws_secret_access_key="x")
    stub = Stubber(logs)
    stub.add_client_error("describe_log_streams", "AccessDeniedException", "not allowed", http_status_code=400)
    reader = TrainingLog(logs, every=0)
    with stub:
        assert reader.progress_of(_training_state()) == "(training log not readable: AccessDeniedException)"
        assert reader.progress_of(_training_state()) == "(training log not readable: AccessDeniedException)"
    stub.assert_no_pending_responses()


def test_a_rehearsed_job_writes_every_round_to_its_log_stream(capsys, tmp_path, shared_stack):
    assert cli.main(["--local", "--json", "--rows", "500", "--hp", "num_round=7", "--runs-dir", str(tmp_path)]) == 0
    name = json.loads(capsys.readouterr().out)["execution_name"]
    logs = boto3.client("logs", region_name=shared_stack["region"])
    (stream,) = logs.describe_log_streams(logGroupName=TRAINING_LOG_GROUP, logStreamNamePrefix=f"{name}/")["logStreams"]
    assert stream["logStreamName"].startswith(f"{name}/algo-1-")
    events = logs.get_log_events(
        logGroupName=TRAINING_LOG_GROUP, logStreamName=stream["logStreamName"], startFromHead=True
    )["events"]
    # Every line the container writes reaches the stream (the library's warnings too), each round's among them.
    rounds = [event["message"].split("\t")[0] for event in events if event["message"].startswith("[")]
    assert rounds == [f"[{i}]" for i in range(7)]
