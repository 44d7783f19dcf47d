"""A warm pool rehearsed as far as DescribeTrainingJob's WarmPoolStatus."""

from __future__ import annotations

import time

import boto3

from runner.local import engine, local_stack
from test_spot_rehearsal import NAMESPACE, _run, _settings

def test_a_warm_pool_job_reports_its_pool(monkeypatch):
    config = {**engine.stack_config("dev"), f"{NAMESPACE}:warmPoolSeconds": 1}
    monkeypatch.setattr(engine, "stack_config", lambda stack: config)
    with local_stack(_settings(config)) as outputs:
        _, job, _, _ = _run(outputs)
        assert job["ResourceConfig"]["KeepAlivePeriodInSeconds"] == 1
        assert job["WarmPoolStatus"] == {"Status": "Available"}
        time.sleep(1.3)
        released = boto3.client("sagemaker", region_name=outputs["region"]).describe_training_job(
            TrainingJobName=job["TrainingJobName"])
        assert released["WarmPoolStatus"] == {"Status": "Terminated", "ResourceRetainedBillableTimeInSeconds": 1}
