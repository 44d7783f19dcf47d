"""Write-once runs through the rehearsal: a Generate event replayed on an old run's prefix, as a
name reused after Step Functions' 90 days would send it, fails and leaves the old run's objects."""

import json
import time

import boto3


def _objects(s3, bucket, prefix):
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
    return {item["Key"]: s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read() for item in listed}


def test_a_replayed_generate_event_fails_and_keeps_the_old_run(shared_stack):
    outputs = shared_stack
    region, bucket = outputs["region"], outputs["bucketName"]
    sfn, s3 = boto3.client("stepfunctions", region_name=region), boto3.client("s3", region_name=region)
    name = f"{outputs['jobNamePrefix']}--victim"
    arn = sfn.start_execution(stateMachineArn=outputs["stateMachineArn"], name=name, input=json.dumps({"rows": 50}))[
        "executionArn"
    ]
    while (described := sfn.describe_execution(executionArn=arn))["status"] == "RUNNING":
        time.sleep(0.05)
    assert described["status"] == "SUCCEEDED", described.get("cause")
    before = _objects(s3, bucket, f"runs/{name}/")
    assert f"runs/{name}/csv/labels/test_labels.csv" in before

    replay = {"executionName": name, "rows": 10, "seed": 1, "shards": 1}
    response = boto3.client("lambda", region_name=region).invoke(
        FunctionName=outputs["seedFunctionName"], Payload=json.dumps(replay)
    )
    error = json.loads(response["Payload"].read())
    assert response.get("FunctionError") and error["errorType"] == "RunExists", error
    assert "exists already" in error["errorMessage"]
    assert _objects(s3, bucket, f"runs/{name}/") == before
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
