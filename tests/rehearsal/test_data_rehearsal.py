"""Data already in S3, through the deployed state machine in the rehearsal (a dataSources bucket
created in the emulator): prepared inside "AWS", refused outside dataSources before anything is written."""

import json

import boto3
import pytest
from emulated_execution import deployed_with, start_and_wait, states_entered

DATA_BUCKET = "team-datasets"
DATA_SOURCE = f"s3://{DATA_BUCKET}/tables/"
ROWS = "".join(f"{i % 11},{(i * 7) % 13},{'yes' if (i * 7) % 13 > 6 else 'no'}\n" for i in range(300))


@pytest.fixture(scope="module")
def stack():
    with deployed_with(dataSources=[DATA_SOURCE], trainingInstanceCount=2) as outputs:
        s3 = boto3.client("s3", region_name=outputs["region"])
        s3.create_bucket(Bucket=DATA_BUCKET, CreateBucketConfiguration={"LocationConstraint": outputs["region"]})
        s3.put_object(Bucket=DATA_BUCKET, Key="tables/answers/part-0.csv", Body=("a,b,answer\n" + ROWS).encode())
        s3.put_object(Bucket=DATA_BUCKET, Key="tables/answers/part-1.csv", Body=("a,b,answer\n" + ROWS).encode())
        s3.put_object(Bucket=DATA_BUCKET, Key="tables/answers/_SUCCESS", Body=b"")
        s3.put_object(Bucket=DATA_BUCKET, Key="tables/bad.csv", Body=b"a,b,answer\n1,2,yes\n1,two,no\n")
        s3.put_object(Bucket=DATA_BUCKET, Key="elsewhere/x.csv", Body=("a,b,answer\n" + ROWS).encode())
        yield outputs


def execute(outputs, name, execution_input, timeout=60):
    name = f"{outputs['jobNamePrefix']}--{name}"
    described = start_and_wait(outputs, name, execution_input, timeout)
    return name, described, states_entered(outputs, described["executionArn"])


def keys_under(outputs, prefix):
    s3 = boto3.client("s3", region_name=outputs["region"])
    return [item["Key"] for item in s3.list_objects_v2(Bucket=outputs["bucketName"], Prefix=prefix).get("Contents", [])]


def test_a_prefix_in_data_sources_is_prepared_into_the_layout_and_trained_with_validation(stack):
    name, described, entered = execute(
        stack,
        "s3-prefix",
        {
            "seed": 5,
            "data": {"uri": f"{DATA_SOURCE}answers/", "label": "answer"},
            "hyperparameters": {"objective": "binary:logistic"},
        },
    )
    assert described["status"] == "SUCCEEDED", described.get("cause")
    assert entered == [
        "Validate input",
        "Which dataset",
        "Prepare dataset",
        "Train model (XGBoost)",
        "Save Model",
        "Batch transform",
        "Evaluate model",
        "Quality gate",
        "Register model",
    ]
    dataset = json.loads(described["output"])["dataset"]
    assert dataset["source"]["kind"] == "s3" and dataset["source"]["uri"] == f"{DATA_SOURCE}answers/"
    assert dataset["source"]["features"] == ["a", "b"] and dataset["source"]["classes"] == ["no", "yes"]
    assert sum(dataset["rows"].values()) == 600  # both parts, _SUCCESS skipped
    assert sorted(keys_under(stack, f"runs/{name}/csv/")) == sorted(
        [
            f"runs/{name}/csv/train/part-00000.csv",
            f"runs/{name}/csv/train/part-00001.csv",
            f"runs/{name}/csv/validation/validation.csv",
            f"runs/{name}/csv/test/test.csv",
            f"runs/{name}/csv/labels/test_labels.csv",
        ]
    )
    job = boto3.client("sagemaker", region_name=stack["region"]).describe_training_job(TrainingJobName=name)
    assert [channel["ChannelName"] for channel in job["InputDataConfig"]] == ["train", "validation"]
    assert any(metric["MetricName"].startswith("validation:") for metric in job["FinalMetricDataList"])


@pytest.mark.parametrize(
    "uri",
    [
        "s3://team-datasets/elsewhere/x.csv",
        "s3://team-datasets/tables/../elsewhere/x.csv",
        "s3://other-bucket/tables/x.csv",
    ],
)
def test_a_uri_outside_data_sources_is_refused_in_the_first_state_with_nothing_written(stack, uri):
    name, described, entered = execute(stack, f"outside-{abs(hash(uri)) % 10_000}", {"data": {"uri": uri}})
    assert described["status"] == "FAILED" and described["error"] == "InvalidExecutionInput"
    assert entered == ["Validate input", "Read refusal", "Execution input refused"]
    assert uri in described["cause"] or "'..'" in described["cause"]
    assert keys_under(stack, f"runs/{name}/") == []


def test_bad_data_in_s3_fails_in_prepare_naming_the_column_and_leaves_no_layout(stack):
    name, described, entered = execute(
        stack, "s3-bad", {"data": {"uri": f"{DATA_SOURCE}bad.csv", "label": "answer", "categorical": "off"}}
    )
    assert described["status"] == "FAILED" and entered[-2:] == ["Prepare dataset", "Pipeline failed"]
    assert described["error"] == "InvalidData"
    message = json.loads(described["cause"])["errorMessage"]
    assert message == (
        f"{DATA_SOURCE}bad.csv: line 3: column 'b' is not numeric ('two'): categorical encoding is "
        "off (--categorical off): encode it yourself or drop the column"
    )
    assert keys_under(stack, f"runs/{name}/") == []


@pytest.mark.parametrize(
    "body, status", [(("a,b,answer\n" + ROWS).encode(), "SUCCEEDED"), (b"a,b,answer\n1,2,yes\n1,inf,no\n", "FAILED")]
)
def test_the_runs_upload_is_read_once_then_deleted(stack, body, status):
    """What run.py uploads for a run is deleted once the run has read it, succeeded or not: a
    later execution under the same name (free again 90 days after) cannot read it."""
    s3 = boto3.client("s3", region_name=stack["region"])
    name = f"{stack['jobNamePrefix']}--upload-{status.lower()}"
    key = f"runs/{name}/upload/data.csv"
    s3.put_object(Bucket=stack["bucketName"], Key=key, Body=body)
    _, described, entered = execute(
        stack,
        name.split("--", 1)[1],
        {
            "seed": 3,
            "data": {"uri": f"s3://{stack['bucketName']}/{key}", "label": "answer"},
            "hyperparameters": {"objective": "binary:logistic"},
        },
    )
    assert described["status"] == status, described.get("cause")
    assert "Prepare dataset" in entered
    assert not [k for k in keys_under(stack, f"runs/{name}/") if "/upload/" in k]
