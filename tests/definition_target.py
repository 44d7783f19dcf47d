"""The resources a state machine definition is rendered against in tests (no Pulumi, no AWS)."""

import copy

from dev_stack import PREFIX

BUCKET = "training-pipeline-data-1a2b3c4"
ROLE_ARN = "arn:aws:iam::111122223333:role/training-pipeline-sagemaker-role-5d6e7f8"
FUNCTION_ARN = "arn:aws:lambda:us-west-2:111122223333:function:training-pipeline-seed-9a0b1c2"
VALIDATION_ARN = "arn:aws:lambda:us-west-2:111122223333:function:training-pipeline-validate-3d4e5f6"
EVALUATION_ARN = "arn:aws:lambda:us-west-2:111122223333:function:training-pipeline-evaluate-7a8b9c0"
EXECUTION = f"{PREFIX}--20260101-000000-abc123"
TARGET = dict(
    partition="aws",
    bucket=BUCKET,
    validation_function_arn=VALIDATION_ARN,
    seed_function_arn=FUNCTION_ARN,
    sagemaker_role_arn=ROLE_ARN,
    evaluation_function_arn=EVALUATION_ARN,
)
DEFAULT_HYPERPARAMETERS = {"objective": "reg:logistic", "eval_metric": "rmse", "num_round": "5"}


# Sample values for the `.$` fields an execution fills in.
SAMPLES = {
    "TrainingJobName": EXECUTION,
    "ModelName": EXECUTION,
    "TransformJobName": EXECUTION,
    "Value": EXECUTION,
    "HyperParameters": DEFAULT_HYPERPARAMETERS,
    "S3Uri": f"s3://{BUCKET}/runs/{EXECUTION}/csv/train/",
    "S3OutputPath": f"s3://{BUCKET}/runs/{EXECUTION}/model",
    "ModelDataUrl": f"s3://{BUCKET}/runs/{EXECUTION}/model/{EXECUTION}/output/model.tar.gz",
}


def substitute(value):
    if isinstance(value, list):
        return [substitute(item) for item in value]
    if not isinstance(value, dict):
        return value
    result = {}
    for key, child in value.items():
        if key.endswith(".$"):
            name = key[:-2]
            assert name in SAMPLES, f"no sample value for {key}: add one"
            result[name] = copy.deepcopy(SAMPLES[name])
        else:
            result[key] = substitute(child)
    return result
