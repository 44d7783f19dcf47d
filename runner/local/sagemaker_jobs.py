"""Local SageMaker: moto's SageMaker API, with training and transform jobs that really run.

moto records CreateTrainingJob / CreateTransformJob and marks the jobs Completed at once,
without reading data or writing artifacts. `LocalSageMaker.installed()` wraps three methods
of moto's backend so that, like AWS, Create returns at once with the job InProgress and a
background thread does the work (`sagemaker_container`), reading and writing the emulator's
S3 through boto3; DescribeTrainingJob / DescribeTransformJob show the progress (status,
secondary status transitions, FailureReason, metrics) because the thread updates the very
objects moto describes.

Patched moto internals (moto/sagemaker/models.py, class SageMakerModelBackend):
  create_training_job, create_transform_job  -> name checks, then run the job in a thread
  create_model                                -> refuse duplicate names, as AWS does

Given an `AccessControl` (runner.local.iam), a job acts as SageMaker does with the role it was
given (the training job's RoleArn, the model's ExecutionRoleArn): its S3 reads and writes are
made with that role's credentials, its image pull (`ecr:GetAuthorizationToken`,
`ecr:BatchGetImage`, `ecr:GetDownloadUrlForLayer` on the image's repository) is checked when
the job starts, and its log and metric writes are checked as best effort (AWS drops them when
refused; the job goes on). A refused S3 or ECR access fails the job with a FailureReason naming it.

A training job downloads its channels' objects into a temporary folder per job (each at its
key's path below the prefix, as File mode does) and runs `container.train_host` on them, or, with
InstanceCount > 1, `sagemaker_hosts.train`: one process per instance, each on its ShardedByS3Key
share, training through XGBoost's rabit. Its clock starts at Downloading and MaxRuntimeInSeconds
ends it at the next boosting round past the limit (Stopped, MaxRuntimeExceeded). A transform job
streams each input object through the container in mini-batches of at most MaxPayloadInMB and
uploads the answers as they come.

Differences from AWS worth knowing: StopTrainingJob is not offered by moto,
so stopping goes through `request_stop` (the Step Functions service calls it when an
execution is stopped); a stop or the runtime limit is noticed between rounds, not within one
(several instances: within a poll, by ending the host processes).
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator
from urllib.parse import urlparse

import boto3
from botocore.exceptions import BotoCoreError, ClientError
from moto.core.utils import utcnow
from moto.sagemaker.exceptions import ResourceInUseException, ValidationError
from moto.sagemaker.models import SageMakerModelBackend

from lambda_src.execution_input import JOB_NAME_PATTERN
from runner.local import sagemaker_container as container
from runner.local import sagemaker_hosts

log = logging.getLogger(__name__)

TRAINING, TRANSFORM = "training-job", "transform-job"
_PATCHED = ("create_training_job", "create_transform_job", "create_model")
JOIN_SECONDS = 120.0
UPLOAD_PART_SIZE = 8 << 20  # S3's minimum part size is 5 MiB (except the last part)
DEFAULT_MAX_PAYLOAD_MB = 6  # CreateTransformJob's MaxPayloadInMB when not set
DOWNLOAD_CHUNK = 1 << 20


class _Stopped(Exception):
    """The job was asked to stop."""


def _arn(backend: SageMakerModelBackend, kind: str, name: str) -> str:
    return f"arn:{backend.partition}:sagemaker:{backend.region_name}:{backend.account_id}:{kind}/{name}"


def _check_name(name: Any, member: str) -> None:
    if not isinstance(name, str) or not JOB_NAME_PATTERN.match(name):
        raise ValidationError(
            f"1 validation error detected: Value '{name}' at '{member}' failed to satisfy "
            "constraint: Member must satisfy regular expression pattern: "
            "^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}")


def _split_s3_uri(uri: str) -> tuple[str, str]:
    parsed = urlparse(uri)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise container.client_error(f"{uri!r} is not an s3:// URI")
    return parsed.netloc, parsed.path.lstrip("/")


class LocalSageMaker:
    """Runs the jobs moto records; `wait` lets a follower block until a job ends."""

    def __init__(self, access=None) -> None:
        self._access = access  # runner.local.iam.AccessControl, or None: jobs act unchecked
        self._lock = threading.Lock()
        self._done: dict[tuple[str, str], threading.Event] = {}
        self._stop_requested: set[tuple[str, str]] = set()
        self._closing = threading.Event()
        self._threads: list[threading.Thread] = []
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
    def installed(self) -> Iterator["LocalSageMaker"]:
        """Patch moto's SageMaker backend for the duration; stop and join the job threads on exit."""
        originals = {name: SageMakerModelBackend.__dict__[name] for name in _PATCHED}
        local = self

        def create_training_job(backend, *args, **kwargs):
            name = kwargs.get("training_job_name")
            _check_name(name, "trainingJobName")
            if name in backend.training_jobs:
                raise ResourceInUseException(
                    "Training job names must be unique within an AWS account and region, and a "
                    f"training job with this name already exists ({_arn(backend, TRAINING, name)})")
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
                    f"this name already exists ({_arn(backend, TRANSFORM, name)})")
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
                raise ValidationError(
                    f'Cannot create already existing model "{_arn(backend, "model", name)}".')
            return originals["create_model"](backend, *args, **kwargs)

        patches = {"create_training_job": create_training_job,
                   "create_transform_job": create_transform_job, "create_model": create_model}
        for name, function in patches.items():
            setattr(SageMakerModelBackend, name, function)
        try:
            yield self
        finally:
            for name, function in originals.items():
                setattr(SageMakerModelBackend, name, function)
            self.close()

    def close(self, timeout: float = JOIN_SECONDS) -> None:
        """Ask running jobs to stop and wait for their threads (they use the emulator's S3)."""
        self._closing.set()
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
        thread = threading.Thread(target=contextvars.copy_context().run, args=(target,),
                                  name=f"local-sagemaker-{kind}-{name}", daemon=True)
        self._threads.append(thread)
        thread.start()

    def _s3(self, backend, role_arn: str | None):
        """The S3 client of the job's role; without access control, one client per region shared
        by the job threads (clients are thread-safe; creating them from one session is not, hence
        the lock). That session is the jobs' own; the service models it reads are those the
        deployment loaded (`service_models`)."""
        if self._access is not None:
            return self._access.client("s3", self._access.principal(role_arn, "SageMaker"),
                                       backend.region_name)
        with self._lock:
            if self._session is None:
                self._session = boto3.session.Session()
            if backend.region_name not in self._clients:
                self._clients[backend.region_name] = self._session.client(
                    "s3", region_name=backend.region_name)
            return self._clients[backend.region_name]

    # training

    def _run_training(self, backend, job) -> None:
        name = job.training_job_name
        limit = (job.stopping_condition or {}).get("MaxRuntimeInSeconds")
        deadline: list[float] = []  # set when the job's clock starts (Downloading), as on AWS

        def out_of_time() -> bool:
            return bool(limit) and bool(deadline) and time.monotonic() >= deadline[0]

        def stop_requested() -> bool:
            return self._should_stop(TRAINING, name) or out_of_time()

        try:
            with tempfile.TemporaryDirectory(prefix="sagemaker_training_") as host:
                s3 = self._s3(backend, job.role_arn)
                self._checkpoint(TRAINING, name)
                _transition(job, "Downloading", "Downloading input data")
                deadline.append(time.monotonic() + float(limit or 0))
                channels = [_download_channel(s3, channel, job.role_arn, backend.region_name, Path(host))
                            for channel in job.input_data_config or []]
                self._pull_image(job.role_arn, job.algorithm_specification.get("TrainingImage", ""), backend)
                self._write_logs(job.role_arn, backend, "TrainingJobs", f"{name}/algo-1")
                if stop_requested():
                    raise container.Stopped()
                _transition(job, "Training", "Training image download completed. Training in progress.")
                instances = int((job.resource_config or {}).get("InstanceCount") or 1)
                if instances > 1:
                    result = sagemaker_hosts.train(channels, job.input_data_config, instances,
                                                   dict(job.hyper_parameters or {}), stop_requested)
                else:
                    result = container.train_host(channels, dict(job.hyper_parameters or {}),
                                                  stop_requested=stop_requested)
            self._checkpoint(TRAINING, name)
            _transition(job, "Uploading", "Uploading generated training model")
            artifact = f"{job.output_data_config['S3OutputPath'].rstrip('/')}/{name}/output/model.tar.gz"
            bucket, key = _split_s3_uri(artifact)
            _s3_call(lambda: upload(s3, bucket, key, [result.model_tar_gz]), "Uploading the model failed")
            job.model_artifacts = {"S3ModelArtifacts": artifact}
            metrics = container.final_metrics(result.log)
            now = utcnow()
            job.final_metric_data_list = [{"MetricName": metric, "Value": value, "Timestamp": now}
                                          for metric, value in metrics.items()]
            if metrics:
                self._put_metrics(job.role_arn, "/aws/sagemaker/TrainingJobs")
            _end_training(job, "Completed", "Training job completed")
        except (_Stopped, container.Stopped):
            if out_of_time() and not self._should_stop(TRAINING, name):
                _end_training(job, "MaxRuntimeExceeded", "Training job exceeded MaxRuntimeInSeconds "
                              "provided", status="Stopped")
            else:
                _end_training(job, "Stopped", "Training job stopped", status="Stopped")
        except container.ContainerError as error:
            _end_training(job, "Failed", "Training job failed", status="Failed", reason=error.reason)
        except Exception as error:  # a bug here must still end the job, as a platform error would
            log.exception("local training job %s crashed", name)
            _end_training(job, "Failed", "Training job failed", status="Failed",
                          reason=f"AlgorithmError: {type(error).__name__}: {error}")

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
                raise container.client_error(f"Model {job.model_name} has no ModelDataUrl")
            bucket, key = _split_s3_uri(model_url)
            booster = container.load_model(_s3_call(
                lambda: s3.get_object(Bucket=bucket, Key=key)["Body"].read(),
                f"Failed to download model data from {model_url}"))
            transform_input = job.transform_input or {}
            source = transform_input.get("DataSource", {}).get("S3DataSource", {})
            output_path = job.transform_output["S3OutputPath"].rstrip("/")
            out_bucket, out_prefix = _split_s3_uri(output_path)
            in_bucket = _split_s3_uri(source.get("S3Uri", ""))[0]
            max_payload = int(job.max_payload_in_mb or DEFAULT_MAX_PAYLOAD_MB) << 20
            for in_key, relative in _list_inputs(s3, source, backend.region_name):
                self._checkpoint(TRANSFORM, name)
                body = _s3_call(lambda: s3.get_object(Bucket=in_bucket, Key=in_key)["Body"],
                                f"Failed to download s3://{in_bucket}/{in_key}")
                if (transform_input.get("CompressionType") or "None") == "Gzip":
                    chunks = [container.decompress(body.read(), "Gzip", in_key)]
                else:
                    chunks = body.iter_chunks(DOWNLOAD_CHUNK)
                predictions = container.transform(booster, chunks, max_payload)
                out_key = f"{out_prefix}/{relative}.out" if out_prefix else f"{relative}.out"
                _s3_call(lambda: upload(s3, out_bucket, out_key, predictions),
                         f"Failed to upload s3://{out_bucket}/{out_key}")
            _end_transform(job, "Completed")
        except _Stopped:
            _end_transform(job, "Stopped")
        except container.ContainerError as error:
            _end_transform(job, "Failed", reason=error.reason)
        except Exception as error:
            log.exception("local transform job %s crashed", name)
            _end_transform(job, "Failed", reason=f"AlgorithmError: {type(error).__name__}: {error}")

    # what SageMaker does with the job's role without a request to the emulator

    def _pull_image(self, role_arn: str, image: str, backend) -> None:
        if self._access is None:
            return
        from components.pipeline import ecr_repository_arn
        from runner.local.iam import AccessDenied

        principal = self._access.principal(role_arn, "SageMaker")
        try:
            repository = ecr_repository_arn(image, backend.partition)
        except ValueError:
            raise container.client_error(f"Cannot pull the image {image!r}: not an ECR image URI") from None
        try:
            self._access.authorize(principal, "ecr:GetAuthorizationToken", "*")
            for action in ("ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"):
                self._access.authorize(principal, action, repository)
        except AccessDenied as denied:
            raise container.client_error(f"Cannot pull the algorithm image {image}: {denied}") from None

    def _write_logs(self, role_arn: str, backend, group: str, stream: str) -> None:
        if self._access is None:
            return
        principal = self._access.principal(role_arn, "SageMaker")
        arn = (f"arn:{backend.partition}:logs:{backend.region_name}:{backend.account_id}:"
               f"log-group:/aws/sagemaker/{group}:log-stream:{stream}-{int(time.time())}")
        for action in ("logs:CreateLogStream", "logs:PutLogEvents"):
            self._access.authorize(principal, action, arn, best_effort=True)

    def _put_metrics(self, role_arn: str, namespace: str) -> None:
        if self._access is not None:
            self._access.authorize(self._access.principal(role_arn, "SageMaker"), "cloudwatch:PutMetricData",
                                   "*", {"cloudwatch:namespace": namespace}, best_effort=True)

    def _checkpoint(self, kind: str, name: str) -> None:
        if self._should_stop(kind, name):
            raise _Stopped()


def _check_transform_request(job) -> None:
    """What the local serving container cannot do fails the job rather than giving other output."""
    content_type = ((job.transform_input or {}).get("ContentType") or "").split(";")[0].strip().lower()
    if content_type not in container.CSV_CONTENT_TYPES:
        raise container.client_error(f"Content-type {content_type or '(none)'} not supported by "
                                     "the local container: use text/csv")
    accept = (job.transform_output or {}).get("Accept") or "text/csv"
    if accept.split(";")[0].strip().lower() not in container.CSV_CONTENT_TYPES:
        raise container.client_error(f"Accept {accept} not supported by the local container: "
                                     "use text/csv")
    processing = job.data_processing or {}
    if processing.get("InputFilter", "$") != "$" or processing.get("OutputFilter", "$") != "$" \
            or processing.get("JoinSource", "None") != "None":
        raise container.client_error("DataProcessing (input/output filters, JoinSource) is not "
                                     "supported by the local container")


# -- S3 -----------------------------------------------------------------------------------------

def _s3_call(call: Callable[[], Any], what: str) -> Any:
    try:
        return call()
    except (ClientError, BotoCoreError) as error:
        raise container.client_error(f"{what}: {error}") from None


def _list_keys(s3, uri: str) -> tuple[str, list[str]]:
    bucket, prefix = _split_s3_uri(uri)
    keys: list[str] = []
    paginator = s3.get_paginator("list_objects_v2")
    for page in _s3_call(lambda: list(paginator.paginate(Bucket=bucket, Prefix=prefix)),
                         f"Data download failed: could not list {uri}"):
        keys += [item["Key"] for item in page.get("Contents", []) if not item["Key"].endswith("/")]
    return prefix, keys


def _no_objects(uri: str, region: str, role_arn: str | None) -> container.ContainerError:
    bucket = _split_s3_uri(uri)[0]
    return container.client_error(
        f'Data download failed: No S3 objects found under S3 URL "{uri}" given in input data '
        f"source. Please ensure that the bucket exists in the selected region ({region}), that "
        f'objects exist under that S3 prefix, and that the role "{role_arn}" has '
        f'"s3:ListBucket" permissions on bucket "{bucket}".')


def _download_channel(s3, channel: dict, role_arn: str | None, region: str, host: Path) -> container.Channel:
    """The channel's objects under /opt/ml/input/data/<channel>/ (here `host`/<channel>/), each at its
    key's path below the S3 prefix, as File mode downloads them."""
    source = channel.get("DataSource", {}).get("S3DataSource")
    name = channel.get("ChannelName", "")
    if not source:
        raise container.client_error(f"Channel {name}: only S3DataSource is supported locally")
    if source.get("S3DataType", "S3Prefix") != "S3Prefix":
        raise container.client_error(f"Channel {name}: S3DataType {source['S3DataType']} is not "
                                     "supported locally (use S3Prefix)")
    uri = source["S3Uri"]
    bucket = _split_s3_uri(uri)[0]
    prefix, keys = _list_keys(s3, uri)
    if not keys:
        raise _no_objects(uri, region, role_arn)
    base = prefix if not prefix or prefix.endswith("/") else prefix[:prefix.rfind("/") + 1]
    directory = host / "data" / name
    directory.mkdir(parents=True, exist_ok=True)
    for key in keys:
        target = directory / (key[len(base):] or key.rsplit("/", 1)[-1])
        if not target.resolve().is_relative_to(directory.resolve()):
            raise container.client_error(f"Data download failed: s3://{bucket}/{key} would land "
                                         "outside the channel directory")
        target.parent.mkdir(parents=True, exist_ok=True)
        data = _s3_call(lambda key=key: s3.get_object(Bucket=bucket, Key=key)["Body"].read(),
                        f"Data download failed: s3://{bucket}/{key}")
        target.write_bytes(container.decompress(data, channel.get("CompressionType"), key))
    return container.Channel(name=name, content_type=channel.get("ContentType"), path=directory)


def _list_inputs(s3, source: dict, region: str) -> list[tuple[str, str]]:
    """(key, output name) of every transform input; the output name keeps the path under the prefix."""
    if source.get("S3DataType", "S3Prefix") != "S3Prefix":
        raise container.client_error(f"S3DataType {source.get('S3DataType')} is not supported "
                                     "locally (use S3Prefix)")
    uri = source["S3Uri"]
    prefix, keys = _list_keys(s3, uri)
    if not keys:
        raise _no_objects(uri, region, None)
    # "s3://b/runs/x/test/" -> "test.csv"; "s3://b/runs/x/test.csv" -> "test.csv"
    base = prefix if not prefix or prefix.endswith("/") else prefix[:prefix.rfind("/") + 1]
    return [(key, key[len(base):]) for key in keys]


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
        response = s3.upload_part(**target, UploadId=upload_id, PartNumber=len(parts) + 1, Body=body,
                                  ChecksumAlgorithm="CRC32")
        parts.append({"PartNumber": len(parts) + 1, "ETag": response["ETag"],
                      "ChecksumCRC32": response["ChecksumCRC32"]})

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
        {"Status": "Starting", "StartTime": now, "StatusMessage": "Preparing the instances for training"}]
    job.model_artifacts = None        # appears once the model is uploaded
    job.final_metric_data_list = None
    job.training_start_time = job.training_end_time = None
    job.failure_reason = None
    job.algorithm_specification["MetricDefinitions"] = [dict(item) for item in container.METRIC_DEFINITIONS]
    job.last_modified_time = now


def _transition(job, status: str, message: str) -> None:
    now = utcnow()
    transitions = [dict(item) for item in job.secondary_status_transitions]
    if transitions and "EndTime" not in transitions[-1]:
        transitions[-1]["EndTime"] = now
    transitions.append({"Status": status, "StartTime": now, "StatusMessage": message})
    if status == "Downloading":
        job.training_start_time = now
    job.secondary_status_transitions = transitions  # swapped whole: a reader never sees half
    job.secondary_status = status
    job.last_modified_time = now


def _end_training(job, secondary: str, message: str, status: str = "Completed",
                  reason: str | None = None) -> None:
    _transition(job, secondary, message)
    now = utcnow()
    job.secondary_status_transitions[-1]["EndTime"] = now
    job.training_end_time = now
    job.failure_reason = reason
    if job.training_start_time is not None:
        seconds = max(1, int((now - job.training_start_time).total_seconds()))
        job.training_time_in_seconds = job.billable_time_in_seconds = seconds
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
