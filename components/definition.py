"""The state machine definition, rendered from plain values (no Pulumi here).

The component calls `render_definition` inside `Output.all(...).apply(...)`. One renderer.

Data flow of an execution (all keys below are the state's JSON):

    input {rows?, seed?, hyperparameters?, data?}  untrusted: whoever may StartExecution wrote it
      -> Validate input         the validation function (no S3 rights) checks name and input
                                (execution_input.py) against the stack's rules; its result
                                replaces the input: {run: {rows, seed, hyperparameters, data}}
      -> Which dataset          run.data null: Generate dataset, else Prepare dataset
      -> Generate dataset       + dataset: the seeding function's result (URIs, row counts, seed)
         or Prepare dataset     + dataset: the same record, from the user's CSV in S3
      -> Train model (XGBoost)  + training: {jobName, modelDataUrl}; channels train and validation;
                                with spotTraining, checkpoints under runs/<execution name>/checkpoints/
      -> Save Model             + model: {modelArn}
      -> Batch transform        + transform: {jobName, outputPath}
      -> Evaluate model         + evaluation: the evaluation function's result (lambda_src/evaluation.py):
                                {objective, kind, rows, metrics, undefined, evaluationUri, gate:
                                {passed, message, ...}}; it writes runs/<name>/evaluation/evaluation.json
      -> Quality gate           gate.passed false: `Quality gate failed` (error QualityGateFailed, the
                                cause names the metric, its value and the gate); nothing is registered
      -> Register model         + registration: {modelPackageArn}: a version in the stack's model
                                package group (AWS SDK integration: no optimized CreateModelPackage)

Each SageMaker job state has a TimeoutSeconds (training: the job's own bound plus an hour;
transform: transformTimeoutSeconds); a timeout (States.Timeout), like any other error of those
states, enters `Stop training job` or `Stop transform job`, which stops the job, then
`Pipeline failed` with the state's error.

A refused input ends in `Execution input refused` (error InvalidExecutionInput, the cause
names the field) before anything is written: the validation function's own refusal, or an input
the Lambda runtime cannot even parse (Runtime.UnmarshalError). Any other failure of the first
state (a function timeout or out-of-memory, Lambda.Unknown; Lambda's service errors once retried;
a function that cannot start) is the platform's, not the input's: it ends in `Pipeline failed`
with the original error and cause, as does any failure of a later state. Everything an execution
writes lives under `runs/<execution name>/`.

What each Lambda state sends: the caller's input is only ever `$`, handed to the validation
function. Its other Parameters (jobNamePrefix, defaults, bucket) are the stack's, rendered
here: they say which rules apply, and its result is trusted only because the state machine
asked. The seeding function is sent the execution name, not a bucket or prefix: it writes to
its own configured bucket under `runs/<executionName>/`, after checking the name by the same
rules, so invoking it directly cannot write under another stack, nor add to a run that
already holds data (what it can still do to a pending run's upload: docs/security.md).
"""

from __future__ import annotations

import json
from typing import Any

from components.settings import PipelineSettings
from lambda_src import bucket_layout
from lambda_src.execution_input import InvalidExecutionInput

# The states' names: the sample's four (GENERATE_STATE ... TRANSFORM_STATE), then ours. run.py
# and the rehearsal find states by these names, never by position or by a word in them.
GENERATE_STATE = "Generate dataset"
TRAIN_STATE = "Train model (XGBoost)"
SAVE_STATE = "Save Model"
TRANSFORM_STATE = "Batch transform"
STATE_NAMES = (GENERATE_STATE, TRAIN_STATE, SAVE_STATE, TRANSFORM_STATE)  # the sample's four, in order
EVALUATE_STATE = "Evaluate model"
GATE_STATE = "Quality gate"
GATE_FAILED_STATE = "Quality gate failed"
GATE_FAILED_ERROR = "QualityGateFailed"
REGISTER_STATE = "Register model"
VALIDATE_STATE = "Validate input"
CHOICE_STATE = "Which dataset"
PREPARE_STATE = "Prepare dataset"
REFUSED_STATE = "Execution input refused"
FAILED_STATE = "Pipeline failed"
# Entered when a SageMaker job state fails or times out: Step Functions documents cancelling a
# .sync job when the execution is stopped, not when a state fails or times out, so the definition stops it.
STOP_TRAINING_STATE = "Stop training job"
STOP_TRANSFORM_STATE = "Stop transform job"
TAG_STACK = "training-pipeline:stack"
TAG_EXECUTION = "training-pipeline:execution"
INVALID_INPUT_ERROR = InvalidExecutionInput.__name__

_EXECUTION_NAME = "$$.Execution.Name"
# Transient failures worth retrying. Job failures (States.TaskFailed) are not: a retried
# CreateTrainingJob would also collide with the job name it already took. Lambda's: the errors the
# Step Functions guide's best practice retries ("Handle Lambda service exceptions"), and the
# throttling error it names on the same page; not Lambda.Unknown (a function timeout or out of memory).
LAMBDA_TRANSIENT = [
    "Lambda.ClientExecutionTimeoutException",
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
]
# The Lambda runtime could not parse the event, made of the caller's input (a 5,000-digit number):
# the input's fault, the one failure besides the function's own refusal that is.
LAMBDA_UNREADABLE_INPUT = ["Runtime.UnmarshalError"]
# Step Functions reports SageMaker's unmodelled API errors (throttling, internal errors, but
# also validation errors) under this one name, with the real code only in the cause; modelled
# ones get their own names (SageMaker.ResourceLimitExceededException, ...), never retried here.
# So throttling is retried, and a validation error costs two short, futile retries.
SAGEMAKER_TRANSIENT = ["SageMaker.AmazonSageMakerException"]
# The AWS SDK integration's name for SageMaker's unmodelled errors (throttling among them).
SAGEMAKER_SDK_TRANSIENT = ["SageMaker.SageMakerException"]


def integration_arn(partition: str, action: str) -> str:
    """An optimized integration's ARN; `arn:aws:` in another partition fails every execution
    with States.Runtime, which no Retry or Catch handles."""
    return f"arn:{partition}:states:::{action}"


def run_uri(bucket: str, suffix: str) -> str:
    """A States.Format expression for `s3://<bucket>/runs/<execution name>/<suffix>`."""
    return f"States.Format('s3://{bucket}/{bucket_layout.RUNS}/{{}}/{suffix}', {_EXECUTION_NAME})"


def _retry(errors: list[str], attempts: int, interval: int) -> list[dict[str, Any]]:
    return [
        {
            "ErrorEquals": errors,
            "IntervalSeconds": interval,
            "MaxAttempts": attempts,
            "BackoffRate": 2.0,
            "JitterStrategy": "FULL",
        }
    ]


# The error ({Error, Cause}) replaces the state's input, which need not even be an object.
_CATCH = [{"ErrorEquals": ["States.ALL"], "ResultPath": "$", "Next": FAILED_STATE}]
_REFUSAL_CAUSE = "Read refusal"
_UNCHECKED_CAUSE = "Input not checked"


def _stopping(stop_state: str) -> list[dict[str, Any]]:
    """A SageMaker job state's Catch: any failure (its own timeout, a retried CreateTransformJob
    whose first call had created the job, ...) stops the job first, then fails the pipeline with
    the state's error. Stopping a job that already ended fails, and that state catches it."""
    return [{"ErrorEquals": ["States.ALL"], "ResultPath": "$", "Next": stop_state}]


def _stop_job(partition: str, action: str, name_key: str) -> dict[str, Any]:
    """Stop the execution's job (AWS SDK integration: Step Functions offers no optimized Stop
    API), keeping the timeout as the state's input for `Pipeline failed`; a failed stop is caught
    there too, the timeout's error and cause still first."""
    return {
        "Type": "Task",
        "Resource": integration_arn(partition, f"aws-sdk:sagemaker:{action}"),
        "Parameters": {f"{name_key}.$": _EXECUTION_NAME},
        "ResultPath": None,
        "Retry": _retry(SAGEMAKER_SDK_TRANSIENT, attempts=2, interval=1),
        "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.stopError", "Next": FAILED_STATE}],
        "Next": FAILED_STATE,
    }


def _tags(stack: str) -> list[dict[str, str]]:
    return [{"Key": TAG_STACK, "Value": stack}, {"Key": TAG_EXECUTION, "Value.$": _EXECUTION_NAME}]


def _spot_parameters(bucket: str) -> dict[str, Any]:
    """Managed spot training; SageMaker syncs the container's checkpoint folder (/opt/ml/checkpoints)
    with the run's checkpoints/ prefix and restores it when a reclaimed job restarts."""
    return {
        "EnableManagedSpotTraining": True,
        "CheckpointConfig": {"S3Uri.$": run_uri(bucket, f"{bucket_layout.CHECKPOINTS}/")},
    }


def model_package_group_name(settings: PipelineSettings) -> str:
    """One model package group per stack, named as its jobs are (a valid, stack-unique name)."""
    return settings.job_name_prefix


def _registration(settings: PipelineSettings, partition: str) -> dict[str, Any]:
    """CreateModelPackage: the image and model artifact, the evaluation as model quality statistics,
    the run's name, data and hyperparameters as metadata (the evaluation function shapes them to
    CustomerMetadataProperties' limits)."""
    return {
        "Type": "Task",
        "Resource": integration_arn(partition, "aws-sdk:sagemaker:createModelPackage"),
        "Parameters": {
            "ModelPackageGroupName": model_package_group_name(settings),
            "ModelPackageDescription.$": "$.evaluation.description",
            "InferenceSpecification": {
                "Containers": [{"Image": settings.training_image, "ModelDataUrl.$": "$.training.modelDataUrl"}],
                "SupportedContentTypes": ["text/csv"],
                "SupportedResponseMIMETypes": ["text/csv"],
                "SupportedTransformInstanceTypes": [settings.transform_instance_type],
            },
            "ModelMetrics": {
                "ModelQuality": {
                    "Statistics": {"ContentType": "application/json", "S3Uri.$": "$.evaluation.evaluationUri"}
                }
            },
            "ModelApprovalStatus": settings.model_approval_status,
            "CustomerMetadataProperties.$": "$.evaluation.metadata",
            "Tags": _tags(settings.stack),
            # The same token on every attempt: a retried call that had reached SageMaker adds no
            # second version (ClientToken: 1-36 of [a-zA-Z0-9-]; an MD5 is 32 hex digits).
            "ClientToken.$": f"States.Hash({_EXECUTION_NAME}, 'MD5')",
        },
        "ResultSelector": {"modelPackageArn.$": "$.ModelPackageArn"},
        "ResultPath": "$.registration",
        "Retry": _retry(SAGEMAKER_SDK_TRANSIENT, attempts=2, interval=1),
        "Catch": _CATCH,
        "End": True,
    }


def build_definition(
    settings: PipelineSettings,
    *,
    partition: str,
    bucket: str,
    validation_function_arn: str,
    seed_function_arn: str,
    sagemaker_role_arn: str,
    evaluation_function_arn: str,
) -> dict[str, Any]:
    """The definition as a dict; `render_definition` is what deployments use."""
    image = settings.training_image
    distribution = "ShardedByS3Key"
    generate, train, save, transform = STATE_NAMES
    return {
        "Comment": "Seed or prepare a dataset, train XGBoost on SageMaker, save the model, batch-transform "
        "the held-out rows, evaluate, gate and register the model. "
        f"Stack {settings.stack}.",
        "StartAt": VALIDATE_STATE,
        "States": {
            VALIDATE_STATE: {
                "Type": "Task",
                "Resource": validation_function_arn,
                "Parameters": {
                    "executionName.$": _EXECUTION_NAME,
                    "input.$": "$",
                    "jobNamePrefix": settings.job_name_prefix,
                    "defaults": settings.run_defaults,
                    "bucket": bucket,
                },
                # The untrusted input is dropped here: later states read only the checked request.
                "ResultSelector": {"run.$": "$"},
                "ResultPath": "$",
                "Retry": _retry(LAMBDA_TRANSIENT, attempts=5, interval=2),
                # Bad input is what the function refused, or what the runtime could not parse; any
                # other failure (a timeout, out of memory, Lambda's errors once retried, a function
                # that cannot start) is the platform's, reported under its own name.
                "Catch": [
                    {"ErrorEquals": [INVALID_INPUT_ERROR], "ResultPath": "$", "Next": _REFUSAL_CAUSE},
                    {"ErrorEquals": LAMBDA_UNREADABLE_INPUT, "ResultPath": "$", "Next": _UNCHECKED_CAUSE},
                    {"ErrorEquals": ["States.ALL"], "ResultPath": "$", "Next": FAILED_STATE},
                ],
                "Next": CHOICE_STATE,
            },
            CHOICE_STATE: {
                "Type": "Choice",
                # A rule on a missing path is a runtime error, so absence is tested first.
                "Choices": [
                    {"Not": {"Variable": "$.run.data", "IsPresent": True}, "Next": generate},
                    {"Variable": "$.run.data", "IsNull": True, "Next": generate},
                ],
                "Default": PREPARE_STATE,
            },
            PREPARE_STATE: {
                "Type": "Task",
                "Resource": seed_function_arn,
                "Parameters": {
                    "action": "prepare",
                    "executionName.$": _EXECUTION_NAME,
                    "data.$": "$.run.data",
                    "seed.$": "$.run.seed",
                    "hyperparameters.$": "$.run.hyperparameters",
                    "shards": settings.shards,
                },
                "ResultPath": "$.dataset",
                "Retry": _retry(LAMBDA_TRANSIENT, attempts=5, interval=2),
                "Catch": _CATCH,
                "Next": train,
            },
            # Lambda reports an exception as JSON {errorMessage, errorType, ...}: keep the message.
            _REFUSAL_CAUSE: {
                "Type": "Pass",
                "Parameters": {"cause.$": "States.StringToJson($.Cause)"},
                "Next": REFUSED_STATE,
            },
            # Only the error's name is kept: its cause need not be JSON, nor short.
            _UNCHECKED_CAUSE: {
                "Type": "Pass",
                "Parameters": {
                    "cause": {
                        "errorMessage.$": (
                            "States.Format('execution input could not be read ({}): the Lambda runtime could not parse "
                            "it; fix the input (e.g. a number thousands of digits long)', $.Error)"
                        )
                    }
                },
                "Next": REFUSED_STATE,
            },
            REFUSED_STATE: {
                "Type": "Fail",
                "Error": INVALID_INPUT_ERROR,
                "CausePath": "$.cause.errorMessage",
            },
            generate: {
                "Type": "Task",
                "Resource": seed_function_arn,
                "Parameters": {
                    "executionName.$": _EXECUTION_NAME,
                    "rows.$": "$.run.rows",
                    "seed.$": "$.run.seed",
                    "shards": settings.shards,
                },
                "ResultPath": "$.dataset",
                "Retry": _retry(LAMBDA_TRANSIENT, attempts=5, interval=2),
                "Catch": _CATCH,
                "Next": train,
            },
            train: {
                "Type": "Task",
                "Resource": integration_arn(partition, "sagemaker:createTrainingJob.sync"),
                "Parameters": {
                    "TrainingJobName.$": _EXECUTION_NAME,
                    "AlgorithmSpecification": {"TrainingImage": image, "TrainingInputMode": "File"},
                    "RoleArn": sagemaker_role_arn,
                    "HyperParameters.$": "$.run.hyperparameters",
                    # Built-in XGBoost needs no network; the job cannot send data anywhere.
                    "EnableNetworkIsolation": True,
                    "InputDataConfig": [
                        {
                            "ChannelName": "train",
                            "ContentType": "text/csv",
                            "CompressionType": "None",
                            "DataSource": {
                                "S3DataSource": {
                                    "S3DataType": "S3Prefix",
                                    "S3Uri.$": "$.dataset.train_uri",
                                    "S3DataDistributionType": distribution,
                                }
                            },
                        },
                        {
                            # Every host evaluates the whole validation set (early stopping,
                            # validation:* metrics), as the container expects.
                            "ChannelName": "validation",
                            "ContentType": "text/csv",
                            "CompressionType": "None",
                            "DataSource": {
                                "S3DataSource": {
                                    "S3DataType": "S3Prefix",
                                    "S3Uri.$": "$.dataset.validation_uri",
                                    "S3DataDistributionType": "FullyReplicated",
                                }
                            },
                        },
                    ],
                    "OutputDataConfig": {"S3OutputPath.$": run_uri(bucket, bucket_layout.MODEL)},
                    "ResourceConfig": {
                        "InstanceCount": settings.training_instance_count,
                        "InstanceType": settings.training_instance_type,
                        "VolumeSizeInGB": settings.volume_size_gb,
                        **(
                            {"KeepAlivePeriodInSeconds": settings.warm_pool_seconds}
                            if settings.warm_pool_seconds
                            else {}
                        ),
                    },
                    "StoppingCondition": {
                        "MaxRuntimeInSeconds": settings.max_runtime_seconds,
                        **({"MaxWaitTimeInSeconds": settings.max_wait_seconds} if settings.spot_training else {}),
                    },
                    **(_spot_parameters(bucket) if settings.spot_training else {}),
                    "Tags": _tags(settings.stack),
                },
                "ResultSelector": {
                    "jobName.$": "$.TrainingJobName",
                    "modelDataUrl.$": "$.ModelArtifacts.S3ModelArtifacts",
                },
                "ResultPath": "$.training",
                # SageMaker ends the job at its StoppingCondition; this ends the wait for it.
                "TimeoutSeconds": settings.training_state_timeout_seconds,
                "Retry": _retry(SAGEMAKER_TRANSIENT, attempts=2, interval=1),
                "Catch": _stopping(STOP_TRAINING_STATE),
                "Next": save,
            },
            STOP_TRAINING_STATE: _stop_job(partition, "stopTrainingJob", "TrainingJobName"),
            save: {
                "Type": "Task",
                "Resource": integration_arn(partition, "sagemaker:createModel"),
                "Parameters": {
                    "ModelName.$": _EXECUTION_NAME,
                    "PrimaryContainer": {"Image": image, "ModelDataUrl.$": "$.training.modelDataUrl"},
                    "ExecutionRoleArn": sagemaker_role_arn,
                    "EnableNetworkIsolation": True,
                    "Tags": _tags(settings.stack),
                },
                "ResultSelector": {"modelArn.$": "$.ModelArn"},
                "ResultPath": "$.model",
                "Retry": _retry(SAGEMAKER_TRANSIENT, attempts=2, interval=1),
                "Catch": _CATCH,
                "Next": transform,
            },
            transform: {
                "Type": "Task",
                "Resource": integration_arn(partition, "sagemaker:createTransformJob.sync"),
                "Parameters": {
                    "TransformJobName.$": _EXECUTION_NAME,
                    "ModelName.$": _EXECUTION_NAME,
                    "BatchStrategy": "MultiRecord",
                    "TransformInput": {
                        "ContentType": "text/csv",
                        "SplitType": "Line",
                        "CompressionType": "None",
                        "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri.$": "$.dataset.test_uri"}},
                    },
                    "TransformOutput": {
                        "S3OutputPath.$": run_uri(bucket, bucket_layout.PREDICTIONS),
                        "AssembleWith": "Line",
                    },
                    "TransformResources": {
                        "InstanceCount": settings.transform_instance_count,
                        "InstanceType": settings.transform_instance_type,
                    },
                    "Tags": _tags(settings.stack),
                },
                "ResultSelector": {
                    "jobName.$": "$.TransformJobName",
                    "outputPath.$": "$.TransformOutput.S3OutputPath",
                },
                "ResultPath": "$.transform",
                "TimeoutSeconds": settings.transform_timeout_seconds,  # the job has no limit of its own
                "Retry": _retry(SAGEMAKER_TRANSIENT, attempts=2, interval=1),
                "Catch": _stopping(STOP_TRANSFORM_STATE),
                "Next": EVALUATE_STATE,
            },
            EVALUATE_STATE: {
                "Type": "Task",
                "Resource": evaluation_function_arn,
                "Parameters": {
                    "executionName.$": _EXECUTION_NAME,
                    "hyperparameters.$": "$.run.hyperparameters",
                    "qualityGate.$": "$.run.qualityGate",
                    "rows.$": "$.dataset.rows",
                    "source.$": "$.dataset.source",
                },
                "ResultPath": "$.evaluation",
                "Retry": _retry(LAMBDA_TRANSIENT, attempts=5, interval=2),
                "Catch": _CATCH,
                "Next": GATE_STATE,
            },
            GATE_STATE: {
                "Type": "Choice",
                "Choices": [
                    {"Variable": "$.evaluation.gate.passed", "BooleanEquals": False, "Next": GATE_FAILED_STATE}
                ],
                "Default": REGISTER_STATE,
            },
            GATE_FAILED_STATE: {
                "Type": "Fail",
                "Error": GATE_FAILED_ERROR,
                "CausePath": "$.evaluation.gate.message",
            },
            REGISTER_STATE: _registration(settings, partition),
            STOP_TRANSFORM_STATE: _stop_job(partition, "stopTransformJob", "TransformJobName"),
            FAILED_STATE: {
                "Type": "Fail",
                "ErrorPath": "$.Error",
                "CausePath": "$.Cause",
            },
        },
    }


def render_definition(
    settings: PipelineSettings,
    *,
    partition: str,
    bucket: str,
    validation_function_arn: str,
    seed_function_arn: str,
    sagemaker_role_arn: str,
    evaluation_function_arn: str,
) -> str:
    """Compact, deterministic JSON: the same inputs always give the same bytes."""
    definition = build_definition(
        settings,
        partition=partition,
        bucket=bucket,
        validation_function_arn=validation_function_arn,
        seed_function_arn=seed_function_arn,
        sagemaker_role_arn=sagemaker_role_arn,
        evaluation_function_arn=evaluation_function_arn,
    )
    return json.dumps(definition, separators=(",", ":"), sort_keys=True)
