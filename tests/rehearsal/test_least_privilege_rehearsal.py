"""Issue 18, finding 6: least privilege by function, on the deployed stack in the emulator.

The seeding function writes only where its own configuration and the execution name say
(`runs/<executionName>/` of its bucket), checks the name as the validator does, and adds
nothing to a run that holds data already; the validation function holds no S3 rights. Each
refusal is shown invoking the deployed seeding function directly, as anyone allowed
`lambda:InvokeFunction` could (it runs under its own role), and through the state machine
started directly: nothing written under `runs/<name>/`, no job started.
"""

from __future__ import annotations

import boto3
import pytest
from dev_stack import PREFIX
from emulated_execution import invoke_seeding, objects, start_and_wait, states_entered

VICTIM = f"{PREFIX}--victim"


def victims_objects(outputs) -> list[str]:
    """Every key under runs/ that any of the names these tests target could have written."""
    return [key for key in objects(outputs, "runs/") if "victim" in key.lower()]


def no_job_started(outputs, name: str) -> bool:
    sagemaker = boto3.client("sagemaker", region_name=outputs["region"])
    return not sagemaker.list_training_jobs(NameContains=name)["TrainingJobSummaries"]


@pytest.mark.parametrize(
    "event, message",
    [
        (
            {"bucket": "{bucket}", "prefix": f"runs/{VICTIM}/", "rows": 10, "shards": 3},
            "bucket and prefix: not taken from the event",
        ),
        ({"prefix": f"runs/{VICTIM}/csv/train/", "rows": 10}, "prefix: not taken from the event"),
        ({"executionName": VICTIM, "bucket": "{bucket}", "rows": 10}, "bucket: not taken from the event"),
    ],
)
def test_an_event_naming_a_location_is_refused_and_writes_nothing(stack, event, message):
    event = {
        key: value.format(bucket=stack["bucketName"]) if isinstance(value, str) else value
        for key, value in event.items()
    }
    error = invoke_seeding(stack, event)
    assert error["errorType"] == "InvalidSeedRequest" and message in error["errorMessage"], error
    assert victims_objects(stack) == []


@pytest.mark.parametrize(
    "name, message",
    [
        ("xgb-prod--victim", f"must start with '{PREFIX}--'"),  # another stack's prefix
        (f"{PREFIX}-2--victim", f"must start with '{PREFIX}--'"),
        (f"{PREFIX}--Victim", "upper-case letters are refused"),
        (f"{PREFIX}--" + "v" * 60, "is not a valid SageMaker job name"),
        (f"{PREFIX}--victim/../other", "is not a valid SageMaker job name"),
    ],
)
def test_an_execution_name_the_validator_refuses_is_refused_and_writes_nothing(stack, name, message):
    error = invoke_seeding(stack, {"executionName": name, "rows": 10})
    assert error["errorType"] == "InvalidSeedRequest" and message in error["errorMessage"], error
    assert victims_objects(stack) == []


def test_a_stale_caller_sending_bucket_and_prefix_through_the_state_machine_is_refused(stack):
    """The caller's input is only `$`, checked by the validation function: a location in it is an
    unknown field, refused in the first state."""
    name = f"{PREFIX}--stale-caller"
    described = start_and_wait(stack, name, {"rows": 10, "bucket": stack["bucketName"], "prefix": f"runs/{VICTIM}/"})
    assert described["status"] == "FAILED" and described["error"] == "InvalidExecutionInput"
    assert "unknown field 'bucket'" in described["cause"]
    assert objects(stack, f"runs/{name}/") == {} and victims_objects(stack) == []
    assert no_job_started(stack, name)


def test_nothing_is_added_to_a_run_that_holds_data(stack):
    """Anyone allowed to invoke the function, naming a run that has its data: refused before
    writing, the run's objects as they were."""
    name = f"{PREFIX}--planted-after"
    described = start_and_wait(stack, name, {"rows": 50})
    assert described["status"] == "SUCCEEDED", described.get("cause")
    before = objects(stack, f"runs/{name}/")
    error = invoke_seeding(stack, {"executionName": name, "rows": 30, "seed": 1})
    assert error["errorType"] == "RunExists" and f"runs/{name}/ exists already" in error["errorMessage"]
    assert objects(stack, f"runs/{name}/") == before


def test_a_run_whose_prefix_holds_a_planted_object_is_refused_before_writing_and_training(stack):
    """A shard under runs/<name>/csv/train/ before the run starts (the training channel would read
    it): the run fails with RunExists in Generate dataset, writes nothing, starts no job."""
    name = f"{PREFIX}--planted-before"
    planted = {f"runs/{name}/csv/train/part-00002.csv": b"1,99,99\n" * 1000}
    s3 = boto3.client("s3", region_name=stack["region"])
    for key, body in planted.items():
        s3.put_object(Bucket=stack["bucketName"], Key=key, Body=body)
    described = start_and_wait(stack, name, {"rows": 50})
    assert described["status"] == "FAILED" and described["error"] == "RunExists", described.get("cause")
    assert states_entered(stack, described["executionArn"])[-2:] == ["Generate dataset", "Pipeline failed"]
    assert objects(stack, f"runs/{name}/") == planted
    assert no_job_started(stack, name)


@pytest.mark.parametrize(
    "event, message",
    [
        ({"rows": 400, "shards": 400}, "shards must be the stack's 1 (one per training instance), got 400"),
        ({"rows": 10, "test_rows": 10**12}, "test_rows must be an integer from 1 to 20,000,000"),
        ({"rows": 1_000_000_001}, "rows must be an integer from 1 to 1,000,000,000"),
    ],
)
def test_a_direct_invoker_gets_the_validators_bounds(stack, event, message):
    """The first state bounds rows (MAX_ROWS) and sends the stack's shard count: invoked directly,
    the function applies the same bounds (its environment carries the shard count)."""
    name = f"{PREFIX}--victim-bounds"
    error = invoke_seeding(stack, {"executionName": name, "seed": 1, **event})
    assert error["errorType"] == "InvalidSeedRequest" and message in error["errorMessage"], error
    assert objects(stack, f"runs/{name}/") == {}
