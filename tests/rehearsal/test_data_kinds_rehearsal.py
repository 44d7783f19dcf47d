"""Findings F2 and F3 of the attack on least privilege by function, on a deployed stack with a
dataSources location: what a direct invoker of the seeding function (under its role) can make
it read or delete when data.uri and data.test are of different kinds.
"""

from __future__ import annotations

import boto3
import pytest
from emulated_execution import deployed_with, invoke_seeding, objects

from components.settings import load_stack_settings

VICTIM = f"{load_stack_settings('dev').job_name_prefix}--victim"


DATA_BUCKET = "least-privilege-sources"
TABLE = "age,income,diagnosis\n" + "".join(f"{20 + i % 50},{1000 * (i % 17)},{i % 2}\n" for i in range(200))


@pytest.fixture(scope="module")
def sourced_stack():
    with deployed_with(dataSources=[f"s3://{DATA_BUCKET}/tables/"]) as outputs:
        s3 = boto3.client("s3", region_name=outputs["region"])
        s3.create_bucket(Bucket=DATA_BUCKET, CreateBucketConfiguration={"LocationConstraint": outputs["region"]})
        s3.put_object(Bucket=DATA_BUCKET, Key="tables/public.csv", Body=TABLE.encode())
        yield outputs


@pytest.mark.parametrize("upload_field", ["uri", "test"])
def test_a_runs_upload_beside_a_data_source_is_neither_read_nor_deleted(sourced_stack, upload_field):
    """Invoked directly with a victim's pending upload as data.test beside a data source (it was
    read, echoed in errors and never deleted), or as data.uri with the data source as test (the
    function tried to delete the data source's object): refused, every object as it was."""
    stack = sourced_stack
    key = f"runs/{VICTIM}-{upload_field}/upload/{upload_field}.csv"
    s3 = boto3.client("s3", region_name=stack["region"])
    s3.put_object(Bucket=stack["bucketName"], Key=key, Body=TABLE.encode())
    uploaded, source = f"s3://{stack['bucketName']}/{key}", f"s3://{DATA_BUCKET}/tables/public.csv"
    data = {"uri": uploaded, "test": source} if upload_field == "uri" else {"uri": source, "test": uploaded}
    error = invoke_seeding(
        stack,
        {
            "action": "prepare",
            "executionName": f"{VICTIM}-{upload_field}",
            "seed": 1,
            "data": {**data, "label": "diagnosis", "split": {"validation": 0.1, "test": 0}},
        },
    )
    assert error["errorType"] == "InvalidSeedRequest" and "both must be uploads of this run" in error["errorMessage"]
    assert list(objects(stack, f"runs/{VICTIM}-{upload_field}/")) == [key]
    assert s3.get_object(Bucket=DATA_BUCKET, Key="tables/public.csv")["Body"].read() == TABLE.encode()
