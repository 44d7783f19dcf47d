"""A batch transform that outruns transformTimeoutSeconds, rehearsed: the state fails with
States.Timeout, the state machine stops the job (Stop transform job, an AWS SDK task run as the
state machine role), and the execution fails with the timeout; the job ends Stopped, without output."""

from __future__ import annotations

import itertools
import time

import boto3
import pytest
from emulated_execution import deployed_with, start_and_wait, states_entered

from runner.emulator.sagemaker import jobs as sagemaker_jobs
from runner.emulator.sagemaker import serving as sagemaker_serving

TIMEOUT = 8  # room for a 200-row transform on a loaded 2-core machine; the endless one runs a minute
_names = itertools.count(1)


@pytest.fixture(scope="module")
def stack():
    with deployed_with(transformTimeoutSeconds=TIMEOUT) as outputs:
        yield outputs


def test_a_transform_past_its_timeout_is_stopped_by_the_state_machine(stack, monkeypatch):
    original = sagemaker_serving.Serving.transform

    def endless(*args, **kwargs):  # the container's answers, then a minute of nothing more
        yield from original(*args, **kwargs)
        for _ in range(300):
            time.sleep(0.2)
            yield b""

    stops = []
    request_stop = sagemaker_jobs.LocalSageMaker.request_stop
    monkeypatch.setattr(sagemaker_serving.Serving, "transform", endless)
    monkeypatch.setattr(
        sagemaker_jobs.LocalSageMaker,
        "request_stop",
        lambda self, kind, name: (stops.append((kind, name)), request_stop(self, kind, name)),
    )

    name = f"{stack['jobNamePrefix']}--timeout-{next(_names)}-{int(time.time())}"
    started = time.monotonic()
    described = start_and_wait(stack, name, {"rows": 200}, timeout=60)
    assert time.monotonic() - started < 30  # not the minute the job would have run
    assert described["status"] == "FAILED"
    assert described["error"] == "States.Timeout"
    entered = states_entered(stack, described["executionArn"])
    assert entered[-3:] == ["Batch transform", "Stop transform job", "Pipeline failed"]
    # Only the definition's StopTransformJob stopped it: the state's own timeout does not (AWS
    # documents cancelling a .sync job when the execution is stopped, not on a state's timeout).
    assert stops == [("transform-job", name)]
    sagemaker = boto3.client("sagemaker", region_name=stack["region"])
    deadline = time.monotonic() + 10
    while (job := sagemaker.describe_transform_job(TransformJobName=name))["TransformJobStatus"] != "Stopped":
        assert job["TransformJobStatus"] == "Stopping" and time.monotonic() < deadline, job["TransformJobStatus"]
        time.sleep(0.1)
    listed = boto3.client("s3", region_name=stack["region"]).list_objects_v2(
        Bucket=stack["bucketName"], Prefix=f"runs/{name}/predictions/"
    )
    assert listed.get("KeyCount") == 0  # a stopped transform stores no output
    report = stack.iam_report(execution=described["executionArn"])
    calls = [call for entry in report.values() for call in entry["calls"]]
    assert any(
        call["action"] == "sagemaker:StopTransformJob"
        and call["allowed"]
        and call["resource"].endswith(f":transform-job/{name}")
        and call["statement"].endswith("/TransformJobs")
        for call in calls
    ), calls


def test_a_transform_within_its_timeout_succeeds(stack):
    name = f"{stack['jobNamePrefix']}--timeout-{next(_names)}-{int(time.time())}"
    described = start_and_wait(stack, name, {"rows": 200}, timeout=60)
    assert described["status"] == "SUCCEEDED", described.get("cause")
    assert "Stop transform job" not in states_entered(stack, described["executionArn"])
