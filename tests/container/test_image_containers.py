"""Each SageMaker XGBoost image runs in an environment of its own, as a process of its own.

Through the local SageMaker API (CreateTrainingJob, CreateModel, CreateTransformJob), a job
naming image 1.7-1, 3.0-5 or 3.2-0 trains and transforms in that image's environment
(.image-envs/<version>) and answers exactly what a plain script on that image's library answers
(bench/plain_distributed.py, run with the same environment's interpreter: one process, or two
workers and a tracker for two instances). The model file is in the image's format and loads in
its library. This test process itself never imports xgboost.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import boto3
import numpy as np
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from runner.container.images import IMAGES
from runner.emulator.image_environments import ROOT, python_for
from runner.emulator.sagemaker import jobs as sagemaker_jobs

BUCKET, REGION, ROLE = "image-test-bucket", "us-east-1", "arn:aws:iam::123456789012:role/r"
HYPERPARAMETERS = {"objective": "binary:logistic", "num_round": "6", "max_depth": "3"}


def _rows(seed: int, count: int, labels: bool = True) -> bytes:
    rng = np.random.default_rng(seed)
    xy = rng.integers(0, 101, size=(count, 2))
    label = (xy[:, 1] >= 3 * xy[:, 0] + 5).astype(int)
    return "".join((f"{y_true}," if labels else "") + f"{x},{y}\n" for y_true, (x, y) in zip(label, xy)).encode()


SHARDS = [_rows(1, 300), _rows(2, 300)]
HELD_OUT = _rows(3, 200, labels=False)


@pytest.fixture
def sagemaker():
    with mock_aws(), sagemaker_jobs.LocalSageMaker().installed():
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET)
        for index, shard in enumerate(SHARDS):
            s3.put_object(Bucket=BUCKET, Key=f"train/part-{index:05d}.csv", Body=shard)
        s3.put_object(Bucket=BUCKET, Key="test/test.csv", Body=HELD_OUT)
        yield boto3.client("sagemaker", region_name=REGION), s3


def _image(version: str) -> str:
    return f"683313688378.dkr.ecr.{REGION}.amazonaws.com/sagemaker-xgboost:{version}"


def _wait(describe, status_key: str) -> dict:
    deadline = time.monotonic() + 120
    while (job := describe())[status_key] == "InProgress":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    return job


def _train(sagemaker, name: str, version: str, instances: int, prefix: str = "train/", channel: str = "train"):
    sagemaker.create_training_job(
        TrainingJobName=name,
        RoleArn=ROLE,
        HyperParameters=HYPERPARAMETERS,
        AlgorithmSpecification={"TrainingImage": _image(version), "TrainingInputMode": "File"},
        InputDataConfig=[
            {
                "ChannelName": channel,
                "ContentType": "text/csv",
                "DataSource": {
                    "S3DataSource": {
                        "S3DataType": "S3Prefix",
                        "S3Uri": f"s3://{BUCKET}/{prefix}",
                        "S3DataDistributionType": "ShardedByS3Key",
                    }
                },
            }
        ],
        OutputDataConfig={"S3OutputPath": f"s3://{BUCKET}/model"},
        ResourceConfig={"InstanceType": "ml.m5.xlarge", "InstanceCount": instances, "VolumeSizeInGB": 1},
        StoppingCondition={"MaxRuntimeInSeconds": 600},
    )
    return _wait(lambda: sagemaker.describe_training_job(TrainingJobName=name), "TrainingJobStatus")


def _transform(sagemaker, s3, name: str, version: str, model_url: str) -> tuple[dict, bytes | None]:
    sagemaker.create_model(
        ModelName=name, ExecutionRoleArn=ROLE, PrimaryContainer={"Image": _image(version), "ModelDataUrl": model_url}
    )
    sagemaker.create_transform_job(
        TransformJobName=name,
        ModelName=name,
        BatchStrategy="MultiRecord",
        TransformInput={
            "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"s3://{BUCKET}/test/"}},
            "ContentType": "text/csv",
            "SplitType": "Line",
        },
        TransformOutput={"S3OutputPath": f"s3://{BUCKET}/out/{name}"},
        TransformResources={"InstanceType": "ml.m5.xlarge", "InstanceCount": 1},
    )
    job = _wait(lambda: sagemaker.describe_transform_job(TransformJobName=name), "TransformJobStatus")
    if job["TransformJobStatus"] != "Completed":
        return job, None
    return job, s3.get_object(Bucket=BUCKET, Key=f"out/{name}/test.csv.out")["Body"].read()


def _model_file(s3, model_url: str) -> bytes:
    key = model_url.split(f"s3://{BUCKET}/", 1)[1]
    with tarfile.open(fileobj=io.BytesIO(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())) as archive:
        return archive.extractfile("xgboost-model").read()


def _plain(version: str, tmp_path: Path, instances: int) -> bytes:
    """bench/plain_distributed.py in the image's environment: one process, or a worker per shard."""
    shards = []
    for index, shard in enumerate(SHARDS[:instances] if instances > 1 else SHARDS[:1]):
        shards.append(tmp_path / f"shard-{index}.csv")
        shards[-1].write_bytes(shard)
    (tmp_path / "held-out.csv").write_bytes(HELD_OUT)
    model = tmp_path / "plain-model"
    hp = [argument for key, value in HYPERPARAMETERS.items() for argument in ("--hp", f"{key}={value}")]
    subprocess.run(
        [
            str(python_for(version)),
            "-W",
            "ignore",
            str(ROOT / "bench" / "plain_distributed.py"),
            str(model),
            *map(str, shards),
            *hp,
            "--predict",
            str(tmp_path / "held-out.csv"),
        ],
        check=True,
        capture_output=True,
    )
    return Path(f"{model}.out").read_bytes()


@pytest.mark.parametrize("instances", [1, 2])
@pytest.mark.parametrize("version", list(IMAGES))
def test_each_image_predicts_as_a_plain_script_on_its_library_and_saves_its_format(
    sagemaker, tmp_path, version, instances
):
    client, s3 = sagemaker
    # One instance: one object under the prefix (the plain script's one file); two: a shard each.
    prefix = "train/part-00000" if instances == 1 else "train/"
    name = f"img-{version.replace('.', '-')}-{instances}"
    job = _train(client, name, version, instances, prefix=prefix)
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    model_url = job["ModelArtifacts"]["S3ModelArtifacts"]
    transform, answer = _transform(client, s3, name, version, model_url)
    assert transform["TransformJobStatus"] == "Completed", transform.get("FailureReason")
    assert answer == _plain(version, tmp_path, instances)
    assert answer.count(b"\n") == HELD_OUT.count(b"\n")
    if instances == 1:
        _check_model_file(_model_file(s3, model_url), version, tmp_path)


def _check_model_file(model: bytes, version: str, tmp_path: Path) -> None:
    """In the image's format (1.7.4: legacy binary, "binf"; 3.x: UBJSON), and it loads in the image's library."""
    assert model.startswith(IMAGES[version].model_magic)
    (tmp_path / "xgboost-model").write_bytes(model)
    loaded = subprocess.run(
        [
            str(python_for(version)),
            "-c",
            "import sys, xgboost; b = xgboost.Booster(); "
            "b.load_model(sys.argv[1]); print(xgboost.__version__, b.num_boosted_rounds())",
            str(tmp_path / "xgboost-model"),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert loaded.stdout.split() == [IMAGES[version].xgboost, HYPERPARAMETERS["num_round"]]


def test_a_1_7_1_model_does_not_load_in_the_3_2_0_image(sagemaker):
    """xgboost 3.1+ cannot load the legacy binary format: a 1.7-1 model must be retrained for 3.x."""
    client, s3 = sagemaker
    job = _train(client, "legacy-model", "1.7-1", 1)
    transform, answer = _transform(client, s3, "legacy-model", "3.2-0", job["ModelArtifacts"]["S3ModelArtifacts"])
    assert transform["TransformJobStatus"] == "Failed" and answer is None
    assert transform["FailureReason"].startswith(
        "ClientError: Unable to load model: Model xgboost-model cannot be loaded"
    )


def test_pipe_mode_is_refused_by_the_image_that_has_none(sagemaker):
    client, _ = sagemaker
    for version, refused in (("3.2-0", True), ("3.0-5", False)):
        name = f"pipe-{version.replace('.', '-')}"
        client.create_training_job(
            TrainingJobName=name,
            RoleArn=ROLE,
            HyperParameters=HYPERPARAMETERS,
            AlgorithmSpecification={"TrainingImage": _image(version), "TrainingInputMode": "Pipe"},
            InputDataConfig=[
                {
                    "ChannelName": "train",
                    "ContentType": "text/csv",
                    "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"s3://{BUCKET}/train/"}},
                }
            ],
            OutputDataConfig={"S3OutputPath": f"s3://{BUCKET}/model"},
            ResourceConfig={"InstanceType": "ml.m5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 1},
            StoppingCondition={"MaxRuntimeInSeconds": 600},
        )
        job = _wait(lambda name=name: client.describe_training_job(TrainingJobName=name), "TrainingJobStatus")
        if refused:
            assert job["FailureReason"] == (
                "ClientError: Pipe mode for CSV is no longer supported. Please use Fast "
                "File mode (default) instead. Set input_mode='File' in your SageMaker "
                "Estimator or TrainingInput."
            )
        else:
            assert job["TrainingJobStatus"] == "Completed"


@pytest.mark.parametrize("channel", ["../../x", "/tmp/escaped-channel", "a" * 65])
def test_a_channel_name_outside_awss_pattern_is_refused_before_anything_is_downloaded(
    sagemaker, tmp_path, monkeypatch, channel
):
    client, _ = sagemaker
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    with pytest.raises(ClientError, match="channelName' failed to satisfy constraint"):
        _train(client, "bad-channel", "3.2-0", 1, channel=channel)
    assert list(tmp_path.iterdir()) == [] and not Path("/tmp/escaped-channel").exists()
    with pytest.raises(ClientError, match="ResourceNotFound|Could not find"):
        client.describe_training_job(TrainingJobName="bad-channel")


def test_an_s3_key_that_would_land_outside_its_channel_fails_the_job_and_writes_nothing(
    sagemaker, tmp_path, monkeypatch
):
    client, s3 = sagemaker
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path / "work"))
    (tmp_path / "work").mkdir()
    s3.put_object(Bucket=BUCKET, Key="evil/../../../escaped.csv", Body=SHARDS[0])
    job = _train(client, "bad-key", "3.2-0", 1, prefix="evil/")
    assert job["TrainingJobStatus"] == "Failed"
    assert "would land outside the channel directory" in job["FailureReason"]
    assert [path.name for path in tmp_path.rglob("escaped.csv")] == []


def test_an_image_environment_that_cannot_be_made_is_one_line_exit_2_and_nothing_started(tmp_path):
    """No index reachable: `run.py --local` says so in one line after its one progress line, exit 2."""
    env = {
        **os.environ,
        "RUNNER_IMAGE_ENVS": str(tmp_path / "envs"),
        "PIP_INDEX_URL": "http://127.0.0.1:9/simple",
        "PIP_RETRIES": "0",
        "PIP_TIMEOUT": "2",
        "PIP_NO_CACHE_DIR": "1",
    }
    runs_before = set((ROOT / "runs").glob("*")) if (ROOT / "runs").exists() else set()
    done = subprocess.run(
        [sys.executable, "run.py", "--local", "--name", "no-env-test"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith("Making the environment of the SageMaker XGBoost"), lines
    assert "cannot make the environment of the SageMaker XGBoost" in lines[1] and "Traceback" not in done.stderr
    assert done.stdout == ""
    assert [path.name for path in (tmp_path / "envs").iterdir() if not path.name.startswith(".")] == []
    assert (set((ROOT / "runs").glob("*")) if (ROOT / "runs").exists() else set()) == runs_before


def test_a_job_takes_a_warm_container_process_the_next_starts_and_a_dead_one_is_replaced():
    """run.py --local and run.py serve keep one process per image loaded ahead (container_pool)."""
    from runner.emulator.sagemaker import container_pool

    container_pool.keep_warm("3.2-0")
    try:
        warm = container_pool.spare_ids()
        assert len(warm) == container_pool.SPARES_PER_IMAGE
        taken = container_pool.start("3.2-0")
        assert taken.pid == warm[0]  # the job did not start an interpreter of its own
        waiting = container_pool.spare_ids()
        assert waiting[0] == warm[1] and len(waiting) == container_pool.SPARES_PER_IMAGE  # the next started
        os.kill(waiting[0], 9)
        time.sleep(0.5)
        replaced = container_pool.start("3.2-0")
        assert replaced.pid == waiting[1] and replaced.poll() is None  # the dead one was passed over
    finally:
        container_pool.close()
    assert container_pool.spare_ids() == []
    for process in (taken, replaced):
        process.stdin.close()  # no job line: the process exits
        assert process.wait(30) == 0
        process.stdout.close()
