"""The offline rehearsal end to end: the real definition on moto, the real seeding function, real XGBoost.

Everything goes through plain boto3 against `local_stack`, as the run script does.
"""

import io
import itertools
import json
import subprocess
import tarfile
import threading
import time
import zipfile
from urllib.parse import urlparse

import boto3
import numpy as np
import pytest
from dev_stack import PREFIX
from emulated_execution import start_and_wait
from moto.awslambda_simple.models import LambdaSimpleBackend
from moto.core.authorization import ActionAuthenticatorMixin
from moto.s3.models import FakeBucket
from moto.sagemaker.models import SageMakerModelBackend
from moto.stepfunctions.parser import models as sfn_models
from moto.stepfunctions.parser.asl.component.state.exec.state_task import (
    lambda_eval_utils,
    state_task_factory,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.state_task_lambda import StateTaskLambda
from moto.stepfunctions.parser.asl.component.state.fail import state_fail
from moto.stepfunctions.parser.backend import execution_worker
from moto.stepfunctions.parser.backend.execution import BaseExecutionWorkerCommunication

from components.settings import load_stack_settings
from runner.container.images import IMAGES
from runner.emulator import local_stack
from runner.emulator.image_environments import image_version, python_for
from runner.emulator.sagemaker import hosts as sagemaker_hosts
from runner.emulator.sagemaker.serving import MODEL_FILE

OUTPUT_KEYS = {
    "bucketName",
    "stateMachineArn",
    "stateMachineName",
    "seedFunctionName",
    "sageMakerRoleArn",
    "trainingImage",
    "region",
    "consoleUrl",
    "jobNamePrefix",
    "runDefaults",
}
_names = itertools.count(1)


def _name(outputs, tag):
    return f"{outputs['jobNamePrefix']}--{tag}-{next(_names)}-{int(time.time())}"


def _execute(outputs, execution_input, name=None, timeout=60):
    return start_and_wait(outputs, name or _name(outputs, "run"), execution_input, timeout)


def _read(outputs, uri):
    parsed = urlparse(uri)
    s3 = boto3.client("s3", region_name=outputs["region"])
    return s3.get_object(Bucket=parsed.netloc, Key=parsed.path.lstrip("/"))["Body"].read()


@pytest.fixture(scope="class")
def outputs():
    with local_stack(load_stack_settings("dev")) as stack_outputs:
        yield stack_outputs


class TestPipeline:
    def test_outputs_look_like_the_real_stack(self, outputs):
        assert set(outputs) == OUTPUT_KEYS
        assert outputs["region"] == "us-west-2"
        assert outputs["jobNamePrefix"] == PREFIX
        assert "local" in outputs["consoleUrl"]
        assert outputs["trainingImage"].endswith("/sagemaker-xgboost:3.2-0")

    def test_the_bucket_expires_runs_after_the_stacks_days(self, outputs):
        """The lifecycle configuration the program registers is on the emulated bucket (moto keeps
        it but never expires anything)."""
        s3 = boto3.client("s3", region_name=outputs["region"])
        [rule] = s3.get_bucket_lifecycle_configuration(Bucket=outputs["bucketName"])["Rules"]
        assert rule["Status"] == "Enabled" and rule["Filter"] == {"Prefix": "runs/"}
        assert rule["Expiration"] == {"Days": load_stack_settings("dev").runs_expire_days} == {"Days": 30}
        assert rule["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 1}
        assert rule["NoncurrentVersionExpiration"] == {"NoncurrentDays": 1}

    def test_pipeline_trains_and_predicts(self, outputs):
        described = _execute(outputs, {"rows": 2000})
        assert described["status"] == "SUCCEEDED", described.get("cause")
        result = json.loads(described["output"])
        assert result["dataset"]["rows"] == {"train": 2000, "validation": 200, "test": 2000}

        out = _read(outputs, result["transform"]["outputPath"] + "/test.csv.out")
        # AssembleWith Line: a newline after the one mini-batch's answer, which ends in one (serve.py).
        assert out.endswith(b"\n\n") and out.count(b"\n\n") == 1
        predictions = np.array(out.split(), dtype=float)
        labels = np.array(_read(outputs, result["dataset"]["labels_uri"]).split(), dtype=float)
        assert len(predictions) == 2000 == len(labels)
        assert ((predictions >= 0.5) == labels).mean() >= 0.97

        with tarfile.open(fileobj=io.BytesIO(_read(outputs, result["training"]["modelDataUrl"]))) as archive:
            assert archive.getnames() == [MODEL_FILE]
            raw = archive.extractfile(MODEL_FILE).read()
        version = image_version(outputs["trainingImage"])
        assert raw.startswith(IMAGES[version].model_magic)  # the format the stack's image saves
        loaded = subprocess.run(
            [
                str(python_for(version)),
                "-c",
                "import sys, xgboost; b = xgboost.Booster(); "
                "b.load_model(bytearray(sys.stdin.buffer.read())); "
                "print(b.num_boosted_rounds(), b.num_features())",
            ],
            input=raw,
            capture_output=True,
            check=True,
        )
        assert loaded.stdout.split() == [b"5", b"2"]

    def test_execution_input_reaches_the_lambda_and_the_jobs(self, outputs):
        name = _name(outputs, "input")
        described = _execute(outputs, {"rows": 300, "hyperparameters": {"num_round": "3"}}, name=name)
        assert described["status"] == "SUCCEEDED", described.get("cause")
        result = json.loads(described["output"])
        train = _read(outputs, result["dataset"]["train_uri"] + "part-00000.csv")
        assert train.count(b"\n") == 300

        sagemaker = boto3.client("sagemaker", region_name=outputs["region"])
        job = sagemaker.describe_training_job(TrainingJobName=name)
        assert job["HyperParameters"] == {"objective": "reg:logistic", "eval_metric": "rmse", "num_round": "3"}
        assert job["TrainingJobStatus"] == "Completed" and "FailureReason" not in job
        assert [t["Status"] for t in job["SecondaryStatusTransitions"]] == [
            "Starting",
            "Downloading",
            "Training",
            "Uploading",
            "Completed",
        ]
        assert job["FinalMetricDataList"][0]["MetricName"] == "train:rmse"
        assert sagemaker.describe_transform_job(TransformJobName=name)["TransformJobStatus"] == "Completed"

    def test_sync_output_is_the_describe_response_as_json(self, outputs):
        name = _name(outputs, "history")
        assert _execute(outputs, {"rows": 200}, name=name)["status"] == "SUCCEEDED"
        sfn = boto3.client("stepfunctions", region_name=outputs["region"])
        arn = f"{outputs['stateMachineArn'].replace(':stateMachine:', ':execution:')}:{name}"
        events = sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
        succeeded = [
            json.loads(e["taskSucceededEventDetails"]["output"]) for e in events if e["type"] == "TaskSucceeded"
        ]
        training = next(output for output in succeeded if "TrainingJobStatus" in output)
        assert training["TrainingJobStatus"] == "Completed"
        assert isinstance(training["CreationTime"], int)  # epoch milliseconds, not a datetime
        assert training["ModelArtifacts"]["S3ModelArtifacts"].endswith(f"/{name}/output/model.tar.gz")
        assert any(set(output) == {"ModelArn"} for output in succeeded)

    def test_a_training_job_that_fails_in_the_container_fails_the_execution(self, outputs, monkeypatch):
        """Training fails after validation: the container's FailureReason is the cause.

        The rules refuse every hyperparameter set known to fail (reg:gamma among them), so the
        container is made to train one: gamma regression needs positive labels; the seeded
        labels are 0 and 1."""
        sagemaker = boto3.client("sagemaker", region_name=outputs["region"])
        train = sagemaker_hosts.train
        monkeypatch.setattr(
            sagemaker_hosts,
            "train",
            lambda version, channels, config, count, hyperparameters, *args, **kwargs: train(
                version,
                channels,
                config,
                count,
                {**hyperparameters, "objective": "reg:gamma", "eval_metric": "gamma-nloglik"},
                *args,
                **kwargs,
            ),
        )
        described = _execute(outputs, {"rows": 200})
        assert described["status"] == "FAILED", described
        assert described["error"] == "States.TaskFailed"
        cause = json.loads(described["cause"])  # the DescribeTrainingJob response
        assert cause["TrainingJobStatus"] == "Failed"
        assert (
            cause["FailureReason"].startswith(("ClientError: ", "AlgorithmError: "))
            and "label" in cause["FailureReason"]
        ), cause["FailureReason"]
        assert sagemaker.describe_training_job(TrainingJobName=cause["TrainingJobName"])["FailureReason"]

    def test_a_taken_job_name_fails_as_resource_in_use_exception(self, outputs):
        name = _name(outputs, "taken")
        bucket, region = outputs["bucketName"], outputs["region"]
        sagemaker = boto3.client("sagemaker", region_name=region)
        sagemaker.create_training_job(  # someone else's job, with no data: it fails by itself
            TrainingJobName=name,
            RoleArn=outputs["sageMakerRoleArn"],
            HyperParameters={"num_round": "1"},
            AlgorithmSpecification={"TrainingImage": outputs["trainingImage"], "TrainingInputMode": "File"},
            InputDataConfig=[
                {
                    "ChannelName": "train",
                    "ContentType": "text/csv",
                    "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"s3://{bucket}/runs/nothing/"}},
                }
            ],
            OutputDataConfig={"S3OutputPath": f"s3://{bucket}/adhoc/model"},
            ResourceConfig={"InstanceType": "ml.m5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 1},
            StoppingCondition={"MaxRuntimeInSeconds": 60},
        )
        described = _execute(outputs, {"rows": 200}, name=name)
        assert described["status"] == "FAILED"
        assert described["error"] == "SageMaker.ResourceInUseException"
        assert "Training job names must be unique" in described["cause"]
        job = sagemaker.describe_training_job(TrainingJobName=name)
        assert job["TrainingJobStatus"] == "Failed"
        assert job["FailureReason"].startswith("ClientError: Data download failed: No S3 objects found")

    def test_a_taken_model_name_fails_as_amazon_sagemaker_exception_after_retries(self, outputs, retry_waits):
        name = _name(outputs, "model")
        sagemaker = boto3.client("sagemaker", region_name=outputs["region"])
        sagemaker.create_model(
            ModelName=name,
            ExecutionRoleArn=outputs["sageMakerRoleArn"],
            PrimaryContainer={"Image": outputs["trainingImage"]},
        )
        described = _execute(outputs, {"rows": 200}, name=name)
        assert described["status"] == "FAILED"
        assert described["error"] == "SageMaker.AmazonSageMakerException"  # after the retries
        assert "Cannot create already existing model" in described["cause"]
        # Two retries, 1 s then 2 s apart at most (BackoffRate 2, full jitter).
        assert len(retry_waits) == 2 and 0 <= retry_waits[0] <= 1 and 0 <= retry_waits[1] <= 2

    def test_transform_runs_as_the_model_role_and_rejects_rows_with_the_wrong_number_of_columns(self, outputs):
        described = _execute(outputs, {"rows": 200})
        model_name = json.loads(described["output"])["training"]["jobName"]
        bucket, region = outputs["bucketName"], outputs["region"]
        sagemaker = boto3.client("sagemaker", region_name=region)

        def transform(prefix):
            boto3.client("s3", region_name=region).put_object(
                Bucket=bucket, Key=f"{prefix}/labelled/test.csv", Body=b"1,10,40\n0,50,20\n"
            )
            name = _name(outputs, "transform")
            sagemaker.create_transform_job(
                TransformJobName=name,
                ModelName=model_name,
                TransformInput={
                    "ContentType": "text/csv",
                    "SplitType": "Line",
                    "DataSource": {
                        "S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"s3://{bucket}/{prefix}/labelled/"}
                    },
                },
                TransformOutput={"S3OutputPath": f"s3://{bucket}/{prefix}/out"},
                TransformResources={"InstanceType": "ml.m5.xlarge", "InstanceCount": 1},
            )
            deadline = time.monotonic() + 30
            while (job := sagemaker.describe_transform_job(TransformJobName=name))[
                "TransformJobStatus"
            ] == "InProgress":
                assert time.monotonic() < deadline
                time.sleep(0.05)
            assert job["TransformJobStatus"] == "Failed"
            return job["FailureReason"]

        # The SageMaker role may read only under runs/: the job fails naming the refused access.
        reason = transform("adhoc")
        assert reason.startswith(f"ClientError: Data download failed: could not list s3://{bucket}/adhoc/labelled/")
        assert (
            ":assumed-role/" in reason
            and f'is not authorized to perform: s3:ListBucket on resource: "arn:aws:s3:::{bucket}"' in reason
        )
        # The container does not count columns itself: xgboost 1.7.4 refuses more than the model has.
        reason = transform(f"runs/{model_name}-adhoc")
        assert reason.startswith("ClientError: Unable to evaluate payload provided: ")
        assert "Number of columns does not match number of features in booster" in reason

    def test_two_consecutive_executions_succeed(self, outputs):
        first = _execute(outputs, {"rows": 500})
        second = _execute(outputs, {"rows": 500})
        assert (first["status"], second["status"]) == ("SUCCEEDED", "SUCCEEDED"), second.get("cause")


def test_a_second_stack_after_the_first_works_and_patches_are_undone():
    patched = {
        "factory": lambda: state_task_factory.state_task_service_for,
        "fail state": lambda: state_fail.CustomErrorName,
        "lambda": lambda: LambdaSimpleBackend.invoke,
        "training": lambda: SageMakerModelBackend.create_training_job,
        "transform": lambda: SageMakerModelBackend.create_transform_job,
        "model": lambda: SageMakerModelBackend.create_model,
        "request authorisation": lambda: ActionAuthenticatorMixin._authenticate_and_authorize_action,
        "bucket policy": lambda: FakeBucket.get_permission,
        "lambda task client": lambda: lambda_eval_utils.boto_client_for,
        "lambda task errors": lambda: StateTaskLambda._from_error,
        "execution end": lambda: BaseExecutionWorkerCommunication.terminated,
        "definition parse (validation)": lambda: sfn_models.AmazonStateLanguageParser,
        "definition parse (execution)": lambda: execution_worker.AmazonStateLanguageParser,
    }
    originals = {name: get() for name, get in patched.items()}
    settings = load_stack_settings("dev")
    for _ in range(2):
        with local_stack(settings) as outputs:
            assert all(get() is not originals[name] for name, get in patched.items())
            described = _execute(outputs, {"rows": 200})
            assert described["status"] == "SUCCEEDED", described.get("cause")
        assert {name: get() for name, get in patched.items()} == originals


def test_lambda_runs_the_deployed_code_and_reports_runtime_failures_under_lambdas_names():
    package = io.BytesIO()
    with zipfile.ZipFile(package, "w") as archive:
        archive.writestr("lambda_src/__init__.py", "")
        archive.writestr("lambda_src/seed_dataset.py", "raise ImportError('a missing dependency')\n")
    with local_stack(load_stack_settings("dev")) as outputs:
        boto3.client("lambda", region_name=outputs["region"]).update_function_code(
            FunctionName=outputs["seedFunctionName"], ZipFile=package.getvalue()
        )
        described = _execute(outputs, {"rows": 200})
        assert described["status"] == "FAILED"
        assert described["error"] == "Runtime.ImportModuleError"
        assert "Unable to import module 'lambda_src.seed_dataset': a missing dependency" in described["cause"]


# -- the local container on its own (no emulator) --------------------------------------------------


def test_the_end_of_an_execution_wakes_its_follower_and_the_definition_is_parsed_once_per_execution(monkeypatch):
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

    parses = []
    parse = AmazonStateLanguageParser.parse
    monkeypatch.setattr(
        AmazonStateLanguageParser,
        "parse",
        staticmethod(lambda definition: parses.append(definition) or parse(definition)),
    )
    with local_stack(load_stack_settings("dev")) as outputs:
        assert len(parses) == 1  # CreateStateMachine validated it
        sleep = outputs.execution_ends.sleeper()
        started = time.monotonic()
        sleep(0.2)  # nothing ends: the whole wait
        assert time.monotonic() - started >= 0.2
        ended = threading.Event()

        def follower():
            sleep(60)  # the poll interval: ends with the execution, not after a minute
            ended.set()

        threading.Thread(target=follower, daemon=True).start()
        assert _execute(outputs, {"rows": 200})["status"] == "SUCCEEDED"
        assert ended.wait(10)
        assert len(parses) == 1  # the first execution ran the validated program
        assert _execute(outputs, {"rows": 200})["status"] == "SUCCEEDED"
        assert len(parses) == 2  # the next one parsed its own


def test_every_session_shares_one_loader_which_loads_a_model_once_however_it_is_asked_for():
    import botocore.session

    from runner.emulator.workarounds import service_models

    with service_models.installed():
        loader = botocore.session.get_session().get_component("data_loader")
        for _ in range(3):  # each boto3 Session adds boto3's data folder to its loader's paths
            assert boto3.session.Session()._session.get_component("data_loader") is loader
        assert len(loader.search_paths) == len(set(loader.search_paths))
        by_position = loader.load_service_model("sts", "service-2")
        assert loader.load_service_model("sts", type_name="service-2", api_version=None) is by_position
        assert loader.load_service_model("sts", "service-2", "2011-06-15") is by_position
        # moto reads botocore's model where neither adds extras; S3 has both, and differs.
        moto_models = service_models.moto_loader()
        assert moto_models.load_service_model("sagemaker", "service-2") is loader.load_service_model(
            "sagemaker", "service-2"
        )
        moto_s3, botocore_s3 = (side.load_service_model("s3", "service-2") for side in (moto_models, loader))
        assert moto_s3 is not botocore_s3 and moto_s3 != botocore_s3


def test_sagemaker_assembles_answers_with_a_newline_after_each_only_with_assemble_with_line():
    from runner.emulator.sagemaker.jobs import assembled
    from runner.metrics import without_assembly_blanks

    answers = [b"0.1\n0.2\n", b"0.3\n"]  # two mini-batches, as the container answers them
    line = b"".join(assembled(answers, {"AssembleWith": "Line"}))
    assert line == b"0.1\n0.2\n\n0.3\n\n"
    assert (
        b"".join(assembled(answers, {})) == b"".join(assembled(answers, {"AssembleWith": "None"})) == b"0.1\n0.2\n0.3\n"
    )
    assert b"".join(without_assembly_blanks([line])) == b"0.1\n0.2\n0.3\n"
