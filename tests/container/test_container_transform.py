"""Batch transform as the 1.7-1 container serves it (mini-batches, encoder.csv_to_dmatrix, serve.py's
bytes), and a training job's MaxRuntimeInSeconds as SageMaker enforces it."""

from __future__ import annotations

import time

import boto3
import numpy as np
import pytest
import xgboost as xgb
from moto import mock_aws

from runner.emulator.sagemaker import container
from runner.emulator.sagemaker import jobs as sagemaker_jobs


@pytest.fixture(scope="module")
def booster():
    rng = np.random.default_rng(3)
    features = rng.random((300, 2))
    return xgb.train({"objective": "binary:logistic"}, xgb.DMatrix(features, label=features[:, 1] > 0.5), 3)


def test_mini_batches_are_whole_lines_of_at_most_max_payload():
    lines = [f"{i},{i}\n".encode() for i in range(1000)]
    chunks = [b"".join(lines)[i:i + 97] for i in range(0, len(b"".join(lines)), 97)]
    batches = list(container.mini_batches(iter(chunks), 200))
    assert b"".join(batches) == b"".join(lines)
    assert all(len(batch) <= 200 and batch.endswith(b"\n") for batch in batches)
    assert len(batches) > 1


def test_a_record_larger_than_max_payload_fails_the_job():
    with pytest.raises(container.ContainerError, match="larger than MaxPayloadInMB"):
        list(container.mini_batches([b"1," * 200 + b"1\n"], 100))


def test_transform_reads_the_object_a_batch_at_a_time(booster):
    pulled = []

    def chunks():
        for i in range(50):
            pulled.append(i)
            yield b"0.5,0.5\n" * 100

    output = container.transform(booster, chunks(), 1000)
    first = next(output)
    assert first.count(b"\n") <= 1000 // 8 and len(pulled) <= 2  # not the whole object
    assert (first + b"".join(output)).count(b"\n") == 5000


def test_answers_are_the_containers_bytes(booster):
    answer = container.predict_batch(booster, b"0.1,0.9\n0.2,0.3\n")
    expected = booster.predict(xgb.DMatrix(np.array([[0.1, 0.9], [0.2, 0.3]])))
    assert answer == ("\n".join(map(str, expected.tolist())) + "\n").encode()


@pytest.mark.parametrize("payload, same_as", [
    (b"0.1,\n0.2,0.3\n", [[0.1, np.nan], [0.2, 0.3]]),     # an empty field is missing
    (b"1e-1,+0.9\n", [[0.1, 0.9]]),
])
def test_transform_input_is_parsed_as_csv_to_dmatrix_does(booster, payload, same_as):
    expected = booster.predict(xgb.DMatrix(np.array(same_as, dtype=float)))
    assert container.predict_batch(booster, payload) == ("\n".join(map(str, expected.tolist())) + "\n").encode()


@pytest.mark.parametrize("payload", [b"x,y\n0.1,0.2\n", b'"1",2\n', b"1,2\n3\n", b"0.1,inf\n"])
def test_what_csv_to_dmatrix_cannot_read_fails_the_job(booster, payload):
    with pytest.raises(container.ContainerError) as failure:
        container.predict_batch(booster, payload)
    assert failure.value.reason.startswith("ClientError: Loading csv data failed with Exception, please "
                                           "ensure data is in csv format:")


def test_fewer_columns_than_the_model_predict_more_fail_as_in_the_container(booster):
    assert container.predict_batch(booster, b"0.5\n").count(b"\n") == 1  # xgboost 1.7.4 lets it through
    with pytest.raises(container.ContainerError, match="Unable to evaluate payload provided: .*Number of "
                                                      "columns does not match number of features"):
        container.predict_batch(booster, b"1,2,3\n")


def test_max_runtime_stops_the_training_job_as_sagemaker_reports_it():
    rows = "".join(f"{i % 2},{i},{i * 7 % 13}\n" for i in range(20000)).encode()
    with mock_aws(), sagemaker_jobs.LocalSageMaker().installed():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="runtime-test-bucket")
        s3.put_object(Bucket="runtime-test-bucket", Key="train/part-00000.csv", Body=rows)
        sagemaker = boto3.client("sagemaker", region_name="us-east-1")
        sagemaker.create_training_job(
            TrainingJobName="too-long", RoleArn="arn:aws:iam::123456789012:role/r",
            HyperParameters={"num_round": "100000", "max_depth": "10"},
            AlgorithmSpecification={"TrainingImage": "246618743249.dkr.ecr.us-west-2.amazonaws.com/"
                                                     "sagemaker-xgboost:1.7-1", "TrainingInputMode": "File"},
            InputDataConfig=[{"ChannelName": "train", "ContentType": "text/csv", "DataSource": {
                "S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://runtime-test-bucket/train/"}}}],
            OutputDataConfig={"S3OutputPath": "s3://runtime-test-bucket/model"},
            ResourceConfig={"InstanceType": "ml.m5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 1},
            StoppingCondition={"MaxRuntimeInSeconds": 1})
        deadline = time.monotonic() + 30
        while (job := sagemaker.describe_training_job(TrainingJobName="too-long"))["TrainingJobStatus"] \
                == "InProgress":
            assert time.monotonic() < deadline, "the job ran past its MaxRuntimeInSeconds"
            time.sleep(0.05)
        assert job["TrainingJobStatus"] == "Stopped"
        assert job["SecondaryStatus"] == "MaxRuntimeExceeded"
        assert "ModelArtifacts" not in job or not job["ModelArtifacts"]
        assert 1 <= job["TrainingTimeInSeconds"] <= 3


def test_an_early_stopped_model_predicts_with_its_best_trees_as_served(tmp_path):
    rng = np.random.default_rng(5)
    features = rng.random((400, 2))
    train = xgb.DMatrix(features[:300], label=features[:300, 0] > 0.5)
    validation = xgb.DMatrix(features[300:], label=features[300:, 0] > 0.5)
    booster = xgb.train({"objective": "binary:logistic"}, train, 200, evals=[(validation, "validation")],
                        callbacks=[xgb.callback.EarlyStopping(rounds=2, save_best=True)], verbose_eval=False)
    served = container.load_model(container.model_archive(bytes(booster.save_raw())))
    best = served.best_ntree_limit
    expected = booster.predict(xgb.DMatrix(features[:5]), iteration_range=(0, best))
    payload = "".join(f"{a},{b}\n" for a, b in features[:5]).encode()
    assert container.predict_batch(served, payload) == ("\n".join(map(str, expected.tolist())) + "\n").encode()
