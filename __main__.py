"""Pulumi program: the XGBoost training pipeline on AWS Step Functions.

Reads and validates the stack's config (defaults in Pulumi.yaml), builds the
`TrainingPipeline` component and exports what `run.py` and a person need.
"""

import pulumi
import pulumi_aws as aws

from components.names import PIPELINE
from components.pipeline import TrainingPipeline, TrainingPipelineArgs
from components.settings import PipelineSettings, SettingsError

config = pulumi.Config()
# The region the AWS provider deploys to (aws:region config, or AWS_REGION and friends).
region = aws.get_region().region

try:
    settings = PipelineSettings.from_config(config.get, stack=pulumi.get_stack(), region=region)
except SettingsError as error:
    # One line naming the key, no traceback, before any resource is registered.
    raise pulumi.RunError(f"invalid config {pulumi.get_project()}:{error}") from None

for warning in settings.warnings:
    pulumi.log.warn(f"{pulumi.get_project()}:{warning}")

pipeline = TrainingPipeline(PIPELINE, TrainingPipelineArgs(settings=settings))

pulumi.export("bucketName", pipeline.bucket.bucket)
pulumi.export("stateMachineArn", pipeline.state_machine.arn)
pulumi.export("stateMachineName", pipeline.state_machine.name)
pulumi.export("seedFunctionName", pipeline.seed_function.name)
pulumi.export("sageMakerRoleArn", pipeline.sagemaker_role.arn)
pulumi.export("trainingImage", settings.training_image)
pulumi.export("region", settings.region)
pulumi.export("consoleUrl", pipeline.console_url)
# Executions must be named `<jobNamePrefix>--...`: they name the SageMaker jobs the roles allow.
pulumi.export("jobNamePrefix", settings.job_name_prefix)
# What an execution gets unless its input says otherwise; run.py checks input against it.
pulumi.export("runDefaults", settings.run_defaults)
