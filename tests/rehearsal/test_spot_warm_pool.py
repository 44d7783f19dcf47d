"""A warm pool rehearsed as far as DescribeTrainingJob's WarmPoolStatus."""

from __future__ import annotations

import time

import boto3
from emulated_execution import _run, deployed_with


def test_a_warm_pool_job_reports_its_pool():
    # 3 s: the pool must outlast the execution's transform after the training job (a container
    # process of its own since the image environments) to be seen Available.
    with deployed_with(warmPoolSeconds=3) as outputs:
        _, job, _, _ = _run(outputs)
        assert job["ResourceConfig"]["KeepAlivePeriodInSeconds"] == 3
        assert job["WarmPoolStatus"] == {"Status": "Available"}
        time.sleep(3.3)
        released = boto3.client("sagemaker", region_name=outputs["region"]).describe_training_job(
            TrainingJobName=job["TrainingJobName"]
        )
        assert released["WarmPoolStatus"] == {"Status": "Terminated", "ResourceRetainedBillableTimeInSeconds": 3}
