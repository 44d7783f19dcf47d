"""A warm pool rehearsed as far as DescribeTrainingJob's WarmPoolStatus."""

from __future__ import annotations

import time

import boto3
from emulated_execution import _run, deployed_with


def test_a_warm_pool_job_reports_its_pool():
    with deployed_with(warmPoolSeconds=1) as outputs:
        _, job, _, _ = _run(outputs)
        assert job["ResourceConfig"]["KeepAlivePeriodInSeconds"] == 1
        assert job["WarmPoolStatus"] == {"Status": "Available"}
        time.sleep(1.3)
        released = boto3.client("sagemaker", region_name=outputs["region"]).describe_training_job(
            TrainingJobName=job["TrainingJobName"])
        assert released["WarmPoolStatus"] == {"Status": "Terminated", "ResourceRetainedBillableTimeInSeconds": 1}
