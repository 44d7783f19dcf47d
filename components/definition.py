"""The state machine definition, rendered from plain values (no Pulumi here).

The component calls `render_definition` inside `Output.all(...).apply(...)`; the offline
rehearsal calls it with the emulator's values. One renderer, two callers.

Data flow of an execution (all keys below are the state's JSON):

    input {rows?, hyperparameters?}
      -> Check execution name   the name must start with the job prefix (IAM is scoped to it)
      -> Apply defaults         {defaults, overrides: input}
      -> Merge input            {settings: defaults merged with input, defaultHyperparameters}
      -> Generate dataset       + dataset: the seeding function's result (URIs, row counts)
      -> Train model (XGBoost)  + training: {jobName, modelDataUrl}
      -> Save Model             + model: {modelArn}
      -> Batch transform        + transform: {jobName, outputPath}

Everything an execution writes lives under `runs/<execution name>/`.
"""

from __future__ import annotations

import json
import re
from typing import Any

from components.settings import PipelineSettings

STATE_NAMES = ("Generate dataset", "Train model (XGBoost)", "Save Model", "Batch transform")
FAILED_STATE = "Pipeline failed"
RUNS_PREFIX = "runs"
TAG_STACK = "training-pipeline:stack"
TAG_EXECUTION = "training-pipeline:execution"

_EXECUTION_NAME = "$$.Execution.Name"
# SageMaker's rule for job and model names; the execution name becomes all three.
JOB_NAME_PATTERN = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
# Transient failures worth retrying. Job failures (States.TaskFailed) are not: a retried
# CreateTrainingJob would also collide with the job name it already took.
LAMBDA_TRANSIENT = ["Lambda.ServiceException", "Lambda.AWSLambdaException",
                    "Lambda.SdkClientException", "Lambda.TooManyRequestsException"]
# Step Functions reports SageMaker's unmodelled API errors (throttling, internal errors, but
# also validation errors) under this one name, with the real code only in the cause; modelled
# ones get their own names (SageMaker.ResourceLimitExceededException, ...), never retried here.
# So throttling is retried, and a validation error costs two short, futile retries.
SAGEMAKER_TRANSIENT = ["SageMaker.AmazonSageMakerException"]


def run_uri(bucket: str, suffix: str) -> str:
    """A States.Format expression for `s3://<bucket>/runs/<execution name>/<suffix>`."""
    return f"States.Format('s3://{bucket}/{RUNS_PREFIX}/{{}}/{suffix}', {_EXECUTION_NAME})"


def _retry(errors: list[str], attempts: int, interval: int) -> list[dict[str, Any]]:
    return [{"ErrorEquals": errors, "IntervalSeconds": interval, "MaxAttempts": attempts,
             "BackoffRate": 2.0, "JitterStrategy": "FULL"}]


_CATCH = [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": FAILED_STATE}]


def _tags(stack: str) -> list[dict[str, str]]:
    return [{"Key": TAG_STACK, "Value": stack}, {"Key": TAG_EXECUTION, "Value.$": _EXECUTION_NAME}]


def build_definition(settings: PipelineSettings, *, bucket: str, seed_function_arn: str,
                     sagemaker_role_arn: str) -> dict[str, Any]:
    """The definition as a dict; `render_definition` is what deployments use."""
    image = settings.training_image
    defaults = {"rows": settings.rows, "hyperparameters": settings.hyperparameters}
    distribution = "ShardedByS3Key"
    generate, train, save, transform = STATE_NAMES
    return {
        "Comment": "Seed a dataset, train XGBoost on SageMaker, save the model, batch-transform "
                   f"the held-out rows. Stack {settings.stack}.",
        "StartAt": "Check execution name",
        "States": {
            "Check execution name": {
                "Type": "Choice",
                "Choices": [{"Variable": _EXECUTION_NAME,
                             "StringMatches": f"{settings.job_name_prefix}-*",
                             "Next": "Apply defaults"}],
                "Default": "Execution name not allowed",
            },
            "Execution name not allowed": {
                "Type": "Fail",
                "Error": "ExecutionNameNotAllowed",
                "Cause": f"Execution names become SageMaker job names and must start with "
                         f"'{settings.job_name_prefix}-' (the roles are scoped to it); "
                         "start runs with run.py or name them so.",
            },
            "Apply defaults": {
                "Type": "Pass",
                "Parameters": {"defaults": defaults, "overrides.$": "$"},
                "Next": "Merge input",
            },
            "Merge input": {
                "Type": "Pass",
                "Parameters": {
                    "settings.$": "States.JsonMerge($.defaults, $.overrides, false)",
                    "defaultHyperparameters.$": "$.defaults.hyperparameters",
                },
                "Next": generate,
            },
            generate: {
                "Type": "Task",
                "Resource": seed_function_arn,
                "Parameters": {
                    "bucket": bucket,
                    "prefix.$": f"States.Format('{RUNS_PREFIX}/{{}}/', {_EXECUTION_NAME})",
                    "rows.$": "$.settings.rows",
                    "shards": settings.shards,
                },
                "ResultPath": "$.dataset",
                "Retry": _retry(LAMBDA_TRANSIENT, attempts=5, interval=2),
                "Catch": _CATCH,
                "Next": train,
            },
            train: {
                "Type": "Task",
                "Resource": "arn:aws:states:::sagemaker:createTrainingJob.sync",
                "Parameters": {
                    "TrainingJobName.$": _EXECUTION_NAME,
                    "AlgorithmSpecification": {"TrainingImage": image, "TrainingInputMode": "File"},
                    "RoleArn": sagemaker_role_arn,
                    "HyperParameters.$":
                        "States.JsonMerge($.defaultHyperparameters, $.settings.hyperparameters, false)",
                    "InputDataConfig": [{
                        "ChannelName": "train",
                        "ContentType": "text/csv",
                        "CompressionType": "None",
                        "DataSource": {"S3DataSource": {
                            "S3DataType": "S3Prefix",
                            "S3Uri.$": "$.dataset.train_uri",
                            "S3DataDistributionType": distribution,
                        }},
                    }],
                    "OutputDataConfig": {"S3OutputPath.$": run_uri(bucket, "model")},
                    "ResourceConfig": {
                        "InstanceCount": settings.training_instance_count,
                        "InstanceType": settings.training_instance_type,
                        "VolumeSizeInGB": settings.volume_size_gb,
                    },
                    "StoppingCondition": {"MaxRuntimeInSeconds": settings.max_runtime_seconds},
                    "Tags": _tags(settings.stack),
                },
                "ResultSelector": {
                    "jobName.$": "$.TrainingJobName",
                    "modelDataUrl.$": "$.ModelArtifacts.S3ModelArtifacts",
                },
                "ResultPath": "$.training",
                "Retry": _retry(SAGEMAKER_TRANSIENT, attempts=2, interval=1),
                "Catch": _CATCH,
                "Next": save,
            },
            save: {
                "Type": "Task",
                "Resource": "arn:aws:states:::sagemaker:createModel",
                "Parameters": {
                    "ModelName.$": _EXECUTION_NAME,
                    "PrimaryContainer": {"Image": image, "ModelDataUrl.$": "$.training.modelDataUrl"},
                    "ExecutionRoleArn": sagemaker_role_arn,
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
                "Resource": "arn:aws:states:::sagemaker:createTransformJob.sync",
                "Parameters": {
                    "TransformJobName.$": _EXECUTION_NAME,
                    "ModelName.$": _EXECUTION_NAME,
                    "BatchStrategy": "MultiRecord",
                    "TransformInput": {
                        "ContentType": "text/csv",
                        "SplitType": "Line",
                        "CompressionType": "None",
                        "DataSource": {"S3DataSource": {
                            "S3DataType": "S3Prefix", "S3Uri.$": "$.dataset.test_uri"}},
                    },
                    "TransformOutput": {"S3OutputPath.$": run_uri(bucket, "predictions"),
                                        "AssembleWith": "Line"},
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
                "Retry": _retry(SAGEMAKER_TRANSIENT, attempts=2, interval=1),
                "Catch": _CATCH,
                "End": True,
            },
            FAILED_STATE: {
                "Type": "Fail",
                "ErrorPath": "$.error.Error",
                "CausePath": "$.error.Cause",
            },
        },
    }


def render_definition(settings: PipelineSettings, *, bucket: str, seed_function_arn: str,
                      sagemaker_role_arn: str) -> str:
    """Compact, deterministic JSON: the same inputs always give the same bytes."""
    definition = build_definition(settings, bucket=bucket, seed_function_arn=seed_function_arn,
                                  sagemaker_role_arn=sagemaker_role_arn)
    return json.dumps(definition, separators=(",", ":"), sort_keys=True)
