"""run.py --data FILE: a run's upload does not outlive its execution (finding F1).

Prepare dataset deletes the upload it read; an execution that ends without reading it (stopped,
refused or failed before Prepare) would keep it, and anyone allowed to invoke the seeding
function could read or delete it. run.py deletes what is left once the execution has ended, and
nothing while it runs (detached)."""

import threading
import types
from datetime import datetime

import boto3
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from dev_stack import PREFIX

from components import lambda_functions
from runner import cli
from runner import data as user_data
from runner.cli import watch
from runner.emulator import awslambda as lambda_runtime

CSV = "x,y,label\n" + "".join(f"{i % 7},{i % 5},{i % 2}\n" for i in range(80))


def test_a_run_stopped_before_prepare_leaves_no_upload(capsys, tmp_path, monkeypatch):
    validating, ended = threading.Event(), threading.Event()
    invoke = lambda_runtime.LocalLambdaRuntime.invoke

    def held_validation(self, fn, body, headers, response_headers):
        if fn.handler == lambda_functions.VALIDATION_HANDLER:  # Validate input runs until run.py stopped it
            validating.set()
            ended.wait(30)
        return invoke(self, fn, body, headers, response_headers)

    def interrupted_follow(sfn, sagemaker, arn, display, polling):
        assert validating.wait(30)
        raise KeyboardInterrupt

    seen = {}
    remove_after_end = user_data.remove_after_end

    def observed(sfn, s3, arn, files, wait_seconds):
        ended.set()  # run.py stopped the execution (or detached): Validate input may finish
        seen["removed"] = remove_after_end(sfn, s3, arn, files, wait_seconds)
        seen["status"] = sfn.describe_execution(executionArn=arn)["status"]
        bucket = next(iter(files)).removeprefix("s3://").split("/", 1)[0]
        seen["left"] = [item["Key"] for item in s3.list_objects_v2(Bucket=bucket, Prefix="runs/").get("Contents", [])]
        return seen["removed"]

    monkeypatch.setattr(lambda_runtime.LocalLambdaRuntime, "invoke", held_validation)
    monkeypatch.setattr(watch, "follow", interrupted_follow)
    monkeypatch.setattr(user_data, "remove_after_end", observed)
    data = tmp_path / "data.csv"
    data.write_text(CSV)
    code = cli.main(["--local", "--no-progress", "--runs-dir", str(tmp_path / "runs"), "--data", str(data)])
    err = capsys.readouterr().err
    assert code == 130 and "stopped xgb-" in err, err
    assert seen["status"] == "ABORTED" and seen["removed"] is True
    assert seen["left"] == []


def test_nothing_is_removed_while_the_execution_runs():
    """run.py --detach: the execution goes on and will read its upload."""
    sfn = boto3.client("stepfunctions", region_name="us-west-2", aws_access_key_id="x", aws_secret_access_key="x")
    arn = "arn:aws:states:us-west-2:111122223333:execution:pipeline:xgb-dev--1"
    with Stubber(sfn) as stub:
        stub.add_response(
            "describe_execution",
            {"executionArn": arn, "stateMachineArn": arn, "status": "RUNNING", "startDate": datetime(2026, 1, 1)},
            {"executionArn": arn},
        )
        deleted = []
        s3 = types.SimpleNamespace(delete_object=lambda **call: deleted.append(call))
        assert user_data.remove_after_end(sfn, s3, arn, {"s3://b/runs/xgb-dev--1/upload/data.csv": None}) is False
        stub.assert_no_pending_responses()
    assert deleted == []


def test_a_failed_deletion_of_the_upload_is_a_warning_never_the_runs_outcome(
    shared_stack, monkeypatch, capsys, tmp_path
):
    """Say, credentials that expired during a long run: the run's result and exit code stand."""

    def expired(*_, **__):
        raise ClientError(
            {"Error": {"Code": "ExpiredToken", "Message": "The security token is expired"}}, "DescribeExecution"
        )

    monkeypatch.setattr(user_data, "remove_after_end", expired)
    data = tmp_path / "data.csv"
    data.write_text(CSV)
    code = cli.main(["--local", "--no-progress", "--runs-dir", str(tmp_path / "runs"), "--data", str(data)])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "run.py: warning: could not delete the upload s3://" in err and "ExpiredToken" in err


def test_a_reused_name_never_overwrites_or_deletes_the_other_runs_upload(capsys, tmp_path, monkeypatch):
    """Issue 25 finding 6: another run of this name has uploaded its data and not yet read it."""
    upload, remove = user_data.upload, user_data.remove
    seen = {}

    def other_run_first(s3, files, created):
        for uri in files:
            bucket, _, key = uri.removeprefix("s3://").partition("/")
            s3.put_object(Bucket=bucket, Key=key, Body=b"the other run's data")
            seen["where"] = bucket, key
        return upload(s3, files, created)

    def observed_remove(s3, uris):
        remove(s3, uris)
        bucket, key = seen["where"]
        seen["left"] = s3.get_object(Bucket=bucket, Key=key)["Body"].read()

    monkeypatch.setattr(user_data, "upload", other_run_first)
    monkeypatch.setattr(user_data, "remove", observed_remove)
    data = tmp_path / "data.csv"
    data.write_text(CSV)
    code = cli.main(
        [
            "--local",
            "--no-progress",
            "--runs-dir",
            str(tmp_path / "runs"),
            "--data",
            str(data),
            "--name",
            f"{PREFIX}--reused",
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and f"upload/data.csv already exists: another run named {PREFIX}--reused" in err, err
    assert seen["left"] == b"the other run's data"
