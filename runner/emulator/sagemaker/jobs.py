"""Local SageMaker: moto's SageMaker API, with training and transform jobs that really run.

moto records CreateTrainingJob / CreateTransformJob and marks the jobs Completed at once,
without reading data or writing artifacts. `LocalSageMaker.installed()` wraps three methods
of moto's backend so that, like AWS, Create returns at once with the job InProgress and a
background thread does the work (a container process per host: `sagemaker_hosts`), reading and writing the emulator's
S3 through boto3; DescribeTrainingJob / DescribeTransformJob show the progress (status,
secondary status transitions, FailureReason, metrics) because the thread updates the very
objects moto describes.

Patched moto internals (moto/sagemaker/models.py, class SageMakerModelBackend):
  create_training_job, create_transform_job  -> name checks, then run the job in a thread
  create_model                                -> refuse duplicate names, as AWS does
  stop_training_job, stop_transform_job       -> added (moto has neither, nor their actions in
                                                 moto/sagemaker/responses.py SageMakerResponse)

Given an `AccessControl` (runner.emulator.iam), a job acts as SageMaker does with the role it was
given (the training job's RoleArn, the model's ExecutionRoleArn): its S3 reads and writes are
made with that role's credentials, its image pull (`ecr:GetAuthorizationToken`,
`ecr:BatchGetImage`, `ecr:GetDownloadUrlForLayer` on the image's repository) is checked when
the job starts, and its log and metric writes are checked as best effort (AWS drops them when
refused; the job goes on). A refused S3 or ECR access fails the job with a FailureReason naming it.

A training job downloads its channels' objects into a temporary folder per job (each at its
key's path below the prefix, as File mode does) and runs `sagemaker_hosts.train` on them: one
container process per instance in the environment of the image the job names (its TrainingImage's
tag), each on its ShardedByS3Key share. Its clock starts at Downloading and MaxRuntimeInSeconds
ends it at the next boosting round past the limit (Stopped, MaxRuntimeExceeded). A transform job
streams each input object through the container in mini-batches of at most MaxPayloadInMB and
uploads the answers as they come, a newline after each with AssembleWith Line (`assembled`).

Managed spot jobs (EnableManagedSpotTraining): the host's /opt/ml/checkpoints is restored from
CheckpointConfig.S3Uri before training and synced back after every round, as the job's role; the
local-only variable TRAINING_PIPELINE_LOCAL_SPOT_RECLAIM_AFTER_ROUND=k reclaims the instance once,
after round k: the job shows Interrupted, waits SPOT_CAPACITY_WAIT_SECONDS for capacity (unbilled),
and starts again on a fresh host. MaxWaitTimeInSeconds bounds it all. A job with
KeepAlivePeriodInSeconds reports WarmPoolStatus (Available, then Terminated); nothing reuses the pool.

StopTrainingJob and StopTransformJob (which moto lacks) set an InProgress job Stopping and ask
its thread to end it Stopped, as `request_stop` does when an execution is stopped (the Step
Functions service calls it). Differences from AWS worth knowing: a stop or the runtime limit is
noticed between rounds (a transform: between mini-batches), not within one (several instances:
within a poll, by ending the host processes); stopping a job that is not InProgress does nothing.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import math
import os
import re
import struct
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import boto3
from botocore.exceptions import BotoCoreError, ClientError
from moto.core.responses import EmptyResult
from moto.core.utils import utcnow
from moto.sagemaker.exceptions import ResourceInUseException, ResourceNotFound, ValidationError
from moto.sagemaker.models import SageMakerModelBackend
from moto.sagemaker.responses import SageMakerResponse

from lambda_src import xgboost_hyperparameters
from lambda_src.execution_input import is_job_name
from runner.container.failures import ContainerError, client_error
from runner.emulator.image_environments import EnvironmentUnavailable, image_version
from runner.emulator.sagemaker import hosts as sagemaker_hosts
from runner.emulator.sagemaker.hosts import Channel, Stopped
from runner.emulator.sagemaker.serving import Serving, decompress, model_archive

log = logging.getLogger(__name__)

TRAINING, TRANSFORM = "training-job", "transform-job"
_PATCHED = ("create_training_job", "create_transform_job", "create_model")
JOIN_SECONDS = 120.0
UPLOAD_PART_SIZE = 8 << 20  # S3's minimum part size is 5 MiB (except the last part)
DEFAULT_MAX_PAYLOAD_MB = 6  # CreateTransformJob's MaxPayloadInMB when not set
DOWNLOAD_CHUNK = 1 << 20
CSV_CONTENT_TYPES = ("text/csv", "csv")
# CreateTrainingJob's Channel.ChannelName (botocore's sagemaker service model): checked before
# anything is downloaded, since the name becomes a folder (/opt/ml/input/data/<channel>).
CHANNEL_NAME = re.compile(r"[A-Za-z0-9\.\-_]+")
CHANNEL_NAME_MAX = 64
_METRIC_VALUE = r"([-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)"
# The built-in algorithm's MetricDefinitions as DescribeTrainingJob shows them: channel x metric
# name of xgb_constants, each regex reading the tab-escaped ("#011") evaluation line.
METRIC_DEFINITIONS = [
    {"Name": f"{channel}:{metric}", "Regex": f".*\\[[0-9]+\\].*#011{channel}-{metric}:{_METRIC_VALUE}.*"}
    for channel in ("train", "validation")
    for metric in xgboost_hyperparameters.METRICS
]


# Local only: a managed spot job's instance is reclaimed once, after this many boosting rounds.
SPOT_RECLAIM_VARIABLE = "TRAINING_PIPELINE_LOCAL_SPOT_RECLAIM_AFTER_ROUND"
# How long a reclaimed job waits for new spot capacity here (not billed, as on AWS).
SPOT_CAPACITY_WAIT_SECONDS = 2.0
CHECKPOINT_LOCAL_PATH = "checkpoints"  # /opt/ml/checkpoints, CheckpointConfig's default LocalPath
# Files SageMaker does not upload from the checkpoint folder (checkpointing.py's suffixes).
CHECKPOINT_SKIPPED_SUFFIXES = (".sagemaker-ignore", ".sagemaker-uploading", ".sagemaker-uploaded")


class _Stopped(Exception):
    """The job was asked to stop."""


class _Reclaimed(Stopped):
    """The spot instance was reclaimed: the host is gone, the job restarts on a new one."""


def spot_reclaim_round(environ=os.environ) -> int | None:
    """The rehearsal's spot reclaim setting: after how many rounds, or None (never)."""
    raw = environ.get(SPOT_RECLAIM_VARIABLE, "").strip()
    if not raw:
        return None
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"{SPOT_RECLAIM_VARIABLE}: {raw!r} is not a number of rounds >= 1")
    return int(raw)


def _arn(backend: SageMakerModelBackend, kind: str, name: str) -> str:
    return f"arn:{backend.partition}:sagemaker:{backend.region_name}:{backend.account_id}:{kind}/{name}"


def _check_name(name: Any, member: str) -> None:
    if not is_job_name(name):  # SageMaker's pattern and its 63 characters
        raise ValidationError(
            f"1 validation error detected: Value '{name}' at '{member}' failed to satisfy "
            "constraint: Member must satisfy regular expression pattern: "
            "^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}"
        )


def _check_channel_names(input_data_config) -> None:
    """ChannelName's pattern and length (botocore's sagemaker model), as the API refuses them."""
    for index, channel in enumerate(input_data_config or [], start=1):
        name = channel.get("ChannelName") if isinstance(channel, dict) else None
        if not isinstance(name, str) or len(name) > CHANNEL_NAME_MAX or not CHANNEL_NAME.fullmatch(name):
            raise ValidationError(
                f"1 validation error detected: Value '{name}' at 'inputDataConfig.{index}.member.channelName' "
                f"failed to satisfy constraint: Member must satisfy regular expression pattern: "
                f"[A-Za-z0-9\\.\\-_]+ and have length less than or equal to {CHANNEL_NAME_MAX}"
            )


def final_metrics(log: Iterable[str]) -> dict[str, float]:
    """FinalMetricDataList: per defined metric, the last value its regex read from the log, stored as
    a float32 (SageMaker shows 1.19876 as 1.1987600326538086). inf and nan never match."""
    patterns = [(item["Name"], re.compile(item["Regex"])) for item in METRIC_DEFINITIONS]
    final: dict[str, float] = {}
    for line in log:
        escaped = line.replace("\t", "#011")
        for name, pattern in patterns:
            match = pattern.match(escaped)
            if match:
                try:
                    value = struct.unpack("f", struct.pack("f", float(match.group(1))))[0]
                except OverflowError:  # past float32's range: inf
                    continue
                if math.isfinite(value):
                    final[name] = value
    return final


def _split_s3_uri(uri: str) -> tuple[str, str]:
    parsed = urlparse(uri)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise client_error(f"{uri!r} is not an s3:// URI")
    return parsed.netloc, parsed.path.lstrip("/")


class LocalSageMaker:
    """Runs the jobs moto records; `wait` lets a follower block until a job ends."""

    def __init__(self, access=None) -> None:
        self._access = access  # runner.emulator.iam.AccessControl, or None: jobs act unchecked
        self._lock = threading.Lock()
        self._done: dict[tuple[str, str], threading.Event] = {}
        self._stop_requested: set[tuple[str, str]] = set()
        self._closing = threading.Event()
        self._threads: list[threading.Thread] = []
        self._timers: list[threading.Timer] = []
        self._session: boto3.session.Session | None = None
        self._clients: dict[str, Any] = {}

    # -- what the Step Functions service uses ---------------------------------------------------

    def wait(self, kind: str, name: str, timeout: float) -> bool:
        """Block until the job ends or `timeout` passes; True if it has ended.

        A job this object does not run (none such) just waits out the timeout.
        """
        with self._lock:
            done = self._done.get((kind, name))
        if done is None:
            time.sleep(timeout)
            return False
        return done.wait(timeout)

    def request_stop(self, kind: str, name: str) -> None:
        with self._lock:
            self._stop_requested.add((kind, name))

    def _should_stop(self, kind: str, name: str) -> bool:
        return self._closing.is_set() or (kind, name) in self._stop_requested

    # -- installation ---------------------------------------------------------------------------

    @contextlib.contextmanager
    def installed(self) -> Iterator[LocalSageMaker]:
        """Patch moto's SageMaker backend for the duration; stop and join the job threads on exit."""
        originals = {name: SageMakerModelBackend.__dict__[name] for name in _PATCHED}
        local = self

        def create_training_job(backend, *args, **kwargs):
            name = kwargs.get("training_job_name")
            _check_name(name, "trainingJobName")
            _check_channel_names(kwargs.get("input_data_config"))
            if name in backend.training_jobs:
                raise ResourceInUseException(
                    "Training job names must be unique within an AWS account and region, and a "
                    f"training job with this name already exists ({_arn(backend, TRAINING, name)})"
                )
            job = originals["create_training_job"](backend, *args, **kwargs)
            _begin_training(job)  # before Create returns: moto made it "Completed" already
            local._start(TRAINING, name, local._run_training, backend, job)
            return job

        def create_transform_job(backend, *args, **kwargs):
            name, model = kwargs.get("transform_job_name"), kwargs.get("model_name")
            _check_name(name, "transformJobName")
            if name in backend.transform_jobs:
                raise ResourceInUseException(
                    "Job name must be unique within an AWS account and region, and a job with "
                    f"this name already exists ({_arn(backend, TRANSFORM, name)})"
                )
            if model not in backend._models:
                raise ValidationError(f'Could not find model "{_arn(backend, "model", model)}".')
            job = originals["create_transform_job"](backend, *args, **kwargs)
            _begin_transform(job)
            local._start(TRANSFORM, name, local._run_transform, backend, job)
            return job

        def create_model(backend, *args, **kwargs):
            name = kwargs.get("model_name")
            _check_name(name, "modelName")
            if name in backend._models:
                raise ValidationError(f'Cannot create already existing model "{_arn(backend, "model", name)}".')
            return originals["create_model"](backend, *args, **kwargs)

        def stopper(kind: str, name_key: str, status_attribute: str):
            """StopTrainingJob / StopTransformJob: the backend method and moto's action for it."""

            def stop(backend, name: str) -> None:
                job = (backend.training_jobs if kind == TRAINING else backend.transform_jobs).get(name)
                if job is None:
                    raise ResourceNotFound(f"Could not find job {_arn(backend, kind, name)}")
                if getattr(job, status_attribute) == "InProgress":
                    setattr(job, status_attribute, "Stopping")
                    local.request_stop(kind, name)

            def action(response) -> EmptyResult:
                stop(response.sagemaker_backend, response._get_param(name_key))
                return EmptyResult()

            return stop, action

        patches = {
            "create_training_job": create_training_job,
            "create_transform_job": create_transform_job,
            "create_model": create_model,
        }
        actions = {}
        for kind, name_key, status in (
            (TRAINING, "TrainingJobName", "training_job_status"),
            (TRANSFORM, "TransformJobName", "transform_job_status"),
        ):
            attribute = f"stop_{kind.replace('-', '_')}"
            patches[attribute], actions[attribute] = stopper(kind, name_key, status)
        for name, function in patches.items():
            setattr(SageMakerModelBackend, name, function)
        for name, function in actions.items():
            setattr(SageMakerResponse, name, function)
        try:
            yield self
        finally:
            for name in patches:
                if name in originals:
                    setattr(SageMakerModelBackend, name, originals[name])
                else:
                    delattr(SageMakerModelBackend, name)
            for name in actions:
                delattr(SageMakerResponse, name)
            self.close()

    def close(self, timeout: float = JOIN_SECONDS) -> None:
        """Ask running jobs to stop and wait for their threads (they use the emulator's S3)."""
        self._closing.set()
        for timer in self._timers:
            timer.cancel()
        deadline = time.monotonic() + timeout
        for thread in list(self._threads):
            thread.join(max(0.0, deadline - time.monotonic()))
            if thread.is_alive():
                log.warning("local SageMaker job thread %s did not stop in time", thread.name)

    # -- job threads ----------------------------------------------------------------------------

    def _start(self, kind: str, name: str, run: Callable, backend, job) -> None:
        done = threading.Event()
        with self._lock:
            self._done[(kind, name)] = done
            self._stop_requested.discard((kind, name))

        def target() -> None:
            try:
                run(backend, job)
            finally:
                done.set()

        # The job's calls belong to the execution that created it (iam.EXECUTION).
        thread = threading.Thread(
            target=contextvars.copy_context().run, args=(target,), name=f"local-sagemaker-{kind}-{name}", daemon=True
        )
        self._threads.append(thread)
        thread.start()

    def _s3(self, backend, role_arn: str | None):
        """The S3 client of the job's role; without access control, one client per region shared
        by the job threads (clients are thread-safe; creating them from one session is not, hence
        the lock). That session is the jobs' own; the service models it reads are those the
        deployment loaded (`service_models`)."""
        if self._access is not None:
            return self._access.client("s3", self._access.principal(role_arn, "SageMaker"), backend.region_name)
        with self._lock:
            if self._session is None:
                self._session = boto3.session.Session()
            if backend.region_name not in self._clients:
                self._clients[backend.region_name] = self._session.client("s3", region_name=backend.region_name)
            return self._clients[backend.region_name]

    # training

    def _run_training(self, backend, job) -> None:
        name = job.training_job_name
        stopping = job.stopping_condition or {}
        limit = stopping.get("MaxRuntimeInSeconds")
        spot = bool(job.enable_managed_spot_training)
        max_wait = stopping.get("MaxWaitTimeInSeconds") if spot else None
        created = time.monotonic()
        deadline: list[float] = []  # set when the job's clock starts (Downloading), as on AWS
        waited = 0.0  # seconds spent waiting for spot capacity: not billed

        def out_of_time() -> bool:
            return bool(limit) and bool(deadline) and time.monotonic() >= deadline[0]

        def out_of_wait() -> bool:
            return bool(max_wait) and time.monotonic() >= created + float(max_wait)

        def stop_requested() -> bool:
            return self._should_stop(TRAINING, name) or out_of_time() or out_of_wait()

        try:
            reclaim_after = spot_reclaim_round() if spot else None
            s3 = self._s3(backend, job.role_arn)
            checkpoints = _checkpoint_uri(job)
            while True:
                try:
                    result = self._train_once(
                        backend, job, s3, checkpoints, stop_requested, deadline, limit, reclaim_after
                    )
                    break
                except _Reclaimed:
                    reclaim_after = None  # once: the next instance keeps running
                    _transition(
                        job,
                        "Interrupted",
                        "The Spot instance was reclaimed: the job restarts "
                        "from its checkpoints when capacity is available",
                    )
                    began = time.monotonic()
                    while time.monotonic() - began < SPOT_CAPACITY_WAIT_SECONDS:
                        if stop_requested():
                            raise Stopped() from None
                        time.sleep(0.05)
                    waited += time.monotonic() - began
                    deadline[0] += time.monotonic() - began  # MaxRuntime counts time on instances only
                    _transition(job, "Starting", "Preparing the instances for training")
            self._checkpoint(TRAINING, name)
            _transition(job, "Uploading", "Uploading generated training model")
            artifact = f"{job.output_data_config['S3OutputPath'].rstrip('/')}/{name}/output/model.tar.gz"
            bucket, key = _split_s3_uri(artifact)
            _s3_call(lambda: upload(s3, bucket, key, [model_archive(result.model)]), "Uploading the model failed")
            job.model_artifacts = {"S3ModelArtifacts": artifact}
            metrics = final_metrics(result.log)
            now = utcnow()
            job.final_metric_data_list = [
                {"MetricName": metric, "Value": value, "Timestamp": now} for metric, value in metrics.items()
            ]
            if metrics:
                self._put_metrics(job.role_arn, "/aws/sagemaker/TrainingJobs")
            _end_training(job, "Completed", "Training job completed", unbilled_seconds=waited)
            self._keep_warm(job)
        except (_Stopped, Stopped):
            if self._should_stop(TRAINING, name):
                _end_training(job, "Stopped", "Training job stopped", status="Stopped", unbilled_seconds=waited)
            elif out_of_wait():
                _end_training(
                    job,
                    "MaxWaitTimeExceeded",
                    "Training job exceeded MaxWaitTimeInSeconds provided",
                    status="Stopped",
                    unbilled_seconds=waited,
                )
            elif out_of_time():
                _end_training(
                    job,
                    "MaxRuntimeExceeded",
                    "Training job exceeded MaxRuntimeInSeconds provided",
                    status="Stopped",
                    unbilled_seconds=waited,
                )
            else:
                _end_training(job, "Stopped", "Training job stopped", status="Stopped", unbilled_seconds=waited)
        except ContainerError as error:
            _end_training(
                job, "Failed", "Training job failed", status="Failed", reason=error.reason, unbilled_seconds=waited
            )
        except EnvironmentUnavailable as error:
            _end_training(
                job,
                "Failed",
                "Training job failed",
                status="Failed",
                reason=f"ClientError: {error}",
                unbilled_seconds=waited,
            )
        except Exception as error:  # a bug here must still end the job, as a platform error would
            log.exception("local training job %s crashed", name)
            _end_training(
                job,
                "Failed",
                "Training job failed",
                status="Failed",
                reason=f"AlgorithmError: {type(error).__name__}: {error}",
            )

    def _train_once(
        self,
        backend,
        job,
        s3,
        checkpoints: str | None,
        stop_requested,
        deadline: list[float],
        limit,
        reclaim_after: int | None,
    ) -> sagemaker_hosts.TrainingResult:
        """One run of the job on fresh instances: download, restore the checkpoints, train. A spot
        reclaim after `reclaim_after` rounds raises _Reclaimed once that round's checkpoints are synced."""
        name = job.training_job_name
        with tempfile.TemporaryDirectory(prefix="sagemaker_training_") as host:
            self._checkpoint(TRAINING, name)
            _transition(job, "Downloading", "Downloading input data")
            if not deadline:
                deadline.append(time.monotonic() + float(limit or 0))
            mode = job.algorithm_specification.get("TrainingInputMode") or "File"
            channels = [
                _download_channel(s3, channel, job.role_arn, backend.region_name, Path(host), mode)
                for channel in job.input_data_config or []
            ]
            local_checkpoints = Path(host) / CHECKPOINT_LOCAL_PATH if checkpoints else None
            if local_checkpoints is not None:
                _restore_checkpoints(s3, checkpoints, local_checkpoints)
            self._pull_image(job.role_arn, job.algorithm_specification.get("TrainingImage", ""), backend)
            self._write_logs(job.role_arn, backend, "TrainingJobs", f"{name}/algo-1")
            if stop_requested():
                raise Stopped()
            _transition(job, "Training", "Training image download completed. Training in progress.")
            instances = int((job.resource_config or {}).get("InstanceCount") or 1)
            synced: dict[str, tuple[int, int]] = {}

            def on_round(epoch: int) -> None:
                if local_checkpoints is not None:
                    _sync_checkpoints(s3, local_checkpoints, checkpoints, synced)
                if reclaim_after is not None and epoch + 1 >= reclaim_after:
                    raise _Reclaimed()

            version = image_version(job.algorithm_specification.get("TrainingImage", ""))
            try:
                return sagemaker_hosts.train(
                    version,
                    channels,
                    job.input_data_config,
                    instances,
                    dict(job.hyper_parameters or {}),
                    stop_requested,
                    checkpoint_dir=local_checkpoints,
                    on_round=on_round,
                    on_log=training_log(backend, name),
                )
            finally:
                if local_checkpoints is not None and local_checkpoints.exists():
                    _sync_checkpoints(s3, local_checkpoints, checkpoints, synced)

    def _keep_warm(self, job) -> None:
        """ResourceConfig.KeepAlivePeriodInSeconds: the instances wait in a warm pool (Available),
        then are released (Terminated, the retained time billed). No later job reuses them here."""
        keep_alive = int((job.resource_config or {}).get("KeepAlivePeriodInSeconds") or 0)
        if not keep_alive:
            return
        job.warm_pool_status = {"Status": "Available"}

        def release() -> None:
            job.warm_pool_status = {"Status": "Terminated", "ResourceRetainedBillableTimeInSeconds": keep_alive}

        timer = threading.Timer(keep_alive, release)
        timer.daemon = True
        self._timers.append(timer)
        timer.start()

    # transform

    def _run_transform(self, backend, job) -> None:
        name = job.transform_job_name
        try:
            _check_transform_request(job)
            model = backend._models[job.model_name]
            s3 = self._s3(backend, model.execution_role_arn)
            container_spec = model.primary_container or (model.containers or [{}])[0]
            self._pull_image(model.execution_role_arn, container_spec.get("Image", ""), backend)
            self._write_logs(model.execution_role_arn, backend, "TransformJobs", f"{name}/local-1")
            model_url = container_spec.get("ModelDataUrl")
            if not model_url:
                raise client_error(f"Model {job.model_name} has no ModelDataUrl")
            bucket, key = _split_s3_uri(model_url)
            model_tar_gz = _s3_call(
                lambda: s3.get_object(Bucket=bucket, Key=key)["Body"].read(),
                f"Failed to download model data from {model_url}",
            )
            transform_input = job.transform_input or {}
            source = transform_input.get("DataSource", {}).get("S3DataSource", {})
            output_path = job.transform_output["S3OutputPath"].rstrip("/")
            out_bucket, out_prefix = _split_s3_uri(output_path)
            in_bucket = _split_s3_uri(source.get("S3Uri", ""))[0]
            max_payload = int(job.max_payload_in_mb or DEFAULT_MAX_PAYLOAD_MB) << 20
            inputs = _list_inputs(s3, source, backend.region_name)
            with Serving(image_version(container_spec.get("Image", "")), model_tar_gz) as serving:
                for in_key, relative in inputs:
                    self._checkpoint(TRANSFORM, name)
                    body = _s3_call(
                        lambda in_key=in_key: s3.get_object(Bucket=in_bucket, Key=in_key)["Body"],
                        f"Failed to download s3://{in_bucket}/{in_key}",
                    )
                    if (transform_input.get("CompressionType") or "None") == "Gzip":
                        chunks = [decompress(body.read(), "Gzip", in_key)]
                    else:
                        chunks = body.iter_chunks(DOWNLOAD_CHUNK)
                    answers = serving.transform(chunks, max_payload)
                    predictions = self._until_stopped(TRANSFORM, name, assembled(answers, job.transform_output))
                    out_key = f"{out_prefix}/{relative}.out" if out_prefix else f"{relative}.out"
                    _s3_call(
                        lambda out_key=out_key, predictions=predictions: upload(s3, out_bucket, out_key, predictions),
                        f"Failed to upload s3://{out_bucket}/{out_key}",
                    )
            _end_transform(job, "Completed")
        except _Stopped:
            _end_transform(job, "Stopped")
        except ContainerError as error:
            _end_transform(job, "Failed", reason=error.reason)
        except EnvironmentUnavailable as error:
            _end_transform(job, "Failed", reason=f"ClientError: {error}")
        except Exception as error:
            log.exception("local transform job %s crashed", name)
            _end_transform(job, "Failed", reason=f"AlgorithmError: {type(error).__name__}: {error}")

    # what SageMaker does with the job's role without a request to the emulator

    def _pull_image(self, role_arn: str, image: str, backend) -> None:
        if self._access is None:
            return
        from components.pipeline import ecr_repository_arn
        from runner.emulator.iam import AccessDenied

        principal = self._access.principal(role_arn, "SageMaker")
        try:
            repository = ecr_repository_arn(image, backend.partition)
        except ValueError:
            raise client_error(f"Cannot pull the image {image!r}: not an ECR image URI") from None
        try:
            self._access.authorize(principal, "ecr:GetAuthorizationToken", "*")
            for action in ("ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"):
                self._access.authorize(principal, action, repository)
        except AccessDenied as denied:
            raise client_error(f"Cannot pull the algorithm image {image}: {denied}") from None

    def _write_logs(self, role_arn: str, backend, group: str, stream: str) -> None:
        if self._access is None:
            return
        principal = self._access.principal(role_arn, "SageMaker")
        arn = (
            f"arn:{backend.partition}:logs:{backend.region_name}:{backend.account_id}:"
            f"log-group:/aws/sagemaker/{group}:log-stream:{stream}-{int(time.time())}"
        )
        for action in ("logs:CreateLogStream", "logs:PutLogEvents"):
            self._access.authorize(principal, action, arn, best_effort=True)

    def _put_metrics(self, role_arn: str, namespace: str) -> None:
        if self._access is not None:
            self._access.authorize(
                self._access.principal(role_arn, "SageMaker"),
                "cloudwatch:PutMetricData",
                "*",
                {"cloudwatch:namespace": namespace},
                best_effort=True,
            )

    def _checkpoint(self, kind: str, name: str) -> None:
        if self._should_stop(kind, name):
            raise _Stopped()

    def _until_stopped(self, kind: str, name: str, pieces: Iterable[bytes]) -> Iterator[bytes]:
        """`pieces` (a transform's answers, one mini-batch each), checking for a stop before each."""
        for piece in pieces:
            self._checkpoint(kind, name)
            yield piece


def assembled(answers: Iterable[bytes], transform_output: dict | None) -> Iterator[bytes]:
    """The container's answers, one per mini-batch, as SageMaker joins them into the `.out` object.
    AssembleWith Line: "add a newline character at the end of every transformed record"
    (CreateTransformJob). SageMaker cannot see records inside an answer, so the newline is taken
    to follow each answer, even one that ends in a newline already, as the container's batch
    answers do: a blank line after every mini-batch. Whether SageMaker skips it then is not
    documented; the results reader accepts both (runner.metrics.without_assembly_blanks)."""
    line = ((transform_output or {}).get("AssembleWith") or "None") == "Line"
    for answer in answers:
        yield answer + b"\n" if line else answer


def _check_transform_request(job) -> None:
    """What the local serving container cannot do fails the job rather than giving other output."""
    content_type = ((job.transform_input or {}).get("ContentType") or "").split(";")[0].strip().lower()
    if content_type not in CSV_CONTENT_TYPES:
        raise client_error(
            f"Content-type {content_type or '(none)'} not supported by the local container: use text/csv"
        )
    accept = (job.transform_output or {}).get("Accept") or "text/csv"
    if accept.split(";")[0].strip().lower() not in CSV_CONTENT_TYPES:
        raise client_error(f"Accept {accept} not supported by the local container: use text/csv")
    processing = job.data_processing or {}
    if (
        processing.get("InputFilter", "$") != "$"
        or processing.get("OutputFilter", "$") != "$"
        or processing.get("JoinSource", "None") != "None"
    ):
        raise client_error("DataProcessing (input/output filters, JoinSource) is not supported by the local container")


# -- S3 -----------------------------------------------------------------------------------------


def _s3_call(call: Callable[[], Any], what: str) -> Any:
    try:
        return call()
    except (ClientError, BotoCoreError) as error:
        raise client_error(f"{what}: {error}") from None


def _list_keys(s3, uri: str) -> tuple[str, list[str]]:
    bucket, prefix = _split_s3_uri(uri)
    keys: list[str] = []
    paginator = s3.get_paginator("list_objects_v2")
    for page in _s3_call(
        lambda: list(paginator.paginate(Bucket=bucket, Prefix=prefix)), f"Data download failed: could not list {uri}"
    ):
        keys += [item["Key"] for item in page.get("Contents", []) if not item["Key"].endswith("/")]
    return prefix, keys


def _no_objects(uri: str, region: str, role_arn: str | None) -> ContainerError:
    bucket = _split_s3_uri(uri)[0]
    return client_error(
        f'Data download failed: No S3 objects found under S3 URL "{uri}" given in input data '
        f"source. Please ensure that the bucket exists in the selected region ({region}), that "
        f'objects exist under that S3 prefix, and that the role "{role_arn}" has '
        f'"s3:ListBucket" permissions on bucket "{bucket}".'
    )


def _download_channel(s3, channel: dict, role_arn: str | None, region: str, host: Path, mode: str) -> Channel:
    """The channel's objects under /opt/ml/input/data/<channel>/ (here `host`/<channel>/), each at its
    key's path below the S3 prefix, as File mode downloads them."""
    source = channel.get("DataSource", {}).get("S3DataSource")
    name = channel.get("ChannelName", "")
    if not source:
        raise client_error(f"Channel {name}: only S3DataSource is supported locally")
    if source.get("S3DataType", "S3Prefix") != "S3Prefix":
        raise client_error(f"Channel {name}: S3DataType {source['S3DataType']} is not supported locally (use S3Prefix)")
    uri = source["S3Uri"]
    bucket = _split_s3_uri(uri)[0]
    prefix, keys = _list_keys(s3, uri)
    if not keys:
        raise _no_objects(uri, region, role_arn)
    base = prefix if not prefix or prefix.endswith("/") else prefix[: prefix.rfind("/") + 1]
    directory = host / "data" / name
    if name in ("", ".", "..") or directory.resolve().parent != (host / "data").resolve():
        raise client_error(f"Channel {name!r}: not a folder name (the container's /opt/ml/input/data/<channel>)")
    directory.mkdir(parents=True, exist_ok=True)
    for key in keys:
        target = directory / (key[len(base) :] or key.rsplit("/", 1)[-1])
        if not target.resolve().is_relative_to(directory.resolve()):
            raise client_error(f"Data download failed: s3://{bucket}/{key} would land outside the channel directory")
        target.parent.mkdir(parents=True, exist_ok=True)
        data = _s3_call(
            lambda key=key: s3.get_object(Bucket=bucket, Key=key)["Body"].read(),
            f"Data download failed: s3://{bucket}/{key}",
        )
        target.write_bytes(decompress(data, channel.get("CompressionType"), key))
    return Channel(
        name=name, content_type=channel.get("ContentType"), path=directory, input_mode=channel.get("InputMode") or mode
    )


TRAINING_LOG_GROUP = "/aws/sagemaker/TrainingJobs"


def training_log(backend, job_name: str) -> Callable[[str], None]:
    """Where a training host's log lines go: CloudWatch Logs, as on SageMaker (group
    /aws/sagemaker/TrainingJobs, stream `<job>/algo-1-<epoch seconds>`), so that run.py reads a
    rehearsed job's rounds as it reads a real one's. Written to moto's backend directly: it is
    SageMaker's own write, not a request of the job's role (checked apart, by `_write_logs`)."""
    from moto.logs.exceptions import ResourceAlreadyExistsException
    from moto.logs.models import logs_backends

    logs = logs_backends[backend.account_id][backend.region_name]
    stream = f"{job_name}/algo-1-{int(time.time())}"
    with contextlib.suppress(ResourceAlreadyExistsException):
        logs.create_log_group(TRAINING_LOG_GROUP, {})
    with contextlib.suppress(ResourceAlreadyExistsException):
        logs.create_log_stream(TRAINING_LOG_GROUP, stream)

    def write(line: str) -> None:
        logs.put_log_events(TRAINING_LOG_GROUP, stream, [{"timestamp": int(time.time() * 1000), "message": line}])

    return write


def _checkpoint_uri(job) -> str | None:
    uri = (job.checkpoint_config or {}).get("S3Uri")
    if uri and (job.checkpoint_config or {}).get("LocalPath", "/opt/ml/checkpoints") != "/opt/ml/checkpoints":
        raise client_error(
            "CheckpointConfig.LocalPath other than /opt/ml/checkpoints is not supported by the local container"
        )
    return uri or None


def _restore_checkpoints(s3, uri: str, local: Path) -> None:
    """What SageMaker copies into the checkpoint folder before the container starts: every object
    under CheckpointConfig.S3Uri (none on a first start)."""
    bucket = _split_s3_uri(uri)[0]
    prefix, keys = _list_keys(s3, uri)
    base = prefix if not prefix or prefix.endswith("/") else prefix[: prefix.rfind("/") + 1]
    local.mkdir(parents=True, exist_ok=True)
    for key in keys:
        target = local / key[len(base) :]
        if not target.resolve().is_relative_to(local.resolve()):
            raise client_error(
                f"Checkpoint download failed: s3://{bucket}/{key} would land outside the checkpoint folder"
            )
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(
            _s3_call(
                lambda key=key: s3.get_object(Bucket=bucket, Key=key)["Body"].read(),
                f"Checkpoint download failed: s3://{bucket}/{key}",
            )
        )


def _sync_checkpoints(s3, local: Path, uri: str, synced: dict[str, tuple[int, int]]) -> None:
    """SageMaker uploads new and changed files of the checkpoint folder to CheckpointConfig.S3Uri
    while the job runs (here: after each round). Deleted files are not deleted in S3."""
    bucket, prefix = _split_s3_uri(uri)
    prefix = prefix if not prefix or prefix.endswith("/") else prefix + "/"
    for path in sorted(local.rglob("*")):
        if not path.is_file() or path.name.endswith(CHECKPOINT_SKIPPED_SUFFIXES):
            continue
        relative = path.relative_to(local).as_posix()
        stat = path.stat()
        if synced.get(relative) == (stat.st_size, stat.st_mtime_ns):
            continue
        data = path.read_bytes()
        _s3_call(
            lambda relative=relative, data=data: s3.put_object(Bucket=bucket, Key=prefix + relative, Body=data),
            f"Checkpoint upload failed: s3://{bucket}/{prefix}{relative}",
        )
        synced[relative] = (stat.st_size, stat.st_mtime_ns)


def _list_inputs(s3, source: dict, region: str) -> list[tuple[str, str]]:
    """(key, output name) of every transform input; the output name keeps the path under the prefix."""
    if source.get("S3DataType", "S3Prefix") != "S3Prefix":
        raise client_error(f"S3DataType {source.get('S3DataType')} is not supported locally (use S3Prefix)")
    uri = source["S3Uri"]
    prefix, keys = _list_keys(s3, uri)
    if not keys:
        raise _no_objects(uri, region, None)
    # "s3://b/runs/x/test/" -> "test.csv"; "s3://b/runs/x/test.csv" -> "test.csv"
    base = prefix if not prefix or prefix.endswith("/") else prefix[: prefix.rfind("/") + 1]
    return [(key, key[len(base) :]) for key in keys]


def upload(s3, bucket: str, key: str, pieces: Iterable[bytes]) -> None:
    """Store `pieces` as one object the way SageMaker uploads job output: a multipart upload
    (one PutObject when it all fits in one part), aborted if anything fails.

    Memory stays at about one part, and no request carries a huge body: botocore's checksum
    trailer and moto grow a body chunk by chunk (`bytes +=`), quadratic in its size (a 110 MB
    PutObject took 10 s, the same bytes in 8 MiB parts well under 1 s).
    """
    target = {"Bucket": bucket, "Key": key}
    buffer: list[bytes] = []
    size, upload_id, parts = 0, None, []

    def send_part() -> None:
        nonlocal buffer, size
        body, buffer, size = b"".join(buffer), [], 0
        response = s3.upload_part(
            **target, UploadId=upload_id, PartNumber=len(parts) + 1, Body=body, ChecksumAlgorithm="CRC32"
        )
        parts.append(
            {"PartNumber": len(parts) + 1, "ETag": response["ETag"], "ChecksumCRC32": response["ChecksumCRC32"]}
        )

    try:
        for piece in pieces:
            buffer.append(piece)
            size += len(piece)
            if size >= UPLOAD_PART_SIZE:
                if upload_id is None:
                    upload_id = s3.create_multipart_upload(**target, ChecksumAlgorithm="CRC32")["UploadId"]
                send_part()
        if upload_id is None:
            s3.put_object(**target, Body=b"".join(buffer))
            return
        if buffer:
            send_part()
        s3.complete_multipart_upload(**target, UploadId=upload_id, MultipartUpload={"Parts": parts})
    except BaseException:
        if upload_id is not None:
            with contextlib.suppress(ClientError, BotoCoreError):
                s3.abort_multipart_upload(**target, UploadId=upload_id)
        raise


# -- status bookkeeping (attributes moto's Describe* serialises) ----------------------------------


def _begin_training(job) -> None:
    now = utcnow()
    job.training_job_status = "InProgress"
    job.secondary_status = "Starting"
    job.secondary_status_transitions = [
        {"Status": "Starting", "StartTime": now, "StatusMessage": "Preparing the instances for training"}
    ]
    job.model_artifacts = None  # appears once the model is uploaded
    job.final_metric_data_list = None
    job.training_start_time = job.training_end_time = None
    job.failure_reason = None
    job.algorithm_specification["MetricDefinitions"] = [dict(item) for item in METRIC_DEFINITIONS]
    job.last_modified_time = now


def _transition(job, status: str, message: str) -> None:
    now = utcnow()
    transitions = [dict(item) for item in job.secondary_status_transitions]
    if transitions and "EndTime" not in transitions[-1]:
        transitions[-1]["EndTime"] = now
    transitions.append({"Status": status, "StartTime": now, "StatusMessage": message})
    if status == "Downloading" and job.training_start_time is None:  # a restart keeps the first
        job.training_start_time = now
    job.secondary_status_transitions = transitions  # swapped whole: a reader never sees half
    job.secondary_status = status
    job.last_modified_time = now


def _end_training(
    job,
    secondary: str,
    message: str,
    status: str = "Completed",
    reason: str | None = None,
    unbilled_seconds: float = 0.0,
) -> None:
    """Ends the job. TrainingTimeInSeconds runs from Downloading to the end; BillableTimeInSeconds
    leaves out a spot job's waits for capacity (AWS's also reflects the spot discount: the rehearsal
    has no spot market, so here it is the seconds on instances, lost rounds included)."""
    _transition(job, secondary, message)
    now = utcnow()
    job.secondary_status_transitions[-1]["EndTime"] = now
    job.training_end_time = now
    job.failure_reason = reason
    if job.training_start_time is not None:
        elapsed = (now - job.training_start_time).total_seconds()
        job.training_time_in_seconds = max(1, int(elapsed))
        job.billable_time_in_seconds = max(1, int(elapsed - unbilled_seconds))
    job.training_job_status = status  # last: a follower that sees it sees everything else too


def _begin_transform(job) -> None:
    now = utcnow()
    job.transform_job_status = "InProgress"
    job.failure_reason = None
    job.labeling_job_arn = job.auto_ml_job_arn = None  # moto's "" would show as empty fields
    job.transform_start_time = now
    job.transform_end_time = None
    job.last_modified_time = now


def _end_transform(job, status: str, reason: str | None = None) -> None:
    now = utcnow()
    job.transform_end_time = job.last_modified_time = now
    job.failure_reason = reason
    job.transform_job_status = status
