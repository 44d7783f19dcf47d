"""An ended execution without AWS: a fake S3 holding one successful run's objects and the
ExecutionView run.py builds of it (results and scoring tests)."""

import io
import json
from datetime import UTC, datetime, timedelta

from runner.follow import ExecutionView, StateProgress

NAME = "xgb-dev-1"
ARN = f"arn:aws:states:us-west-2:111122223333:execution:pipeline-abc:{NAME}"
WHERE = {"local": False, "partition": "aws", "account": "111122223333", "region": "us-west-2"}


def _t(seconds):
    return datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=seconds)


def strict_json(text):
    """Parse as strict parsers (JavaScript's JSON.parse) do: NaN and Infinity are refused."""

    def refuse(constant):
        raise ValueError(f"{constant} is not JSON")

    return json.loads(text, parse_constant=refuse)


# -- a fake S3 holding one successful run -------------------------------------------------------


class _Body:
    def __init__(self, data):
        self.stream = io.BytesIO(data)

    def iter_chunks(self, size):
        while chunk := self.stream.read(size):
            yield chunk

    def close(self):
        pass


class FakeS3:
    def __init__(self, objects):
        self.objects = objects

    def get_object(self, Bucket, Key):
        return {"Body": _Body(self.objects[Key])}

    def get_paginator(self, name):
        objects = self.objects

        class Paginator:
            def paginate(self, Bucket, Prefix):
                return [{"Contents": [{"Key": key} for key in sorted(objects) if key.startswith(Prefix)]}]

        return Paginator()


def _run(
    predictions=b"0.9\n0.2\n0.7\n0.1\n",
    labels=b"1\n0\n1\n0\n",
    hyperparameters=None,
    source=None,
    test=b"1,90\n50,2\n2,80\n60,3\n",
    final_metrics=None,
):
    prefix = f"runs/{NAME}/"
    s3 = FakeS3(
        {
            f"{prefix}csv/train/part-00000.csv": b"1,1,90\n0,50,2\n",
            f"{prefix}csv/test/test.csv": test,
            f"{prefix}csv/labels/test_labels.csv": labels,
            f"{prefix}predictions/test.csv.out": predictions,
            f"{prefix}model/{NAME}/output/model.tar.gz": b"model-bytes",
        }
    )
    output = {
        "run": {
            "rows": 4,
            "seed": 7,
            "hyperparameters": hyperparameters or {"objective": "binary:logistic", "num_round": "5"},
        },
        "dataset": {
            "train_uri": f"s3://b/{prefix}csv/train/",
            "test_uri": f"s3://b/{prefix}csv/test/",
            "labels_uri": f"s3://b/{prefix}csv/labels/test_labels.csv",
            "rows": {"train": 2, "test": len(labels.splitlines())},
            "seed": 7,
            **({"source": source} if source else {}),
        },
        "training": {"jobName": NAME, "modelDataUrl": f"s3://b/{prefix}model/{NAME}/output/model.tar.gz"},
        "transform": {"jobName": NAME, "outputPath": f"s3://b/{prefix}predictions"},
    }
    train = StateProgress(
        name="Train model (XGBoost)",
        entered=_t(1),
        exited=_t(60),
        status="succeeded",
        resource="createTrainingJob.sync",
        job_name=NAME,
        parameters={
            "AlgorithmSpecification": {"TrainingImage": "img:3.2-0"},
            "ResourceConfig": {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 30},
            "HyperParameters": {"num_round": "5"},
        },
        result={
            "TrainingJobStatus": "Completed",
            "BillableTimeInSeconds": 55,
            "TrainingTimeInSeconds": 55,
            "FinalMetricDataList": final_metrics or [{"MetricName": "train:rmse", "Value": 0.1}],
        },
    )
    view = ExecutionView(
        arn=ARN,
        name=NAME,
        status="SUCCEEDED",
        started=_t(0),
        stopped=_t(90),
        states=[train],
        output=output,
        input={"seed": 7},
    )
    return s3, view
