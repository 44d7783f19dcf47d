"""A managed spot run rehearsed end to end: the instance reclaimed after a round, the job restarted
from its checkpoints, the same predictions, and DescribeTrainingJob as AWS reports an interruption."""

from __future__ import annotations

import pytest
from emulated_execution import _run, deployed_with

from runner.emulator.sagemaker import jobs as sagemaker_jobs
from runner.emulator.sagemaker.jobs import SPOT_RECLAIM_VARIABLE


@pytest.fixture(scope="module")
def spot_stack():
    with deployed_with(
        spotTraining=True, hyperparameters=["objective=reg:logistic", "eval_metric=rmse", "num_round=6"]
    ) as outputs:
        yield outputs


def test_an_interrupted_spot_job_restarts_and_predicts_byte_for_byte_the_same(spot_stack, monkeypatch):
    monkeypatch.delenv(SPOT_RECLAIM_VARIABLE, raising=False)
    _, plain, plain_predictions, plain_checkpoints = _run(spot_stack)
    monkeypatch.setenv(SPOT_RECLAIM_VARIABLE, "3")
    name, job, predictions, checkpoints = _run(spot_stack)

    assert predictions == plain_predictions and list(predictions) == ["test.csv.out"]
    assert job["EnableManagedSpotTraining"] is True
    assert job["StoppingCondition"] == {"MaxRuntimeInSeconds": 3600, "MaxWaitTimeInSeconds": 7200}
    assert job["CheckpointConfig"]["S3Uri"] == f"s3://{spot_stack['bucketName']}/runs/{name}/checkpoints/"
    # The dev stack's image (3.2-0) writes one checkpoint, after round 0, under a name its resume does
    # not read (1.7-1 writes xgboost-checkpoint_0.json: runner/container/images.py).
    assert list(checkpoints) == list(plain_checkpoints) == ["xgboost-checkpoint_0.ubj"]

    statuses = [item["Status"] for item in job["SecondaryStatusTransitions"]]
    assert statuses == [
        "Starting",
        "Downloading",
        "Training",
        "Interrupted",
        "Starting",
        "Downloading",
        "Training",
        "Uploading",
        "Completed",
    ]
    assert all("EndTime" in item for item in job["SecondaryStatusTransitions"])
    assert job["TrainingJobStatus"] == "Completed"
    assert job["BillableTimeInSeconds"] < job["TrainingTimeInSeconds"]
    assert job["TrainingTimeInSeconds"] >= sagemaker_jobs.SPOT_CAPACITY_WAIT_SECONDS
    assert [item["Status"] for item in plain["SecondaryStatusTransitions"]] == [
        "Starting",
        "Downloading",
        "Training",
        "Uploading",
        "Completed",
    ]
    assert plain["BillableTimeInSeconds"] == plain["TrainingTimeInSeconds"]
    assert "WarmPoolStatus" not in job

    # The checkpoint sync acts as the SageMaker role, under its policies.
    report = spot_stack.iam_report()
    [sagemaker_role] = [role for role in report if "sagemaker-role" in role]
    calls = {(call["action"], call["resource"]): call for call in report[sagemaker_role]["calls"]}
    key = f"arn:aws:s3:::{spot_stack['bucketName']}/runs/{name}/checkpoints/xgboost-checkpoint_0.ubj"
    assert calls[("s3:PutObject", key)]["allowed"] and calls[("s3:PutObject", key)]["count"] >= 2
    assert calls[("s3:GetObject", key)]["allowed"]  # restored on the new instance
    assert calls[("s3:ListBucket", f"arn:aws:s3:::{spot_stack['bucketName']}")]["allowed"]


def test_a_bad_reclaim_setting_fails_the_job_naming_it(spot_stack, monkeypatch):
    monkeypatch.setenv(SPOT_RECLAIM_VARIABLE, "soon")
    with pytest.raises(AssertionError, match=f"{SPOT_RECLAIM_VARIABLE}: 'soon' is not a number of rounds"):
        _run(spot_stack)
