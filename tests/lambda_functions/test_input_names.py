"""Issue 18, findings 1, 7, 8 and 10: execution names SageMaker would refuse or read as another's,
causes that echo what the caller wrote, and failures of the first state itself: all refused in the
first state, before anything is written."""

from __future__ import annotations

import json

import boto3
import pytest
from dev_stack import PREFIX
from emulated_execution import start_and_wait, states_entered

from components.definition import FAILED_STATE, REFUSED_STATE, VALIDATE_STATE, build_definition
from components.settings import load_stack_settings
from lambda_src import execution_input
from lambda_src.execution_input import InvalidExecutionInput, check_execution_name, handle
from runner.execution import new_name


def refusal(name) -> str:
    with pytest.raises(InvalidExecutionInput) as error:
        check_execution_name(name, PREFIX)
    return str(error.value)


@pytest.mark.parametrize("length", [64, 70, 80])
def test_names_longer_than_sagemakers_63_are_refused_with_their_length(length):
    name = f"{PREFIX}--" + "a" * (length - len(PREFIX) - 2)
    message = refusal(name)
    assert "is not a valid SageMaker job name: use 1-63" in message and f"({length} characters)" in message
    assert check_execution_name(name[:63], PREFIX) == name[:63]


@pytest.mark.parametrize("name", [f"{PREFIX}--nl\n", f"{PREFIX}--a" + "-" * 60 + "b"])
def test_a_trailing_newline_and_runs_of_hyphens_past_63_are_refused(name):
    assert "is not a valid SageMaker job name" in refusal(name)


def test_upper_case_is_refused_as_the_same_job_in_lower_case():
    assert refusal(f"{PREFIX}--BASELINE") == (
        f"execution name '{PREFIX}--BASELINE': upper-case letters are refused (SageMaker lower-cases names in "
        f"ARNs and compares job names case-insensitively, so it is the job '{PREFIX}--baseline'): "
        f"use '{PREFIX}--baseline'"
    )


def test_upper_case_in_the_prefix_gets_the_same_hint():
    name = PREFIX.capitalize() + "--run"
    assert "upper-case letters are refused" in refusal(name) and f"use '{PREFIX}--run'" in refusal(name)


def test_run_py_generated_names_stay_valid_for_the_longest_prefix():
    prefix = "p" * execution_input.MAX_PREFIX_LENGTH
    name = new_name(prefix)
    assert len(name) == 63 and check_execution_name(name, prefix) == name


DEFAULTS = load_stack_settings("dev").run_defaults


def handled(execution_input_value, name=f"{PREFIX}--x") -> str:
    with pytest.raises(InvalidExecutionInput) as error:
        handle(
            {
                "input": execution_input_value,
                "executionName": name,
                "jobNamePrefix": PREFIX,
                "defaults": DEFAULTS,
                "bucket": "bucket",
            }
        )
    return str(error.value)


@pytest.mark.parametrize(
    "execution_input_value",
    [{"k" * 200_000: 1}, {"data": {"k" * 200_000: 1}}, {"hyperparameters": {"k" * 200_000: None}}],
)
def test_a_huge_field_name_is_echoed_short_with_its_length(execution_input_value):
    message = handled(execution_input_value)
    assert "k" * 64 in message and "k" * 65 not in message
    assert "(200,000 characters)" in message and len(message) < 300


def test_every_cause_is_cut_far_below_lambdas_limit(monkeypatch):
    def refuse(*args, **kwargs):
        raise InvalidExecutionInput("x" * 100_000)

    monkeypatch.setattr(execution_input, "validate_execution", refuse)
    message = handled({})
    assert len(message) <= execution_input.MAX_CAUSE and message.endswith("(cut from 100,000 characters)")


def test_input_nested_too_deep_to_check_is_refused():
    deep = []
    for _ in range(100_000):
        deep = [deep]
    assert handled({"hyperparameters": {"x": deep}}).startswith("execution input: nested too deeply to check")


def test_a_bug_in_the_rules_is_a_refusal_not_a_traceback(monkeypatch):
    def broken(*args, **kwargs):
        raise TypeError("unsupported operand")

    monkeypatch.setattr(execution_input.hyperparameter_rules, "validate", broken)
    assert handled({}) == (
        "execution input could not be checked (TypeError: unsupported operand): "
        "fix the input, or report this if it is valid"
    )


def test_an_input_the_lambda_runtime_cannot_parse_ends_refused():
    """The Lambda runtime refuses a 5,000-digit integer before the handler runs (Runtime.UnmarshalError):
    the input's fault, so a refusal; the first state's other failures are the platform's."""
    states = build_definition(
        load_stack_settings("dev"),
        partition="aws",
        bucket="b",
        validation_function_arn="arn:v",
        seed_function_arn="arn:f",
        sagemaker_role_arn="arn:r",
        evaluation_function_arn="arn:e",
    )["States"]
    catches = {tuple(catch["ErrorEquals"]): catch["Next"] for catch in states[VALIDATE_STATE]["Catch"]}
    assert catches[("States.ALL",)] == FAILED_STATE  # not the input's fault
    unreadable = states[catches[("Runtime.UnmarshalError",)]]
    assert unreadable["Next"] == REFUSED_STATE and "$.Error" in unreadable["Parameters"]["cause"]["errorMessage.$"]


# --- through the deployed state machine, started directly ------------------------------------------


def execute(outputs, name: str, payload: str) -> dict:
    described = start_and_wait(outputs, name, payload)
    described["entered"] = states_entered(outputs, described["executionArn"])
    return described


@pytest.mark.parametrize(
    "name, payload, cause",
    [
        (
            f"{PREFIX}--" + "a" * (64 - len(PREFIX) - 2),
            '{"rows": 10}',
            "(64 characters) is not a valid SageMaker job name",
        ),
        (
            f"{PREFIX}--" + "b" * (80 - len(PREFIX) - 2),
            '{"rows": 10}',
            "(80 characters) is not a valid SageMaker job name",
        ),
        (f"{PREFIX}--" + "c" + "-" * 60 + "d", '{"rows": 10}', "is not a valid SageMaker job name"),
        (f"{PREFIX}--nl\n", '{"rows": 10}', "is not a valid SageMaker job name"),
        (f"{PREFIX}--BASELINE", '{"rows": 10}', "upper-case letters are refused"),
        (f"{PREFIX}--long-key", json.dumps({"k" * 200_000: 1}), "unknown field 'kkkk"),
    ],
)
def test_refused_by_the_first_state_with_nothing_written_and_no_job(stack, name, payload, cause):
    described = execute(stack, name, payload)
    assert described["status"] == "FAILED" and described["error"] == "InvalidExecutionInput"
    assert described["entered"] == ["Validate input", "Read refusal", "Execution input refused"]
    assert cause in described["cause"] and len(described["cause"]) < 500, described["cause"][:500]
    s3 = boto3.client("s3", region_name=stack["region"])
    assert s3.list_objects_v2(Bucket=stack["bucketName"], Prefix=f"runs/{name}/")["KeyCount"] == 0
    sagemaker = boto3.client("sagemaker", region_name=stack["region"])
    assert not sagemaker.list_training_jobs(NameContains=name[:60])["TrainingJobSummaries"]


# --- finding 3: generated rows must fit the training instances --------------------------------------


def request_rows(rows, **training):
    volume = training.pop("volume", 30)
    return execution_input.validate_execution(
        {"rows": rows},
        execution_name=f"{PREFIX}--x",
        job_name_prefix=PREFIX,
        defaults={
            **DEFAULTS,
            "volumeSizeGb": volume,
            "shards": training.get("instance_count", 1),
            "training": {**DEFAULTS["training"], **training},
        },
    )


def test_rows_beyond_the_instances_memory_are_refused_naming_the_limit():
    limit = 16 * 2**30 // 130  # ml.m5.xlarge: 16 GiB
    assert request_rows(limit)["rows"] == limit
    with pytest.raises(
        InvalidExecutionInput, match=rf"rows: {limit + 1:,} do not fit in memory: .* at most {limit:,} rows"
    ):
        request_rows(limit + 1)
    assert request_rows(2 * limit, instance_count=2)["rows"] == 2 * limit  # the rows are sharded


def test_rows_beyond_the_training_volume_are_refused_naming_volume_size():
    limit = int(2**30 // 7.8)  # ml.m5.4xlarge's 64 GiB hold more
    with pytest.raises(
        InvalidExecutionInput,
        match=rf"do not fit on the training volumes: .*volumeSizeGb is 1 .* at most {limit:,} rows",
    ):
        request_rows(limit + 1, instance_type="ml.m5.4xlarge", volume=1)
    assert request_rows(limit, instance_type="ml.m5.4xlarge", volume=1)["rows"] == limit


def test_a_stack_whose_default_rows_do_not_fit_fails_at_pulumi_up():
    from components.settings import PipelineSettings, SettingsError

    config = {"rows": 200_000_000, "trainingInstanceType": "ml.m5.xlarge"}
    with pytest.raises(SettingsError, match="rows: 200,000,000 do not fit in memory"):
        PipelineSettings.from_config(lambda key: config.get(key), stack="dev", region="us-west-2")


def test_rows_the_instances_cannot_hold_are_refused_by_the_state_machine(stack):
    name = f"{PREFIX}--too-many-rows"
    described = execute(stack, name, json.dumps({"rows": 1_000_000_000}))
    assert described["status"] == "FAILED" and described["error"] == "InvalidExecutionInput"
    assert "rows: 1,000,000,000 do not fit in memory" in described["cause"]
    s3 = boto3.client("s3", region_name=stack["region"])
    assert s3.list_objects_v2(Bucket=stack["bucketName"], Prefix=f"runs/{name}/")["KeyCount"] == 0


@pytest.mark.parametrize("name", [f"{PREFIX}--" + "a" * 55, f"{PREFIX}--nl\n"])
def test_run_py_and_the_emulators_sagemaker_check_names_as_sagemaker_does(name):
    from moto.sagemaker.exceptions import ValidationError

    from runner.emulator.sagemaker.jobs import _check_name
    from runner.errors import UsageError
    from runner.execution import check_name

    with pytest.raises(UsageError, match="invalid execution name"):
        check_name(name)
    with pytest.raises(ValidationError):
        _check_name(name, "trainingJobName")
