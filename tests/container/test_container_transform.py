"""Batch transform as each image's container serves it (mini-batches split by the platform,
encoder.csv_to_dmatrix, serve.py's bytes), in the image's environment, and a training job's
MaxRuntimeInSeconds as SageMaker enforces it."""

from __future__ import annotations

import json
import subprocess
import time

import boto3
import numpy as np
import pytest
from local_container import in_image, predict
from moto import mock_aws

from runner.container.failures import ContainerError
from runner.emulator.image_environments import ROOT, python_for
from runner.emulator.sagemaker import jobs as sagemaker_jobs
from runner.emulator.sagemaker import serving as sagemaker_serving
from runner.emulator.sagemaker.serving import Serving, model_archive

_TRAIN = """
import sys, numpy as np, xgboost as xgb
rng = np.random.default_rng(3)
features = rng.random((300, 2))
booster = xgb.train({"objective": "binary:logistic"}, xgb.DMatrix(features, label=features[:, 1] > 0.5), 3)
sys.stdout.buffer.write(booster.save_raw())
"""
_PREDICT = """
import json, sys, numpy as np, xgboost as xgb
booster = xgb.Booster(); booster.load_model(bytearray(sys.stdin.buffer.read()))
rows = np.array(json.loads(sys.argv[1]), dtype=float)
print("\\n".join(map(str, booster.predict(xgb.DMatrix(rows), **json.loads(sys.argv[2])).tolist())))
"""


def _model(version: str, code: str = _TRAIN) -> bytes:
    """The raw model `code` writes to stdout, run in image `version`'s environment."""
    return subprocess.run(
        [str(python_for(version)), "-W", "ignore", "-c", code], cwd=ROOT, capture_output=True, check=True
    ).stdout


def _expected(version: str, model: bytes, rows, **predict_args) -> bytes:
    """The image's library's own predictions, as serve.py words them."""
    text = in_image(version, _PREDICT, json.dumps(rows), json.dumps(predict_args), stdin=model)
    return text.strip().encode() + b"\n"


@pytest.fixture(scope="module", params=["1.7-1", "3.2-0"])
def served(request):
    """(version, model bytes, a serving container holding it)."""
    model = _model(request.param)
    with Serving(request.param, model_archive(model)) as serving:
        yield request.param, model, serving


def test_mini_batches_are_whole_lines_of_at_most_max_payload():
    lines = [f"{i},{i}\n".encode() for i in range(1000)]
    chunks = [b"".join(lines)[i : i + 97] for i in range(0, len(b"".join(lines)), 97)]
    batches = list(sagemaker_serving.mini_batches(iter(chunks), 200))
    assert b"".join(batches) == b"".join(lines)
    assert all(len(batch) <= 200 and batch.endswith(b"\n") for batch in batches)
    assert len(batches) > 1


def test_a_record_larger_than_max_payload_fails_the_job():
    with pytest.raises(ContainerError, match="larger than MaxPayloadInMB"):
        list(sagemaker_serving.mini_batches([b"1," * 200 + b"1\n"], 100))


def test_transform_reads_the_object_a_batch_at_a_time(served):
    _, _, serving = served
    pulled = []

    def chunks():
        for i in range(50):
            pulled.append(i)
            yield b"0.5,0.5\n" * 100

    output = serving.transform(chunks(), 1000)
    first = next(output)
    assert first.count(b"\n") <= 1000 // 8 and len(pulled) <= 2  # not the whole object
    assert (first + b"".join(output)).count(b"\n") == 5000


def test_answers_are_the_containers_bytes(served):
    version, model, serving = served
    assert serving.predict(b"0.1,0.9\n0.2,0.3\n") == _expected(version, model, [[0.1, 0.9], [0.2, 0.3]])


@pytest.mark.parametrize(
    "payload, same_as",
    [
        (b"0.1,\n0.2,0.3\n", [[0.1, None], [0.2, 0.3]]),  # an empty field is missing
        (b"1e-1,+0.9\n", [[0.1, 0.9]]),
    ],
)
def test_transform_input_is_parsed_as_csv_to_dmatrix_does(served, payload, same_as):
    version, model, serving = served
    rows = [[np.nan if value is None else value for value in row] for row in same_as]
    assert serving.predict(payload) == _expected(version, model, rows)


@pytest.mark.parametrize("payload", [b"x,y\n0.1,0.2\n", b'"1",2\n', b"1,2\n3\n", b"0.1,inf\n"])
def test_what_csv_to_dmatrix_cannot_read_fails_the_job(served, payload):
    with pytest.raises(ContainerError) as failure:
        served[2].predict(payload)
    assert failure.value.reason.startswith(
        "ClientError: Loading csv data failed with Exception, please ensure data is in csv format:"
    )


def test_fewer_columns_than_the_model_predict_more_fail_as_in_the_container(served):
    assert served[2].predict(b"0.5\n").count(b"\n") == 1  # the library lets it through
    with pytest.raises(
        ContainerError,
        match="Unable to evaluate payload provided: .*(Number of columns does not match number of features|.*features)",
    ):
        served[2].predict(b"1,2,3\n")


def test_max_runtime_stops_the_training_job_as_sagemaker_reports_it():
    rows = "".join(f"{i % 2},{i},{i * 7 % 13}\n" for i in range(20000)).encode()
    with mock_aws(), sagemaker_jobs.LocalSageMaker().installed():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="runtime-test-bucket")
        s3.put_object(Bucket="runtime-test-bucket", Key="train/part-00000.csv", Body=rows)
        sagemaker = boto3.client("sagemaker", region_name="us-east-1")
        sagemaker.create_training_job(
            TrainingJobName="too-long",
            RoleArn="arn:aws:iam::123456789012:role/r",
            HyperParameters={"num_round": "100000", "max_depth": "10"},
            AlgorithmSpecification={
                "TrainingImage": "246618743249.dkr.ecr.us-west-2.amazonaws.com/sagemaker-xgboost:1.7-1",
                "TrainingInputMode": "File",
            },
            InputDataConfig=[
                {
                    "ChannelName": "train",
                    "ContentType": "text/csv",
                    "DataSource": {
                        "S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://runtime-test-bucket/train/"}
                    },
                }
            ],
            OutputDataConfig={"S3OutputPath": "s3://runtime-test-bucket/model"},
            ResourceConfig={"InstanceType": "ml.m5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 1},
            StoppingCondition={"MaxRuntimeInSeconds": 1},
        )
        deadline = time.monotonic() + 30
        while (job := sagemaker.describe_training_job(TrainingJobName="too-long"))["TrainingJobStatus"] == "InProgress":
            assert time.monotonic() < deadline, "the job ran past its MaxRuntimeInSeconds"
            time.sleep(0.05)
        assert job["TrainingJobStatus"] == "Stopped"
        assert job["SecondaryStatus"] == "MaxRuntimeExceeded"
        assert "ModelArtifacts" not in job or not job["ModelArtifacts"]
        assert 1 <= job["TrainingTimeInSeconds"] <= 3


_EARLY_STOPPED = """
import sys, numpy as np, xgboost as xgb
rng = np.random.default_rng(5)
features = rng.random((400, 2))
train = xgb.DMatrix(features[:300], label=features[:300, 0] > 0.5)
validation = xgb.DMatrix(features[300:], label=features[300:, 0] > 0.5)
booster = xgb.train({"objective": "binary:logistic"}, train, 200, evals=[(validation, "validation")],
                    callbacks=[xgb.callback.EarlyStopping(rounds=2, save_best=True)], verbose_eval=False)
sys.stdout.buffer.write(booster.save_raw())
"""


@pytest.mark.parametrize("version", ["1.7-1", "3.2-0"])
def test_an_early_stopped_model_predicts_with_its_best_trees_as_served(version):
    model = _model(version, _EARLY_STOPPED)
    rng = np.random.default_rng(5)
    features = rng.random((400, 2))[:5]
    payload = "".join(f"{a},{b}\n" for a, b in features).encode()
    best = int(
        json.loads(
            in_image(
                version,
                "import sys, json, xgboost as xgb; b = xgb.Booster(); "
                "b.load_model(bytearray(sys.stdin.buffer.read())); "
                "print(b.attr('best_iteration'))",
                stdin=model,
            )
        )
    )
    expected = _expected(version, model, features.tolist(), iteration_range=[0, best + 1])
    assert predict(version, model, payload) == expected
