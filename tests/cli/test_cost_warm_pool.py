"""runner.cost: a warm pool's retained billable time is counted (issue 19); DescribeTrainingJob is
stubbed with botocore's Stubber, so the request and response shapes are checked against SageMaker's model."""

from datetime import UTC

import boto3
import pytest
from botocore.stub import Stubber
from price_list import LAMBDA, M5, M5_PRODUCTS, REGION, S3, SAGEMAKER_M5, TRANSFORM, _product

from runner import cost

JOB = "xgb-dev--1"


@pytest.fixture
def sagemaker():
    client = boto3.client("sagemaker", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def _described(**warm_pool) -> dict:
    """A DescribeTrainingJob response of a finished job, with WarmPoolStatus when given."""
    from datetime import datetime

    response = {
        "TrainingJobName": JOB,
        "TrainingJobArn": f"arn:aws:sagemaker:{REGION}:123456789012:training-job/{JOB}",
        "ModelArtifacts": {"S3ModelArtifacts": "s3://b/runs/x/model.tar.gz"},
        "TrainingJobStatus": "Completed",
        "SecondaryStatus": "Completed",
        "AlgorithmSpecification": {"TrainingInputMode": "File", "TrainingImage": "image"},
        "ResourceConfig": {
            "InstanceType": M5,
            "InstanceCount": 2,
            "VolumeSizeInGB": 10,
            "KeepAlivePeriodInSeconds": 600,
        },
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
        "CreationTime": datetime(2026, 1, 1, tzinfo=UTC),
        "TrainingTimeInSeconds": 100,
        "BillableTimeInSeconds": 100,
    }
    if warm_pool:
        response["WarmPoolStatus"] = warm_pool
    return response


def _prices(pricing, tmp_path) -> cost.PriceList:
    client, stubber = pricing
    for _ in range(2):  # training (with its warm pool) and transform
        stubber.add_response("get_products", {"FormatVersion": "aws_v1", "PriceList": M5_PRODUCTS}, SAGEMAKER_M5)
    stubber.add_response(
        "get_products",
        {
            "FormatVersion": "aws_v1",
            "PriceList": [_product("USW2-Lambda-GB-Second", "0.0000166667", "Lambda-GB-Second")],
        },
        LAMBDA,
    )
    stubber.add_response(
        "get_products",
        {"FormatVersion": "aws_v1", "PriceList": [_product("USW2-TimedStorage-ByteHrs", "0.0230000000", "GB-Mo")]},
        S3,
    )
    return cost.PriceList(client, cache_dir=tmp_path)


def _cost(prices, pool) -> dict:
    training = {
        "job_name": JOB,
        "instance_type": M5,
        "instance_count": 2,
        "training_seconds": 100,
        "billable_seconds": 100,
        "spot": False,
        "warm_pool": pool,
    }
    return cost.run_cost(
        region=REGION,
        training=training,
        transform=TRANSFORM,
        lambda_seconds=[1.0],
        lambda_memory_mb=1024,
        stored_bytes=0,
        prices=prices,
    )


def test_an_ended_warm_pool_costs_its_retained_time_on_every_instance(sagemaker, pricing, tmp_path):
    client, stubber = sagemaker
    stubber.add_response(
        "describe_training_job",
        _described(Status="Terminated", ResourceRetainedBillableTimeInSeconds=540),
        {"TrainingJobName": JOB},
    )
    pool = cost.warm_pool(client, JOB)
    assert pool == {"status": "Terminated", "retained_billable_seconds": 540}
    record = _cost(_prices(pricing, tmp_path), pool)
    assert record["warm_pool"]["usd"] == round(540 * 2 * 0.2304 / 3600, 6)  # the Train: price, both instances
    assert record["total_usd"] == round(
        record["training"]["usd"] + record["warm_pool"]["usd"] + record["transform"]["usd"] + record["lambda"]["usd"], 6
    )
    assert f"warm pool ${record['warm_pool']['usd']:.4f}" in cost.describe(record)


def test_a_warm_pool_still_kept_is_a_reason_not_a_guess(sagemaker, pricing, tmp_path):
    client, stubber = sagemaker
    stubber.add_response("describe_training_job", _described(Status="Available"), {"TrainingJobName": JOB})
    record = _cost(_prices(pricing, tmp_path), cost.warm_pool(client, JOB))
    assert record["warm_pool"]["usd"] is None and record["warm_pool"]["pending"]
    # The rest of the run is known: its total, without the pool, which the line names as left out.
    assert record["total_usd"] == round(
        record["training"]["usd"] + record["transform"]["usd"] + record["lambda"]["usd"], 6
    )
    assert "warm pool not included: the warm pool is still kept (Available)" in cost.describe(record)


def test_no_warm_pool_and_no_permission(sagemaker):
    client, stubber = sagemaker
    stubber.add_response("describe_training_job", _described(), {"TrainingJobName": JOB})
    assert cost.warm_pool(client, JOB) is None
    stubber.add_client_error(
        "describe_training_job", "AccessDeniedException", "not allowed", expected_params={"TrainingJobName": JOB}
    )
    pool = cost.warm_pool(client, JOB)
    assert pool["retained_billable_seconds"] is None and "AccessDeniedException" in pool["unknown"]
    record = cost.run_cost(
        region=REGION,
        training={"job_name": JOB, "instance_type": M5, "instance_count": 1, "billable_seconds": 10, "warm_pool": pool},
        transform=TRANSFORM,
        lambda_seconds=[],
        lambda_memory_mb=1024,
        stored_bytes=0,
        prices=None,
        local=True,
    )
    assert record["warm_pool"]["unknown"] == pool["unknown"]
