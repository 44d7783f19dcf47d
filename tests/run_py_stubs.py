"""run.py against stubbed AWS clients (botocore's Stubber): a deployed stack's outputs, clients
a test drives, and a command's exit code and output."""

import boto3
from botocore.stub import Stubber

from runner import cli

OUTPUTS = {
    "bucketName": "pipeline-bucket-1234",
    "stateMachineArn": "arn:aws:states:us-west-2:111122223333:stateMachine:pipeline-abc",
    "stateMachineName": "pipeline-abc",
    "seedFunctionName": "seed-abc",
    "sageMakerRoleArn": "arn:aws:iam::111122223333:role/sagemaker-abc",
    "trainingImage": "246618743249.dkr.ecr.us-west-2.amazonaws.com/sagemaker-xgboost:1.7-1",
    "region": "us-west-2",
    "consoleUrl": "https://us-west-2.console.aws.amazon.com/states/home?region=us-west-2#/statemachines",
    "jobNamePrefix": "xgb-dev",
    "runDefaults": {
        "rows": 5000,
        "hyperparameters": {"objective": "reg:logistic", "num_round": "5"},
        "training": {"image_version": "1.7-1"},
    },  # the trainingImage's
}
ARN = "arn:aws:states:us-west-2:111122223333:execution:pipeline-abc:xgb-dev--1"


def run(argv, capsys):
    code = cli.main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


class _StubbedClients:
    def __init__(self):
        self.sagemaker = boto3.client(
            "sagemaker", region_name="us-west-2", aws_access_key_id="x", aws_secret_access_key="x"
        )
        self.sfn = self.s3 = None


def _sfn_stub():
    sfn = boto3.client("stepfunctions", region_name="us-west-2", aws_access_key_id="x", aws_secret_access_key="x")
    clients = _StubbedClients()
    clients.sfn = sfn
    return clients, Stubber(sfn)
