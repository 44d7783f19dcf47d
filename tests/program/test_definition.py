"""The state machine renderer (components.definition), without Pulumi.

Structure, the run-scoped S3 layout, input overrides executed by moto's ASL interpreter,
the SageMaker parameters against botocore's API model, retries, and byte-stable JSON.
"""

from __future__ import annotations

import copy
import io
import json
import re
import time
import zipfile

import pytest
from definition_target import BUCKET, DEFAULT_HYPERPARAMETERS, FUNCTION_ARN, TARGET, VALIDATION_ARN, substitute
from dev_stack import PREFIX  # noqa: E402

from components.definition import (  # noqa: E402
    EVALUATE_STATE,
    FAILED_STATE,
    GATE_FAILED_STATE,
    GATE_STATE,
    PREPARE_STATE,
    REFUSED_STATE,
    REGISTER_STATE,
    SAVE_STATE,
    STATE_NAMES,
    STOP_TRAINING_STATE,
    STOP_TRANSFORM_STATE,
    TRAIN_STATE,
    TRANSFORM_STATE,
    VALIDATE_STATE,
    build_definition,
    render_definition,
)
from components.settings import PipelineSettings

SAGEMAKER_TASKS = {
    "Train model (XGBoost)": "CreateTrainingJob",
    "Save Model": "CreateModel",
    "Batch transform": "CreateTransformJob",
}


def settings_with(**config) -> PipelineSettings:
    return PipelineSettings.from_config(config.get, stack="dev", region="us-west-2")


@pytest.fixture(scope="module")
def settings() -> PipelineSettings:
    return settings_with()


@pytest.fixture(scope="module")
def definition(settings) -> dict:
    return build_definition(settings, **TARGET)


def happy_path(definition: dict) -> list[str]:
    """State names from StartAt along Next (a Choice's first rule, the gate's passing Default), to the end."""
    names, name = [], definition["StartAt"]
    while name is not None:
        assert name not in names, f"loop at {name}"
        names.append(name)
        state = definition["States"][name]
        if state["Type"] == "Choice":  # which dataset: generated; the quality gate: passed
            name = state["Default"] if name == GATE_STATE else state["Choices"][0]["Next"]
        else:
            name = state.get("Next")
        if name is None:
            assert state.get("End") is True or state["Type"] in ("Succeed", "Fail")
    return names


def walk(value, path=()):
    """Every (path, key, value) of a JSON document."""
    if isinstance(value, dict):
        for key, child in value.items():
            yield path, key, child
            yield from walk(child, path + (key,))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from walk(child, path + (index,))


# --- structure -------------------------------------------------------------------------------


def test_seed_states_in_order(definition):
    path = happy_path(definition)
    assert [name for name in path if name in STATE_NAMES] == list(STATE_NAMES)
    tasks = [name for name in path if definition["States"][name]["Type"] == "Task"]
    assert tasks == [VALIDATE_STATE, *STATE_NAMES, EVALUATE_STATE, REGISTER_STATE]
    assert definition["StartAt"] == VALIDATE_STATE
    assert definition["States"][path[-1]].get("End") is True and path[-1] == REGISTER_STATE


def test_every_written_path_is_under_the_execution(definition):
    """S3 locations are States.Format('s3://<bucket>/runs/{}/...', $$.Execution.Name); no fixed keys."""
    run_uri = re.compile(
        r"^States\.Format\('s3://" + re.escape(BUCKET) + r"/runs/\{\}/[\w/.-]*', \$\$\.Execution\.Name\)$"
    )
    written = []
    for _, key, value in walk(definition["States"]):
        if isinstance(value, str) and "s3://" in value:
            assert key.endswith(".$") and run_uri.match(value), (key, value)
        if key in ("S3OutputPath", "S3Uri", "ModelDataUrl", "prefix"):
            pytest.fail(f"{key} is a fixed value; it must be built per execution")
        if key in ("S3OutputPath.$", "prefix.$"):
            written.append(value)
    for state in ("Generate dataset", PREPARE_STATE):  # either writes the dataset, under runs/<name>/
        seed = definition["States"][state]
        assert seed["Resource"] == FUNCTION_ARN
        # The function derives its bucket and prefix itself: the event names the execution only.
        assert seed["Parameters"]["executionName.$"] == "$$.Execution.Name"
        assert not {"bucket", "prefix", "prefix.$"} & set(seed["Parameters"])
    assert len(written) == 2  # the model artifacts, the predictions
    assert len(set(written)) == 2


def test_the_input_is_validated_by_its_own_function_and_passed_as_dollar_only(definition):
    validate = definition["States"][VALIDATE_STATE]
    assert validate["Resource"] == VALIDATION_ARN
    caller = {key: value for key, value in validate["Parameters"].items() if key.endswith(".$")}
    assert caller == {"input.$": "$", "executionName.$": "$$.Execution.Name"}


def test_jobs_and_models_are_named_after_the_execution(definition):
    states = definition["States"]
    assert states["Train model (XGBoost)"]["Parameters"]["TrainingJobName.$"] == "$$.Execution.Name"
    assert states["Save Model"]["Parameters"]["ModelName.$"] == "$$.Execution.Name"
    assert states["Batch transform"]["Parameters"]["TransformJobName.$"] == "$$.Execution.Name"
    assert states["Batch transform"]["Parameters"]["ModelName.$"] == "$$.Execution.Name"


@pytest.mark.parametrize("count", [1, 3])
def test_shards_follow_the_training_instance_count(count):
    definition = build_definition(settings_with(trainingInstanceCount=count), **TARGET)
    assert definition["States"]["Generate dataset"]["Parameters"]["shards"] == count
    train = definition["States"]["Train model (XGBoost)"]["Parameters"]
    assert train["ResourceConfig"]["InstanceCount"] == count
    source = train["InputDataConfig"][0]["DataSource"]["S3DataSource"]
    assert source["S3DataDistributionType"] == "ShardedByS3Key" and source["S3DataType"] == "S3Prefix"


def test_retries_name_the_errors_step_functions_reports(definition):
    states = definition["States"]
    for name in (VALIDATE_STATE, "Generate dataset"):
        [seed_retry] = states[name]["Retry"]
        assert "Lambda.ServiceException" in seed_retry["ErrorEquals"]
    for name in ("Train model (XGBoost)", "Save Model", "Batch transform"):
        [retry] = states[name]["Retry"]
        assert retry["ErrorEquals"] == ["SageMaker.AmazonSageMakerException"], name
        assert retry["MaxAttempts"] <= 2  # it also covers validation errors: keep futile retries short


def test_retries_only_transient_errors(definition):
    for name, state in definition["States"].items():
        for retrier in state.get("Retry", []):
            assert not {"States.ALL", "States.TaskFailed"} & set(retrier["ErrorEquals"]), name
            assert isinstance(retrier["BackoffRate"], float)
        if state["Type"] == "Task":
            assert state["Retry"] and state["Catch"], name


def test_compact_deterministic_json(settings):
    first = render_definition(settings, **TARGET)
    again = render_definition(settings_with(), **TARGET)
    assert first == again
    assert first == json.dumps(json.loads(first), separators=(",", ":"), sort_keys=True)
    assert "\n" not in first


def test_statelint(settings):
    from statelint.config import Config
    from statelint.linter import Linter

    text = render_definition(settings, **TARGET)
    assert Linter.validate(text, Config([], False, False)) == []


# --- SageMaker parameters against botocore's model ---------------------------------------------


@pytest.mark.parametrize("state,operation", sorted(SAGEMAKER_TASKS.items()))
def test_sagemaker_parameters_match_the_api(definition, state, operation):
    import botocore.session
    from botocore.validate import ParamValidator

    model = botocore.session.get_session().get_service_model("sagemaker")
    params = substitute(definition["States"][state]["Parameters"])
    report = ParamValidator().validate(params, model.operation_model(operation).input_shape)
    assert not report.has_errors(), report.generate_report()
    resource = definition["States"][state]["Resource"]
    verb = operation[0].lower() + operation[1:]
    assert resource in (f"arn:aws:states:::sagemaker:{verb}", f"arn:aws:states:::sagemaker:{verb}.sync")


def test_training_image_is_resolved_for_the_region():
    for region, image in (
        ("us-west-2", "246618743249.dkr.ecr.us-west-2.amazonaws.com/sagemaker-xgboost:3.2-0"),
        ("us-east-1", "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:3.2-0"),
    ):
        settings = PipelineSettings.from_config(lambda key: None, stack="dev", region=region)
        definition = build_definition(settings, **TARGET)
        states = definition["States"]
        assert states["Train model (XGBoost)"]["Parameters"]["AlgorithmSpecification"]["TrainingImage"] == image
        assert states["Save Model"]["Parameters"]["PrimaryContainer"]["Image"] == image


# --- partitions ----------------------------------------------------------------------------------


@pytest.mark.parametrize("partition", ["aws", "aws-cn", "aws-us-gov"])
def test_integration_arns_carry_the_partition(settings, partition):
    """`arn:aws:states:::...` in aws-cn or aws-us-gov fails every execution with States.Runtime."""
    definition = build_definition(settings, **{**TARGET, "partition": partition})
    resources = [state["Resource"] for state in definition["States"].values() if "Resource" in state]
    integrations = [arn for arn in resources if arn.split(":")[2] == "states"]
    assert len(integrations) == 6  # 3 SageMaker jobs and models, 2 stops, the registration
    assert all(
        arn.startswith((f"arn:{partition}:states:::sagemaker:", f"arn:{partition}:states:::aws-sdk:sagemaker:"))
        for arn in integrations
    )


# --- timeouts: a SageMaker state that times out stops its job ----------------------------------------


@pytest.mark.parametrize(
    "config, training_timeout",
    [
        ({}, 3600 + 3600),  # maxRuntimeSeconds + an hour
        ({"spotTraining": True, "maxWaitSeconds": 9000}, 9000 + 3600),  # a spot job's bound is MaxWaitTimeInSeconds
    ],
)
def test_sagemaker_states_time_out_after_their_bound(config, training_timeout):
    states = build_definition(settings_with(**config, transformTimeoutSeconds=5400), **TARGET)["States"]
    assert states["Train model (XGBoost)"]["TimeoutSeconds"] == training_timeout
    assert states["Batch transform"]["TimeoutSeconds"] == 5400
    # .sync tasks get no heartbeats (those are for activities and task tokens): no HeartbeatSeconds
    assert not any("HeartbeatSeconds" in state for state in states.values())
    assert "TimeoutSeconds" not in states["Save Model"]  # a request-response call


@pytest.mark.parametrize(
    "state, stop_state, operation",
    [
        ("Train model (XGBoost)", "Stop training job", "StopTrainingJob"),
        ("Batch transform", "Stop transform job", "StopTransformJob"),
    ],
)
def test_a_failure_or_timeout_stops_the_job_then_fails_the_pipeline_with_its_error(
    definition, state, stop_state, operation
):
    import botocore.session
    from botocore.validate import ParamValidator

    states = definition["States"]
    # Every failure of the job's state goes through the stop, which then fails the pipeline.
    assert states[state]["Catch"] == [{"ErrorEquals": ["States.ALL"], "ResultPath": "$", "Next": stop_state}]
    assert states[stop_state]["Next"] == FAILED_STATE
    stop = states[stop_state]
    verb = operation[0].lower() + operation[1:]
    assert stop["Resource"] == f"arn:aws:states:::aws-sdk:sagemaker:{verb}"
    model = botocore.session.get_session().get_service_model("sagemaker")
    report = ParamValidator().validate(substitute(stop["Parameters"]), model.operation_model(operation).input_shape)
    assert not report.has_errors(), report.generate_report()
    # the timeout ({Error, Cause}) goes on to Pipeline failed whether the stop succeeds or not
    assert stop["ResultPath"] is None and stop["Next"] == FAILED_STATE
    assert stop["Catch"] == [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.stopError", "Next": FAILED_STATE}]
    [retry] = stop["Retry"]
    assert retry["ErrorEquals"] == ["SageMaker.SageMakerException"] and retry["MaxAttempts"] <= 2


# --- the untrusted input: validated first, then dropped ---------------------------------------------


def test_input_goes_only_to_the_validation_step(definition):
    """Only the validation step reads `$` as given; every later state reads what it returned."""
    validate = definition["States"][VALIDATE_STATE]
    assert validate["Parameters"]["input.$"] == "$"
    assert validate["ResultPath"] == "$" and validate["ResultSelector"] == {"run.$": "$"}
    for name in STATE_NAMES:
        for _, key, value in walk(definition["States"][name]["Parameters"]):
            if key.endswith(".$") and value.startswith("$."):
                assert value.split(".")[1] in ("run", "dataset", "training"), (name, key, value)


def _caught_by(state: dict, error: str) -> str:
    """The state a Task's Catch sends `error` to (the first catcher naming it, or States.ALL)."""
    return next(
        catch["Next"]
        for catch in state["Catch"]
        if error in catch["ErrorEquals"] or "States.ALL" in catch["ErrorEquals"]
    )


def _ends_in(definition: dict, state: str) -> str:
    while definition["States"][state]["Type"] != "Fail":
        state = definition["States"][state]["Next"]
    return state


def test_only_bad_input_is_reported_as_bad_input(definition):
    """The validation function's own refusal, and an input its runtime cannot parse, end as
    InvalidExecutionInput; a timeout or out-of-memory (Lambda.Unknown, or the runtime's
    Sandbox.Timedout), Lambda's service errors and a function that cannot start are the platform's:
    `Pipeline failed`, under their own names (ErrorPath $.Error)."""
    validate = definition["States"][VALIDATE_STATE]
    for error in ("InvalidExecutionInput", "Runtime.UnmarshalError"):
        assert _ends_in(definition, _caught_by(validate, error)) == REFUSED_STATE, error
    for error in (
        "Lambda.Unknown",
        "Sandbox.Timedout",
        "States.Timeout",
        "Lambda.ClientExecutionTimeoutException",
        "Lambda.ServiceException",
        "Lambda.AWSLambdaException",
        "Lambda.SdkClientException",
        "Lambda.TooManyRequestsException",
        "Runtime.ImportModuleError",
        "KeyError",
    ):
        assert _caught_by(validate, error) == FAILED_STATE, error
    assert definition["States"][FAILED_STATE]["ErrorPath"] == "$.Error"
    assert definition["States"][REFUSED_STATE]["Error"] == "InvalidExecutionInput"


def test_lambda_states_retry_what_the_step_functions_guide_retries(definition):
    """ "Handle Lambda service exceptions" (Step Functions developer guide): retry
    ClientExecutionTimeoutException, ServiceException, AWSLambdaException, SdkClientException;
    TooManyRequestsException is Lambda's throttling. Not Lambda.Unknown: a timeout would recur."""
    for name in (VALIDATE_STATE, "Generate dataset", "Prepare dataset"):
        [retry] = definition["States"][name]["Retry"]
        assert set(retry["ErrorEquals"]) == {
            "Lambda.ClientExecutionTimeoutException",
            "Lambda.ServiceException",
            "Lambda.AWSLambdaException",
            "Lambda.SdkClientException",
            "Lambda.TooManyRequestsException",
        }, name
        assert retry["IntervalSeconds"] == 2 and retry["BackoffRate"] == 2.0


def test_network_isolation(definition):
    states = definition["States"]
    assert states["Train model (XGBoost)"]["Parameters"]["EnableNetworkIsolation"] is True
    assert states["Save Model"]["Parameters"]["EnableNetworkIsolation"] is True


# --- the data flow, executed by moto's ASL interpreter ---------------------------------------------


def without_sagemaker(definition: dict) -> dict:
    """The definition with the training task as a Pass state that outputs its request and ends.

    moto's interpreter refuses SageMaker `.sync`; a Pass state evaluates the same Parameters
    (JSONPath, intrinsic functions, context object), which is what these tests look at.
    """
    changed = copy.deepcopy(definition)
    train = changed["States"][TRAIN_STATE]
    changed["States"][TRAIN_STATE] = {
        "Type": "Pass",
        "Parameters": train["Parameters"],
        "ResultPath": "$.trainingRequest",
        "End": True,
    }
    for name in (
        SAVE_STATE,
        TRANSFORM_STATE,
        STOP_TRAINING_STATE,
        STOP_TRANSFORM_STATE,
        EVALUATE_STATE,
        GATE_STATE,
        GATE_FAILED_STATE,
        REGISTER_STATE,
    ):
        del changed["States"][name]
    return changed


@pytest.fixture(scope="module")
def interpreter(settings):
    """A moto account with a stub seeding function (replays queued results) and the state machine."""
    import boto3
    from moto import mock_aws

    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}):
        iam = boto3.client("iam", region_name="us-west-2")
        role = iam.create_role(RoleName="pipeline", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        code = io.BytesIO()
        with zipfile.ZipFile(code, "w") as archive:
            archive.writestr("seed_dataset.py", "def handler(event, context):\n    return event\n")
        function_arn = boto3.client("lambda", region_name="us-west-2").create_function(
            FunctionName="seed",
            Runtime="python3.13",
            Role=role,
            Handler="seed_dataset.handler",
            Code={"ZipFile": code.getvalue()},
        )["FunctionArn"]
        client = boto3.client("stepfunctions", region_name="us-west-2")
        full = build_definition(
            settings,
            **{
                **TARGET,
                "validation_function_arn": function_arn,
                "seed_function_arn": function_arn,
                "sagemaker_role_arn": role,
            },
        )
        machine = client.create_state_machine(
            name="no-sagemaker", definition=json.dumps(without_sagemaker(full)), roleArn=role
        )["stateMachineArn"]
        yield client, machine


def execute(client, machine_arn: str, name: str, payload, lambda_results: list[dict]) -> dict:
    """Run one execution to its end, the Lambda answering `lambda_results` in turn."""
    from moto.awslambda_simple.models import lambda_simple_backends
    from moto.core import DEFAULT_ACCOUNT_ID

    queue = lambda_simple_backends[DEFAULT_ACCOUNT_ID]["us-west-2"].lambda_simple_results_queue
    queue.extend(json.dumps(result) for result in lambda_results)
    arn = client.start_execution(stateMachineArn=machine_arn, name=name, input=json.dumps(payload))["executionArn"]
    deadline = time.monotonic() + 10
    while (description := client.describe_execution(executionArn=arn))["status"] == "RUNNING":
        assert time.monotonic() < deadline, "execution did not finish"
        time.sleep(0.02)
    events = client.get_execution_history(executionArn=arn)["events"]
    return {"description": description, "events": events}


def lambda_inputs(run: dict) -> list[dict]:
    return [
        json.loads(event["lambdaFunctionScheduledEventDetails"]["input"])
        for event in run["events"]
        if event["type"] == "LambdaFunctionScheduled"
    ]


def test_validated_request_drives_every_later_state(interpreter):
    client, machine = interpreter
    name = f"{PREFIX}--flow-1"
    payload = {"rows": 10, "hyperparameters": {"num_round": 9}, "extra": "ignored by the stub"}
    request = {"rows": 10, "seed": 7, "hyperparameters": {**DEFAULT_HYPERPARAMETERS, "num_round": "9"}, "data": None}
    dataset = {
        "train_uri": f"s3://{BUCKET}/runs/{name}/csv/train/",
        "validation_uri": f"s3://{BUCKET}/runs/{name}/csv/validation/",
        "test_uri": f"s3://{BUCKET}/runs/{name}/csv/test/",
    }
    run = execute(client, machine, name, payload, [request, dataset])
    assert run["description"]["status"] == "SUCCEEDED", run["description"]
    validate, seed = lambda_inputs(run)
    assert validate == {
        "executionName": name,
        "input": payload,
        "jobNamePrefix": PREFIX,
        "defaults": {
            "rows": 5000,
            "hyperparameters": DEFAULT_HYPERPARAMETERS,
            "shards": 1,
            "dataSources": [],
            "volumeSizeGb": 30,
            "qualityGate": "",
            "training": {
                "image_version": "3.2-0",
                "instance_type": "ml.m5.xlarge",
                "instance_count": 1,
                "max_runtime_seconds": 3600,
            },
        },
        "bucket": BUCKET,
    }
    assert seed == {"executionName": name, "rows": 10, "seed": 7, "shards": 1}
    output = json.loads(run["description"]["output"])
    assert "extra" not in output and "hyperparameters" not in output  # the raw input is gone
    assert output["run"] == request
    training = output["trainingRequest"]
    assert training["HyperParameters"] == request["hyperparameters"]
    assert training["TrainingJobName"] == name
    assert training["OutputDataConfig"]["S3OutputPath"] == f"s3://{BUCKET}/runs/{name}/model"
    assert [
        (channel["ChannelName"], channel["DataSource"]["S3DataSource"]["S3Uri"])
        for channel in training["InputDataConfig"]
    ] == [("train", dataset["train_uri"]), ("validation", dataset["validation_uri"])]
    assert {"Key": "training-pipeline:execution", "Value": name} in training["Tags"]


def test_data_in_the_request_goes_to_prepare_not_generate(interpreter):
    """The Choice after validation: a checked `data` object sends the run to Prepare dataset,
    which gets the checked data, seed, hyperparameters and shards; Generate never runs."""
    client, machine = interpreter
    name = f"{PREFIX}--flow-data"
    data = {
        "kind": "s3",
        "uri": "s3://sources/iris.csv",
        "label": "species",
        "test": None,
        "split": {"validation": 0.1, "test": 0.2},
    }
    request = {"rows": 5000, "seed": 3, "hyperparameters": DEFAULT_HYPERPARAMETERS, "data": data}
    dataset = {
        "train_uri": f"s3://{BUCKET}/runs/{name}/csv/train/",
        "validation_uri": f"s3://{BUCKET}/runs/{name}/csv/validation/",
        "test_uri": f"s3://{BUCKET}/runs/{name}/csv/test/",
    }
    run = execute(client, machine, name, {"data": {"uri": data["uri"]}}, [request, dataset])
    assert run["description"]["status"] == "SUCCEEDED", run["description"]
    entered = [
        event["stateEnteredEventDetails"]["name"] for event in run["events"] if event["type"].endswith("StateEntered")
    ]
    assert PREPARE_STATE in entered and "Generate dataset" not in entered
    _, prepare = lambda_inputs(run)
    assert prepare == {
        "action": "prepare",
        "executionName": name,
        "data": data,
        "seed": 3,
        "hyperparameters": DEFAULT_HYPERPARAMETERS,
        "shards": 1,
    }
