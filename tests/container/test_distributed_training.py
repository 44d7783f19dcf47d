"""Training on several instances as SageMaker runs it: one process per host, XGBoost's rabit.

The reference is XGBoost 1.7.4's own distributed mode, run by a plain two-worker script
(`bench/plain_distributed.py`) on the same shards; the rules are the 1.7-1 container's
(`distributed.py`, `algorithm_mode/train.py`).
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import boto3
import botocore.exceptions
import numpy as np
import pytest
from emulated_execution import start_and_wait

from components import PROJECT_DIR
from components.settings import load_stack_settings
from runner.container.failures import ContainerError
from runner.emulator import local_stack
from runner.emulator.image_environments import python_for
from runner.emulator.sagemaker import container_pool
from runner.emulator.sagemaker import hosts as sagemaker_hosts
from runner.emulator.sagemaker import jobs as sagemaker_jobs
from runner.emulator.sagemaker.hosts import Channel, Stopped

PLAIN = PROJECT_DIR / "bench" / "plain_distributed.py"
HYPERPARAMETERS = {"objective": "binary:logistic", "num_round": "5", "eval_metric": "logloss"}
VERSION = "1.7-1"  # the image these tests were written for; the ones that differ per image say so
EXACT_REFUSED = "Updater `grow_colmaker` or `exact` tree method doesn't support distributed training."


def _rows(seed: int, count: int, noise: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """The sample's rule on real-valued x, y in [0, 100] (3 decimals): label y >= 3x + 5, some
    flipped. Real values: on the sample's integers (101 values, fewer than max_bin) approx finds
    the splits exact finds, and one process on all shards would predict the same."""
    rng = np.random.default_rng(seed)
    features = rng.uniform(0, 100, size=(count, 2)).round(3)
    labels = (features[:, 1] >= 3 * features[:, 0] + 5).astype(np.float32)
    flipped = rng.random(count) < noise
    labels[flipped] = 1 - labels[flipped]
    return features, labels


def _write_csv(path: Path, features: np.ndarray, labels: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savetxt(path, np.column_stack([labels, features]), fmt="%g", delimiter=",")
    return path


def _channel(directory: Path, name: str = "train") -> Channel:
    return Channel(name=name, content_type="text/csv", path=directory)


def _train(channels, config, count, hyperparameters, *args, version=VERSION, **kwargs):
    return sagemaker_hosts.train(version, channels, config, count, hyperparameters, *args, **kwargs)


def _sharded(*names: str) -> list[dict]:
    return [
        {
            "ChannelName": name,
            "DataSource": {
                "S3DataSource": {
                    "S3DataType": "S3Prefix",
                    "S3Uri": f"s3://bucket/runs/x/csv/{name}/",
                    "S3DataDistributionType": "ShardedByS3Key",
                }
            },
        }
        for name in names
    ]


_PREDICT = """
import io, sys, numpy as np, xgboost as xgb
booster = xgb.Booster(); booster.load_model(sys.argv[1])
features = np.load(io.BytesIO(sys.stdin.buffer.read()))
np.save(sys.stdout.buffer, booster.predict(xgb.DMatrix(features), output_margin=sys.argv[2] == "margin"))
"""
_ONE_PROCESS = """
import json, sys, xgboost as xgb
params = json.loads(sys.argv[3])
booster = xgb.train(params, xgb.DMatrix(sys.argv[1] + "?format=csv&label_column=0", silent=True), 5)
booster.save_model(sys.argv[2])
"""


def _predict(model: bytes, features: np.ndarray, version: str = VERSION, margin: bool = False) -> np.ndarray:
    """The model's predictions by the image's library (in its environment)."""
    import io
    import tempfile

    with tempfile.NamedTemporaryFile(suffix=".model") as file:
        file.write(model)
        file.flush()
        buffer = io.BytesIO()
        np.save(buffer, features)
        done = subprocess.run(
            [str(python_for(version)), "-W", "ignore", "-c", _PREDICT, file.name, "margin" if margin else "value"],
            input=buffer.getvalue(),
            capture_output=True,
            check=True,
        )
    return np.load(io.BytesIO(done.stdout))


def _plain_distributed(
    tmp_path: Path, shards: list[Path], hyperparameters: dict[str, str], version: str = VERSION
) -> bytes:
    model = tmp_path / "plain-model"
    hp = [argument for key, value in hyperparameters.items() for argument in ("--hp", f"{key}={value}")]
    subprocess.run(
        [str(python_for(version)), str(PLAIN), str(model), *map(str, shards), *hp], check=True, capture_output=True
    )
    return model.read_bytes()


def _one_process(tmp_path: Path, data: Path, params: dict, version: str = VERSION) -> bytes:
    """Plain xgb.train in one process on `data` (5 rounds)."""
    model = tmp_path / "one-process-model"
    subprocess.run(
        [str(python_for(version)), "-W", "ignore", "-c", _ONE_PROCESS, str(data), str(model), json.dumps(params)],
        check=True,
        capture_output=True,
    )
    return model.read_bytes()


@pytest.fixture
def two_shards(tmp_path):
    """20,000 training rows in two objects, as the pipeline writes them for two instances."""
    train = tmp_path / "download" / "train"
    return [_write_csv(train / f"part-{index:05d}.csv", *_rows(index + 1, 10_000)) for index in range(2)]


@pytest.fixture
def test_matrix():
    return _rows(99, 5_000)[0].astype(np.float32)


@pytest.mark.parametrize("version", ["1.7-1", "3.2-0"])
def test_two_instances_predict_what_plain_two_worker_xgboost_predicts_on_the_same_shards(
    tmp_path, two_shards, test_matrix, version
):
    result = _train([_channel(two_shards[0].parent)], _sharded("train"), 2, HYPERPARAMETERS, version=version)
    rehearsal = _predict(result.model, test_matrix, version)

    # the library's own choice for `auto` in distributed training (1.7.4: approx; 3.x: hist)
    plain = _plain_distributed(tmp_path, two_shards, HYPERPARAMETERS, version)
    assert np.array_equal(rehearsal, _predict(plain, test_matrix, version))
    assert result.rows == {"train": 20_000}
    assert len(result.log) == 5 and result.log[-1].startswith("[4]\ttrain-logloss:")

    # What the emulation did before: one process on every shard (exact, below 2^22 rows).
    every_shard = tmp_path / "every-shard.csv"
    every_shard.write_bytes(b"".join(shard.read_bytes() for shard in two_shards))
    if version == "1.7-1":  # exact on one process; 3.x's hist sketches differ less
        one_process = _one_process(tmp_path, every_shard, {"objective": "binary:logistic"}, version)
        assert (rehearsal != _predict(one_process, test_matrix, version)).mean() > 0.05


def test_each_host_gets_its_sharded_by_s3_key_share_and_every_object_when_fully_replicated(tmp_path):
    assert [sagemaker_hosts.shard(["d", "a", "c", "b", "e"], index, 2) for index in range(2)] == [
        ["a", "c", "e"],
        ["b", "d"],
    ]
    train, validation = tmp_path / "download" / "train", tmp_path / "download" / "validation"
    for name in ("part-00000.csv", "part-00001.csv", "deeper/part-00002.csv"):
        _write_csv(train / name, *_rows(1, 3))
    _write_csv(validation / "validation.csv", *_rows(2, 3))
    config = _sharded("train") + [
        {
            "ChannelName": "validation",
            "DataSource": {
                "S3DataSource": {
                    "S3Uri": "s3://bucket/runs/x/csv/validation/",
                    "S3DataDistributionType": "FullyReplicated",
                }
            },
        }
    ]
    hosts = sagemaker_hosts.host_names(2)
    distributions = sagemaker_hosts._distributions(config)
    layouts = {}
    for host in hosts:
        host_dir = sagemaker_hosts._write_host(
            tmp_path / "hosts",
            host,
            hosts,
            [_channel(train), _channel(validation, "validation")],
            distributions,
            {"num_round": "1"},
        )
        data = host_dir / "input" / "data"
        layouts[host] = sorted(path.relative_to(data).as_posix() for path in data.rglob("*") if path.is_file())
        resources = json.loads((host_dir / "input" / "config" / "resourceconfig.json").read_text())
        assert resources == {"current_host": host, "hosts": ["algo-1", "algo-2"]}
    # Keys in order: .../deeper/part-00002.csv sorts before .../part-00000.csv
    assert layouts == {
        "algo-1": ["train/deeper/part-00002.csv", "train/part-00001.csv", "validation/validation.csv"],
        "algo-2": ["train/part-00000.csv", "validation/validation.csv"],
    }


@pytest.mark.parametrize("version", ["1.7-1", "3.0-5", "3.2-0"])
def test_tree_method_exact_fails_the_job_with_the_containers_algorithm_error(two_shards, version):
    with pytest.raises(ContainerError) as failed:
        _train(
            [_channel(two_shards[0].parent)],
            _sharded("train"),
            2,
            {**HYPERPARAMETERS, "tree_method": "exact"},
            version=version,
        )
    assert failed.value.reason.startswith("AlgorithmError: XGB train call failed with exception:\n")
    assert EXACT_REFUSED in failed.value.reason


def test_a_host_without_data_leaves_and_the_others_train_as_two_instances_do(tmp_path, two_shards, test_matrix):
    two = _train([_channel(two_shards[0].parent)], _sharded("train"), 2, HYPERPARAMETERS)
    # Three instances, two objects: algo-3 gets none and leaves after the first round.
    three = _train([_channel(two_shards[0].parent)], _sharded("train"), 3, HYPERPARAMETERS)
    assert np.array_equal(_predict(three.model, test_matrix), _predict(two.model, test_matrix))
    assert three.rows == {"train": 20_000}


def test_one_host_with_data_trains_alone_as_a_single_node_job_exact_included(tmp_path, test_matrix):
    train = tmp_path / "download" / "train"
    shard = _write_csv(train / "part-00000.csv", *_rows(1, 10_000))
    (train / "part-00001.csv").write_bytes(b"")  # algo-2's share: no bytes, so it leaves
    result = _train([_channel(train)], _sharded("train"), 2, {**HYPERPARAMETERS, "tree_method": "exact"})
    alone = _one_process(tmp_path, shard, {"objective": "binary:logistic", "tree_method": "exact"})
    assert np.array_equal(_predict(result.model, test_matrix), _predict(alone, test_matrix))
    assert result.rows == {"train": 10_000}


def test_a_host_without_validation_data_leaves_too(tmp_path, two_shards, test_matrix):
    validation = tmp_path / "download" / "validation"
    _write_csv(validation / "validation.csv", *_rows(7, 1_000))  # one object: algo-2 gets none
    result = _train(
        [_channel(two_shards[0].parent), _channel(validation, "validation")],
        _sharded("train", "validation"),
        2,
        HYPERPARAMETERS,
    )
    assert result.rows == {"train": 10_000, "validation": 1_000}
    assert result.log[-1].startswith("[4]\ttrain-logloss:") and "\tvalidation-logloss:" in result.log[-1]


def test_metrics_are_averaged_over_the_hosts_as_xgboost_does_in_distributed_training(tmp_path):
    train = tmp_path / "download" / "train"
    shards = [_rows(1, 3_000), _rows(2, 1_000, noise=0.2)]  # host 2 is far less accurate
    for index, (features, labels) in enumerate(shards):
        _write_csv(train / f"part-{index:05d}.csv", features, labels)
    result = _train([_channel(train)], _sharded("train"), 2, {**HYPERPARAMETERS, "eval_metric": "accuracy"})
    per_host = [
        float(np.mean((_predict(result.model, features.astype(np.float32), margin=True) > 0) == labels))
        for features, labels in shards
    ]
    reported = sagemaker_jobs.final_metrics(result.log)["train:accuracy"]
    assert reported == pytest.approx(round(np.mean(per_host), 5), abs=1e-7)
    overall = (per_host[0] * 3_000 + per_host[1] * 1_000) / 4_000  # not what the container reports
    assert round(overall, 5) != round(np.mean(per_host), 5)


class _Recorder:
    """The host processes `train` starts and the directory it writes their files in."""

    def __init__(self, monkeypatch):
        self.processes: list[subprocess.Popen] = []
        real = subprocess.Popen

        def popen(*args, **kwargs):
            process = real(*args, **kwargs)
            self.processes.append(process)
            return process

        monkeypatch.setattr(container_pool.subprocess, "Popen", popen)
        self.roots: list[Path] = []
        real_mkdtemp = sagemaker_hosts.tempfile.mkdtemp

        def mkdtemp(*args, **kwargs):
            self.roots.append(Path(real_mkdtemp(*args, **kwargs)))
            return str(self.roots[-1])

        monkeypatch.setattr(sagemaker_hosts.tempfile, "mkdtemp", mkdtemp)

    def all_ended(self) -> bool:
        return bool(self.processes) and all(process.poll() is not None for process in self.processes)


def test_a_host_that_fails_fails_the_job_with_its_reason_and_ends_every_host(tmp_path, monkeypatch):
    recorder = _Recorder(monkeypatch)
    train = tmp_path / "download" / "train"
    _write_csv(train / "part-00000.csv", *_rows(1, 1_000))
    (train / "part-00001.csv").write_bytes(b"1,2,3\n1,inf,2\n")  # inf: xgboost's parser refuses it
    with pytest.raises(ContainerError) as failed:
        _train([_channel(train)], _sharded("train"), 2, HYPERPARAMETERS)
    assert failed.value.reason.startswith("ClientError: Failed to load csv data with exception:")
    assert recorder.all_ended()
    assert recorder.roots and not any(root.exists() for root in recorder.roots)  # the hosts' files too


@pytest.mark.parametrize("bad_host", [0, 1])
def test_a_host_failing_in_training_is_reported_not_the_peer_it_leaves_behind(tmp_path, bad_host):
    """The other host then fails too (rabit's "Allreduce failed"): the job reports the cause."""
    train = tmp_path / "download" / "train"
    for index in range(2):
        features, labels = _rows(index, 2_000)
        _write_csv(train / f"part-{index:05d}.csv", features, labels * (2 if index == bad_host else 1))
    with pytest.raises(ContainerError) as failed:
        _train([_channel(train)], _sharded("train"), 2, {"objective": "reg:logistic", "num_round": "5"})
    assert failed.value.reason.startswith("ClientError: ")
    assert "label must be in [0,1] for logistic regression" in failed.value.reason


def test_a_stop_request_ends_every_host(tmp_path, two_shards, monkeypatch):
    recorder = _Recorder(monkeypatch)
    started = threading.Event()

    def stop_requested() -> bool:
        return started.is_set()

    threading.Timer(1.0, started.set).start()
    with pytest.raises(Stopped):
        _train(
            [_channel(two_shards[0].parent)],
            _sharded("train"),
            2,
            {**HYPERPARAMETERS, "num_round": "100000"},
            stop_requested,
        )
    assert len(recorder.processes) == 2 and recorder.all_ended()


def test_a_host_killed_from_outside_fails_the_job_as_an_algorithm_error(tmp_path, two_shards, monkeypatch):
    recorder = _Recorder(monkeypatch)

    def kill_algo_2() -> bool:
        if len(recorder.processes) == 2 and recorder.processes[1].poll() is None:
            time.sleep(0.5)
            recorder.processes[1].send_signal(signal.SIGKILL)
        return False

    with pytest.raises(ContainerError) as failed:
        _train(
            [_channel(two_shards[0].parent)],
            _sharded("train"),
            2,
            {**HYPERPARAMETERS, "num_round": "100000"},
            kill_algo_2,
        )
    assert failed.value.reason.startswith("AlgorithmError: host algo-2 was killed by signal 9")
    assert recorder.all_ended()


def test_more_instances_than_the_rehearsal_runs_fail_the_job_naming_the_limit(two_shards, monkeypatch):
    recorder = _Recorder(monkeypatch)
    with pytest.raises(ContainerError) as failed:
        _train(
            [_channel(two_shards[0].parent)], _sharded("train"), sagemaker_hosts.MAX_LOCAL_HOSTS + 1, HYPERPARAMETERS
        )
    assert failed.value.reason == (
        "ClientError: InstanceCount 17: the offline rehearsal runs one process per instance, at most 16; "
        "rehearse with fewer instances (run this count on AWS)"
    )
    assert recorder.processes == [] and recorder.roots == []


def test_the_local_stack_refuses_more_instances_than_it_runs_before_starting_anything(monkeypatch):
    from runner.emulator import stack

    settings = dataclasses.replace(load_stack_settings("dev"), training_instance_count=17)
    monkeypatch.setattr(stack, "mock_aws", lambda **_: pytest.fail("the emulator started"))
    with pytest.raises(stack.DeployError) as refused:
        with stack.local_stack(settings):
            pass
    assert str(refused.value).startswith(
        "trainingInstanceCount 17: the offline rehearsal runs one process per instance, at most 16;"
    )


def test_a_host_process_ends_when_its_parent_goes_away(tmp_path, two_shards):
    """A host waiting for the others (here for a tracker no one starts) exits once its stdin closes."""
    hosts = sagemaker_hosts.host_names(2)
    host_dirs = [
        sagemaker_hosts._write_host(
            tmp_path / "hosts",
            host,
            hosts,
            [_channel(two_shards[0].parent)],
            sagemaker_hosts._distributions(_sharded("train")),
            HYPERPARAMETERS,
            None,
        )
        for host in hosts
    ]
    process = container_pool.start(VERSION)
    process.stdin.write(json.dumps({"job": "train", "ml": str(host_dirs[1])}).encode() + b"\n")
    process.stdin.flush()
    time.sleep(3.0)
    assert process.poll() is None  # algo-2 waits for algo-1's tracker
    process.stdin.close()
    assert process.wait(timeout=30) == 1
    process.stdout.close()


# -- through the rehearsal's state machine ----------------------------------------------------------


def _execute(outputs, execution_input, name, timeout=120):
    return start_and_wait(outputs, name, execution_input, timeout)


def two_instance_config(engine_module):
    """The dev stack's config with trainingInstanceCount 2, as `pulumi config set` would write it."""
    dev = engine_module.stack_config

    def stack_config(stack: str = "dev", *args) -> dict:
        return {**dev(stack, *args), "training-pipeline:trainingInstanceCount": 2}

    return stack_config


@pytest.fixture(scope="class")
def two_instance_stack():
    from runner.emulator import engine

    settings = dataclasses.replace(load_stack_settings("dev"), training_instance_count=2)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(engine, "stack_config", two_instance_config(engine))
        with local_stack(settings) as outputs:
            yield outputs


def _download(outputs, uri: str, target: Path) -> list[Path]:
    s3 = boto3.client("s3", region_name=outputs["region"])
    bucket, _, prefix = uri.removeprefix("s3://").partition("/")
    paths = []
    for item in s3.list_objects_v2(Bucket=bucket, Prefix=prefix)["Contents"]:
        path = target / item["Key"].rsplit("/", 1)[-1]
        path.write_bytes(s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read())
        paths.append(path)
    return sorted(paths)


class TestTwoInstanceRehearsal:
    """One deployed stack with trainingInstanceCount 2 (torn down before the next test deploys)."""

    def test_the_rehearsal_trains_two_instances_as_plain_two_worker_xgboost_does(self, two_instance_stack, tmp_path):
        outputs = two_instance_stack
        # max_bin 32: fewer bins than the generator's 101 values, so approx and exact split differently
        described = _execute(
            outputs,
            {"rows": 20_000, "hyperparameters": {"max_bin": 32}},
            f"{outputs['jobNamePrefix']}--two-{int(time.time())}",
        )
        assert described["status"] == "SUCCEEDED", described.get("cause")
        result = json.loads(described["output"])
        sagemaker = boto3.client("sagemaker", region_name=outputs["region"])
        job = sagemaker.describe_training_job(TrainingJobName=result["training"]["jobName"])
        assert job["ResourceConfig"]["InstanceCount"] == 2
        shards = _download(outputs, result["dataset"]["train_uri"], tmp_path)
        assert [path.name for path in shards] == ["part-00000.csv", "part-00001.csv"]

        s3 = boto3.client("s3", region_name=outputs["region"])
        bucket, _, key = result["training"]["modelDataUrl"].removeprefix("s3://").partition("/")
        import io
        import tarfile

        with tarfile.open(fileobj=io.BytesIO(s3.get_object(Bucket=bucket, Key=key)["Body"].read())) as archive:
            rehearsal = archive.extractfile("xgboost-model").read()
        version = outputs["trainingImage"].rsplit(":", 1)[1]
        hyperparameters = {key: value for key, value in job["HyperParameters"].items()}
        plain = _plain_distributed(tmp_path, shards, hyperparameters, version)
        test_matrix = np.random.default_rng(5).integers(0, 101, size=(2_000, 2)).astype(np.float32)
        predictions = _predict(rehearsal, test_matrix, version)
        assert np.array_equal(predictions, _predict(plain, test_matrix, version))

    def test_a_two_instance_run_with_tree_method_exact_is_refused_before_any_job(self, two_instance_stack):
        """On AWS it fails in training, billed (test_tree_method_exact_fails_the_job_with_the_containers_
        algorithm_error shows the hosts do the same); the first state refuses it before that."""
        outputs = two_instance_stack
        name = f"{outputs['jobNamePrefix']}--exact-{int(time.time())}"
        described = _execute(
            outputs,
            {"rows": 400, "hyperparameters": {"objective": "reg:logistic", "num_round": "5", "tree_method": "exact"}},
            name,
        )
        assert described["status"] == "FAILED" and described["error"] == "InvalidExecutionInput"
        assert "exact" in described["cause"] and "trainingInstanceCount" in described["cause"], described["cause"]
        with pytest.raises(botocore.exceptions.ClientError, match="Could not find training job"):
            boto3.client("sagemaker", region_name=outputs["region"]).describe_training_job(TrainingJobName=name)

    def test_max_runtime_stops_every_host_as_sagemaker_reports_it(self, two_instance_stack, tmp_path):
        outputs = two_instance_stack
        bucket, region = outputs["bucketName"], outputs["region"]
        name = f"{outputs['jobNamePrefix']}--deadline-{int(time.time())}"
        s3 = boto3.client("s3", region_name=region)
        for index in range(2):
            s3.put_object(
                Bucket=bucket,
                Key=f"runs/{name}/csv/train/part-{index:05d}.csv",
                Body=_write_csv(tmp_path / f"{index}.csv", *_rows(index, 2_000)).read_bytes(),
            )
        sagemaker = boto3.client("sagemaker", region_name=region)
        sagemaker.create_training_job(
            TrainingJobName=name,
            RoleArn=outputs["sageMakerRoleArn"],
            HyperParameters={"num_round": "1000000", "objective": "binary:logistic"},
            AlgorithmSpecification={"TrainingImage": outputs["trainingImage"], "TrainingInputMode": "File"},
            InputDataConfig=[
                {
                    "ChannelName": "train",
                    "ContentType": "text/csv",
                    "DataSource": {
                        "S3DataSource": {
                            "S3DataType": "S3Prefix",
                            "S3Uri": f"s3://{bucket}/runs/{name}/csv/train/",
                            "S3DataDistributionType": "ShardedByS3Key",
                        }
                    },
                }
            ],
            OutputDataConfig={"S3OutputPath": f"s3://{bucket}/runs/{name}/model"},
            ResourceConfig={"InstanceType": "ml.m5.xlarge", "InstanceCount": 2, "VolumeSizeInGB": 1},
            StoppingCondition={"MaxRuntimeInSeconds": 3},
        )
        deadline = time.monotonic() + 60
        hosts_seen = False
        while (job := sagemaker.describe_training_job(TrainingJobName=name))["TrainingJobStatus"] == "InProgress":
            assert time.monotonic() < deadline, "the job outlived its MaxRuntimeInSeconds by a minute"
            hosts_seen = hosts_seen or bool(_host_processes())
            time.sleep(0.1)
        assert hosts_seen
        assert (job["TrainingJobStatus"], job["SecondaryStatus"]) == ("Stopped", "MaxRuntimeExceeded")
        assert _host_processes() == []


def _host_processes() -> list[int]:
    """This process's children that are training hosts (Linux /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            if (
                parent == os.getpid()
                and b"runner.container" in (entry / "cmdline").read_bytes()
                and int(entry.name) not in container_pool.spare_ids()
            ):  # a warm one waits for a job
                found.append(int(entry.name))
        except (OSError, ValueError, IndexError):
            continue
    return found
