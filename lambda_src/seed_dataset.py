"""The seeding function: writes a run's labelled dataset under `runs/<execution name>/` (standard
library + boto3).

x and y are uniform integers in [0, 100]; label = 1 if y >= 3*x + 5 else 0 (the original
sample's distribution, positive rate 1584/10201 = 15.53 %). It writes the run's csv/ objects
(bucket_layout.py): training shards and validation rows (row_sizes.validation_rows) as `label,x,y`,
test rows as `x,y`, and the test rows' labels, one per line, in the same order.

    csv/train/part-00000.csv ...   `label,x,y`, one object per shard
    csv/validation/validation.csv  `label,x,y` (rows // 10 rows, at least 1)
    csv/test/test.csv              `x,y`
    csv/labels/test_labels.csv     the test rows' labels, one per line, same order

Event: {"executionName", "rows"=5000, "test_rows"=min(rows, MAX_TEST_ROWS), "validation_rows"=
row_sizes.validation_rows(rows), "shards"=the stack's, "seed"?}: row counts at most execution_input.MAX_ROWS
(test_rows at most MAX_TEST_ROWS, what the evaluation function scores), shards only the stack's
count (TRAINING_SHARDS, one per training instance), whoever invokes the function.
The validation rows are drawn after the test rows, so a seed gives the same training and test
rows as before they existed. `"action": "prepare"` prepares a user's data
instead (`prepare_dataset`, the rules in data_preparation.py), into the same layout.

Where it writes is not the event's to say: the bucket is the function's own configuration (the
RUNS_BUCKET environment variable the component sets) and the prefix is derived from the
execution name, which must pass the validator's own rules (execution_input.check_execution_name
with the stack's JOB_NAME_PREFIX: this stack's prefix, a SageMaker job name, lower case). An
event naming `bucket` or `prefix` is refused. Prepared data is checked again with
execution_input.check_data against the stack's DATA_SOURCES and this run's upload location.
A run that already holds anything but its upload folder is refused (RunExists) before anything
is written, so no invocation adds objects to another run's data. (Validation is not done here:
it runs in its own function, without S3 rights.)

The result (the state machine's `$.dataset`) carries the URIs, row counts, the seed used
(drawn at random when none is given) and `source`, what the data is.
Bad input raises InvalidSeedRequest before anything is written. Objects are streamed with
multipart uploads (memory stays flat whatever `rows` is); on any failure, open uploads are
aborted and completed objects deleted, then the error is re-raised.
Write-once: every object is stored with a conditional write (IfNoneMatch="*" on PutObject and
CompleteMultipartUpload), so a key an earlier execution wrote (a name reused after Step
Functions' 90 days, a replayed event, two invocations racing past the RunExists check) fails
with RunExists and keeps its old content.

Capacity: about 1,500 M rows fit Lambda's 900 s at 1769 MB (one vCPU) with a safety factor of 2
(measured with test_rows = rows; test_rows is now at most MAX_TEST_ROWS). From
`venv/bin/python bench/seed_bench.py`, which measured the handler at 3.2-4.1 M train+test row
pairs/s (runs gave 1,456-1,857 M rows) against moto's S3 over HTTP in another process, on a
shared 2-core machine; not measured on AWS itself.
(Measured before the validation split existed: its rows // 10 rows cost about 5 % of that.)
The handler raises DeadlineExceeded, cleaning up, DEADLINE_MARGIN_MS before the limit.
"""

from __future__ import annotations

import json
import logging
import os
import random
import re
import sys
from array import array
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass

import boto3
from botocore.exceptions import ClientError

from . import bucket_layout, data_preparation, evaluation, execution_input, row_sizes

log = logging.getLogger(__name__)

DEFAULT_ROWS = 5000
# The generated held-out set: as many rows as training, up to what the evaluation function scores
# (evaluation.MAX_HELD_OUT_ROWS); more would only lengthen the transform and the evaluation, for
# metrics already this precise (docs/incoming/i28-more.md).
MAX_TEST_ROWS = evaluation.MAX_HELD_OUT_ROWS
PART_SIZE = 8 << 20  # multipart part size; S3's minimum is 5 MiB (except the last part)
CHUNK_ROWS = 1 << 16  # rows generated per step; part of the seeded output's definition
DEADLINE_MARGIN_MS = 20_000  # stop and clean up this long before the Lambda time limit
_FIELDS = ("executionName", "rows", "test_rows", "validation_rows", "shards", "seed")
_PREPARE_FIELDS = ("action", "executionName", "data", "seed", "shards", "hyperparameters")
# What callers sent before the function derived them itself: refused by name, so a stale caller fails loudly.
_NOT_FROM_EVENTS = ("bucket", "prefix")
GENERATED_SOURCE = {"kind": "generated", "uri": None, "label": "label", "features": ["x", "y"], "classes": None}


class InvalidSeedRequest(Exception):
    """The event is malformed; nothing was written."""


class FunctionNotConfigured(Exception):
    """The function's environment lacks a setting the component deploys it with."""


class RunExists(Exception):
    """An object this invocation would write exists already: an earlier execution of the same
    name wrote it (Step Functions allows a name again 90 days after it closed). Nothing of it
    was replaced; what this invocation had written is removed."""


# S3's answers to a conditional write (If-None-Match: *) on a key that exists (412), or on one
# another conditional write is creating at the same moment (409).
_EXISTS_CODES = ("PreconditionFailed", "ConditionalRequestConflict")


class DeadlineExceeded(Exception):
    """The Lambda time limit is near; what was written has been removed."""


def label(x: int, y: int) -> int:
    return int(y >= 3 * x + 5)


# x and y come from random bytes: bytes >= 202 are dropped and the rest taken modulo 101,
# which is exactly uniform over [0, 100] (rejection sampling). Accepted bytes pair up as x, y.
_MOD_101 = bytes(b % 101 for b in range(256))
_REJECTED = bytes(range(202, 256))


def _coordinates(rng: random.Random, n: int) -> bytes:
    """2n bytes x0 y0 x1 y1 ..., each uniform in [0, 100]."""
    xy = b""
    while len(xy) < 2 * n:
        want = 2 * n - len(xy)
        # 21 % of bytes are dropped: ask for a third more so one round almost always suffices.
        xy += rng.randbytes(want + want // 3 + 64).translate(_MOD_101, _REJECTED)
    return xy[: 2 * n]


def _table(row) -> list[bytes | None]:
    """The row text of every (x, y), indexed by the two bytes x, y read as one 16-bit value."""
    table: list[bytes | None] = [None] * 65536
    for x in range(101):
        for y in range(101):
            table[int.from_bytes(bytes((x, y)), sys.byteorder)] = row(x, y)
    return table


TRAIN_ROWS = _table(lambda x, y: b"%d,%d,%d\n" % (label(x, y), x, y))
TEST_ROWS = _table(lambda x, y: b"%d,%d\n" % (x, y))


def _rows(table: list, xy: bytes) -> bytes:
    return b"".join(map(table.__getitem__, array("H", xy)))


# The label is 1 exactly when x < count(y), the number of x values labelled 1 for that y.
_COUNT_PLUS_127 = bytes(127 + sum(label(x, y) for x in range(101)) if y <= 100 else 0 for y in range(256))
_TOP_BIT_DIGIT = bytes(ord("1") if b >= 128 else ord("0") for b in range(256))
assert all(label(x, y) == (x < _COUNT_PLUS_127[y] - 127) for x in range(101) for y in range(101))


def _labels(xy: bytes) -> bytes:
    """b"0\n" or b"1\n" for each pair of `xy`, for all pairs at once (no per-row Python).

    Read as base-256 numbers, (127 + count(y) digits) - (x digits) has digits
    127 + count(y) - x in [27, 159]: no borrows, and a digit's top bit is x < count(y).
    """
    n = len(xy) // 2
    diff = int.from_bytes(xy[1::2].translate(_COUNT_PLUS_127), "big") - int.from_bytes(xy[0::2], "big")
    labels = bytearray(b"\n" * (2 * n))
    labels[0::2] = diff.to_bytes(n, "big").translate(_TOP_BIT_DIGIT)
    return bytes(labels)


def _train(xy: bytes) -> list[bytes]:
    return [_rows(TRAIN_ROWS, xy)]


def _test(xy: bytes) -> list[bytes]:
    """test.csv and test_labels.csv data, from the same pairs so their lines match."""
    return [_rows(TEST_ROWS, xy), _labels(xy)]


@dataclass(frozen=True)
class FunctionConfig:
    """The stack's values the function works with, from its own environment, never from an event."""

    bucket: str
    job_name_prefix: str
    data_sources: tuple[str, ...]
    shards: int

    @classmethod
    def from_environment(cls) -> FunctionConfig:
        """The environment the component deploys, each value checked: a function deployed with
        anything else refuses to run rather than read or write where the stack does not say."""
        names = (
            execution_input.BUCKET_VARIABLE,
            execution_input.JOB_NAME_PREFIX_VARIABLE,
            execution_input.DATA_SOURCES_VARIABLE,
            execution_input.SHARDS_VARIABLE,
        )
        missing = [name for name in names if not os.environ.get(name)]
        if missing:
            raise FunctionNotConfigured(f"the function's environment has no {', '.join(missing)}: {_DEPLOYED_BY}")
        bucket, prefix, sources, shards = (os.environ[name] for name in names)
        if not execution_input.BUCKET_PATTERN.fullmatch(bucket):
            raise FunctionNotConfigured(
                f"{execution_input.BUCKET_VARIABLE}: {bucket!r} is not an S3 bucket name: {_DEPLOYED_BY}"
            )
        if not re.fullmatch(r"[1-9][0-9]{0,5}", shards):
            raise FunctionNotConfigured(
                f"{execution_input.SHARDS_VARIABLE}: {shards!r} is not a positive integer: {_DEPLOYED_BY}"
            )
        try:
            data_sources = execution_input.check_sources_outside_runs(
                execution_input.check_data_sources(json.loads(sources), execution_input.DATA_SOURCES_VARIABLE),
                bucket,
                execution_input.DATA_SOURCES_VARIABLE,
            )
        except json.JSONDecodeError:
            raise FunctionNotConfigured(f"{execution_input.DATA_SOURCES_VARIABLE}: not JSON: {_DEPLOYED_BY}") from None
        except execution_input.InvalidExecutionInput as error:
            raise FunctionNotConfigured(f"{error}: {_DEPLOYED_BY}") from None
        return cls(bucket, prefix, data_sources, int(shards))


_DEPLOYED_BY = (
    "the TrainingPipeline component (components/pipeline.py) sets it from the stack's "
    "settings; deploy the function with it (pulumi up)"
)


@dataclass(frozen=True)
class SeedRequest:
    execution_name: str
    bucket: str  # the function's own bucket
    prefix: str  # runs/<execution_name>/
    rows: int
    test_rows: int
    validation_rows: int
    shards: int
    seed: int | None


def _positive_int(event: dict, name: str, default: int, limit: int = execution_input.MAX_ROWS) -> int:
    value = event.get(name, default)
    if type(value) is not int or not 1 <= value <= limit:  # bool and float are not accepted
        raise InvalidSeedRequest(f"{name} must be an integer from 1 to {limit:,}, got {value!r}")
    return value


def parse_event(event: object, config: FunctionConfig, fields: tuple[str, ...] = _FIELDS) -> SeedRequest:
    """The request of a generate event (of a prepare event with `fields=_PREPARE_FIELDS`), its
    location derived from `executionName` and the function's own bucket, never from the event."""
    if not isinstance(event, dict):
        raise InvalidSeedRequest(f"event must be a JSON object, got {type(event).__name__}")
    if event.get("action") == "validate":
        raise InvalidSeedRequest(
            "validate: the validation function checks execution input, not the "
            "seeding function: invoke the stack's validation function"
        )
    stale = [key for key in _NOT_FROM_EVENTS if key in event]
    if stale:
        raise InvalidSeedRequest(
            f"{' and '.join(stale)}: not taken from the event: the function writes only to its own bucket, "
            "under runs/<executionName>/; send executionName instead"
        )
    unknown = sorted(set(event) - set(fields), key=str)
    if unknown:
        raise InvalidSeedRequest(f"unknown keys {', '.join(map(repr, unknown))}; allowed: {', '.join(fields)}")
    try:
        name = execution_input.check_execution_name(
            event.get("executionName"), execution_input.check_prefix(config.job_name_prefix)
        )
    except execution_input.InvalidExecutionInput as error:
        raise InvalidSeedRequest(f"executionName: {error}") from None
    rows = _positive_int(event, "rows", DEFAULT_ROWS)
    test_rows = _positive_int(event, "test_rows", min(rows, MAX_TEST_ROWS), limit=MAX_TEST_ROWS)
    validation_rows = _positive_int(event, "validation_rows", row_sizes.validation_rows(rows))
    shards = _positive_int(event, "shards", config.shards)
    if shards != config.shards:
        raise InvalidSeedRequest(
            f"shards must be the stack's {config.shards} (one per training instance), "
            f"got {shards}: send {config.shards} or leave it out"
        )
    if shards > rows:
        raise InvalidSeedRequest(f"shards must not exceed rows ({rows}), got {shards}")
    seed = event.get("seed")
    # random.Random(-n) equals random.Random(n): negative seeds would alias.
    if "seed" in event and (type(seed) is not int or seed < 0):
        raise InvalidSeedRequest(f"seed must be a non-negative integer, got {seed!r}")
    return SeedRequest(
        name, config.bucket, bucket_layout.run_prefix(name), rows, test_rows, validation_rows, shards, seed
    )


def refuse_existing_run(s3, request: SeedRequest) -> None:
    """RunExists if anything is stored under the run's prefix but its upload folder (where
    run.py put the run's own file): nothing may add objects to a run that has data already
    (an invoker naming another run, more shards than that run wrote, a replayed event).

    One listing with Delimiter="/" and MaxKeys=2: its entries are the prefix's objects and
    sub-prefixes in key order, a sub-prefix counting once, so of any two one is not upload/.
    Needs s3:ListBucket with s3:prefix `runs/<name>/`."""
    listed = s3.list_objects_v2(Bucket=request.bucket, Prefix=request.prefix, Delimiter="/", MaxKeys=2)
    entries = [item["Key"] for item in listed.get("Contents", [])] + [
        item["Prefix"] for item in listed.get("CommonPrefixes", [])
    ]
    held = sorted(entry for entry in entries if entry != f"{request.prefix}{bucket_layout.UPLOAD}/")
    if held:
        raise RunExists(
            f"s3://{request.bucket}/{request.prefix} exists already (it holds {held[0]}): "
            "runs are write-once and an earlier execution of this name, or an invocation "
            "naming it, wrote there; nothing was written: start the run under a new name"
        )


_client = None


def write_once(s3) -> dict:
    """The keyword of a conditional write, `IfNoneMatch="*"`, where the client's botocore models it
    (since 1.35, August 2024). A Lambda runtime's bundled SDK can lag behind and would refuse the
    keyword before sending anything: there the same `If-None-Match: *` header is added to every
    PutObject and CompleteMultipartUpload the client sends (the function writes run objects only)."""
    members = s3.meta.service_model.operation_model("PutObject").input_shape.members
    if "IfNoneMatch" in members:
        return {"IfNoneMatch": "*"}
    if not getattr(s3, "_write_once_header", False):

        def add_header(request, **_):
            request.headers["If-None-Match"] = "*"

        for operation in ("PutObject", "CompleteMultipartUpload"):
            s3.meta.events.register(f"before-sign.s3.{operation}", add_header)
        s3._write_once_header = True
    return {}


def s3_client():
    """One client per Lambda container, created on first use."""
    global _client
    if _client is None:
        _client = boto3.client("s3")
    return _client


class _Upload:
    """One object streamed to S3: put_object if it fits in one part, else a multipart upload.

    Parts go up on `pool`'s thread while the next one is generated (the upload waits on the
    network, mostly without the GIL); at most one part per object is in flight.
    """

    def __init__(self, s3, pool: ThreadPoolExecutor, bucket: str, key: str):
        self.s3, self.pool, self.bucket, self.key = s3, pool, bucket, key
        self.buffer: list[bytes] = []
        self.size = 0
        self.upload_id: str | None = None
        self.parts: list[dict] = []
        self.in_flight: Future | None = None
        self.completed = False

    def write(self, data: bytes) -> None:
        self.buffer.append(data)
        self.size += len(data)
        if self.size >= PART_SIZE:
            self._upload_part()

    def _upload_part(self) -> None:
        target = dict(Bucket=self.bucket, Key=self.key)
        if self.upload_id is None:
            self.upload_id = self.s3.create_multipart_upload(
                **target, ContentType="text/csv", ChecksumAlgorithm="CRC32"
            )["UploadId"]
        body, self.buffer, self.size = b"".join(self.buffer), [], 0
        self._wait()
        self.in_flight = self.pool.submit(
            self.s3.upload_part,
            **target,
            UploadId=self.upload_id,
            PartNumber=len(self.parts) + 1,
            Body=body,
            ChecksumAlgorithm="CRC32",
        )

    def _wait(self) -> None:
        if self.in_flight is not None:
            response, self.in_flight = self.in_flight.result(), None
            self.parts.append(
                {
                    "PartNumber": len(self.parts) + 1,
                    "ETag": response["ETag"],
                    "ChecksumCRC32": response["ChecksumCRC32"],
                }
            )

    def close(self) -> None:
        """Store the object, only if no object has its key (IfNoneMatch="*"): runs are write-once."""
        target = dict(Bucket=self.bucket, Key=self.key, **write_once(self.s3))
        try:
            if self.upload_id is None:
                self.s3.put_object(**target, Body=b"".join(self.buffer), ContentType="text/csv")
            else:
                if self.buffer:
                    self._upload_part()
                self._wait()
                self.s3.complete_multipart_upload(
                    **target, UploadId=self.upload_id, MultipartUpload={"Parts": self.parts}
                )
                self.upload_id = None
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") not in _EXISTS_CODES:
                raise
            raise RunExists(
                f"s3://{self.bucket}/{self.key} exists already: an earlier execution of "
                "this name wrote it and runs are write-once, so nothing was replaced; "
                "start the run under a new name"
            ) from None
        self.completed = True

    def abort(self) -> None:
        if self.in_flight is not None:  # let it land first, or the abort could miss it
            wait([self.in_flight])
        if self.upload_id is not None:
            self.s3.abort_multipart_upload(Bucket=self.bucket, Key=self.key, UploadId=self.upload_id)
            self.upload_id = None


def _shard_sizes(rows: int, shards: int) -> list[int]:
    return [rows // shards + (i < rows % shards) for i in range(shards)]


def write_dataset(event: object, s3=None, remaining_ms=None, config: FunctionConfig | None = None) -> dict:
    """Validate `event`, write the dataset, return its URIs (the handler's result).

    `s3` defaults to the module's client, `config` to the function's environment;
    `remaining_ms` is Lambda's `context.get_remaining_time_in_millis`, checked between chunks.
    """
    request = parse_event(event, config or FunctionConfig.from_environment())
    s3 = s3 or s3_client()
    refuse_existing_run(s3, request)
    # Without a seed, draw one and report it, so any run can be reproduced.
    seed = request.seed if request.seed is not None else random.SystemRandom().randrange(execution_input.DRAWN_SEEDS)
    rng = random.Random(seed)
    bucket, prefix = request.bucket, request.prefix
    train_keys = [f"{prefix}{bucket_layout.train_file(i)}" for i in range(request.shards)]
    test_key, labels_key = f"{prefix}{bucket_layout.TEST_FILE}", f"{prefix}{bucket_layout.LABELS_FILE}"
    validation_key = f"{prefix}{bucket_layout.VALIDATION_FILE}"
    uploads: list[_Upload] = []  # every upload started, in order
    written = 0

    def write(outputs: list[_Upload], n: int, render) -> None:
        nonlocal written
        for start in range(0, n, CHUNK_ROWS):
            if remaining_ms is not None and remaining_ms() < DEADLINE_MARGIN_MS:
                raise DeadlineExceeded(
                    f"Lambda time limit near after {written} rows; ask for fewer rows or raise the function timeout"
                )
            chunk = min(CHUNK_ROWS, n - start)
            for output, data in zip(outputs, render(_coordinates(rng, chunk))):
                output.write(data)
            written += chunk
        for output in outputs:
            output.close()

    with ThreadPoolExecutor(max_workers=2) as pool:  # test.csv and its labels upload side by side
        try:
            for key, n in zip(train_keys, _shard_sizes(request.rows, request.shards)):
                uploads.append(_Upload(s3, pool, bucket, key))
                write(uploads[-1:], n, _train)
            uploads += [_Upload(s3, pool, bucket, test_key), _Upload(s3, pool, bucket, labels_key)]
            write(uploads[-2:], request.test_rows, _test)
            uploads.append(_Upload(s3, pool, bucket, validation_key))
            write(uploads[-1:], request.validation_rows, _train)
        except BaseException:
            _clean_up(s3, bucket, uploads)
            raise
    rows = {"train": request.rows, "validation": request.validation_rows, "test": request.test_rows}
    return _dataset(
        bucket,
        prefix,
        rows,
        request.shards,
        seed,
        [*train_keys, test_key, labels_key, validation_key],
        GENERATED_SOURCE,
    )


def _dataset(bucket: str, prefix: str, rows: dict, shards: int, seed: int, keys: list[str], source: dict) -> dict:
    """The `$.dataset` record both the generator and the preparation return (the layout's URIs)."""
    return {
        "train_uri": f"s3://{bucket}/{prefix}{bucket_layout.TRAIN}/",
        "validation_uri": f"s3://{bucket}/{prefix}{bucket_layout.VALIDATION}/",
        "test_uri": f"s3://{bucket}/{prefix}{bucket_layout.TEST}/",
        "labels_uri": f"s3://{bucket}/{prefix}{bucket_layout.LABELS_FILE}",
        "rows": rows,
        "shards": shards,
        "seed": seed,
        "objects": [f"s3://{bucket}/{key}" for key in keys],
        "source": source,
    }


def _clean_up(s3, bucket: str, uploads: list[_Upload]) -> None:
    """Abort open multipart uploads and delete the objects this invocation completed.

    Errors here are logged, not raised: the caller re-raises the original failure.
    """
    for upload in uploads:
        try:
            upload.abort()
        except Exception:
            log.exception("could not abort the multipart upload of s3://%s/%s", bucket, upload.key)
    keys = [upload.key for upload in uploads if upload.completed]
    for start in range(0, len(keys), 1000):  # delete_objects takes at most 1000 keys
        batch = keys[start : start + 1000]
        try:
            response = s3.delete_objects(
                Bucket=bucket, Delete={"Objects": [{"Key": key} for key in batch], "Quiet": True}
            )
            for error in response.get("Errors", []):
                log.error("could not delete s3://%s/%s: %s", bucket, error.get("Key"), error.get("Message"))
        except Exception:
            log.exception("could not delete %d objects under s3://%s", len(batch), bucket)


class _S3Sink:
    """Prepared lines into the layout's objects, a few thousand lines per write."""

    LINES = 1 << 13
    BYTES = 1 << 20  # and at most about 1 MiB of text, however wide the rows

    def __init__(self, train: list[_Upload], validation: _Upload, test: _Upload, labels: _Upload, check_time):
        self.outputs = [*train, validation, test, labels]
        self.buffers: list[list[str]] = [[] for _ in self.outputs]
        self.sizes = [0] * len(self.outputs)
        self.validation_index = len(train)
        self.check_time = check_time

    def _flush(self, index: int) -> None:
        buffer = self.buffers[index]
        self.outputs[index].write(("\n".join(buffer) + "\n").encode())
        buffer.clear()
        self.sizes[index] = 0
        self.check_time()

    def _add(self, index: int, line: str) -> None:
        buffer = self.buffers[index]
        buffer.append(line)
        self.sizes[index] += len(line)
        if len(buffer) >= self.LINES or self.sizes[index] >= self.BYTES:
            self._flush(index)

    def train(self, shard: int, line: str) -> None:
        self._add(shard, line)

    def validation(self, line: str) -> None:
        self._add(self.validation_index, line)

    def test(self, features: str, label: str) -> None:
        self._add(self.validation_index + 1, features)
        self._add(self.validation_index + 2, label)

    def close(self) -> None:
        for index, output in enumerate(self.outputs):
            if self.buffers[index]:
                self._flush(index)
            output.close()


def _split_uri(uri: str) -> tuple[str, str]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key


def _is_data_object(key: str, size: int) -> bool:
    """Folder markers and Hadoop's bookkeeping files (`_SUCCESS`, `.crc`) are not data."""
    name = key.rsplit("/", 1)[-1]
    return not key.endswith("/") and not name.startswith(("_", "."))


def _open_sources(s3, uri: str) -> list[tuple[str, int, object]]:
    """(s3 URI, size, body) of the object `uri` names, or of every data object under a prefix
    (a URI ending with `/`), in key order. Bodies are opened, not read."""
    bucket, key = _split_uri(uri)
    if key and not key.endswith("/"):
        response = s3.get_object(Bucket=bucket, Key=key)
        return [(uri, response["ContentLength"], response["Body"])]
    keys = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=key):
        keys += [
            (item["Key"], item["Size"])
            for item in page.get("Contents", [])
            if _is_data_object(item["Key"], item["Size"])
        ]
    if not keys:
        raise data_preparation.InvalidData(f"{uri}: no data objects under this prefix")
    return [(f"s3://{bucket}/{name}", size, _LazyBody(s3, bucket, name)) for name, size in keys]


class _LazyBody:
    """An object's body, requested when first read (one open connection at a time)."""

    def __init__(self, s3, bucket: str, key: str):
        self.s3, self.bucket, self.key, self.body = s3, bucket, key, None

    def read(self, n: int = -1) -> bytes:
        if self.body is None:
            self.body = self.s3.get_object(Bucket=self.bucket, Key=self.key)["Body"]
        return self.body.read(n)

    def close(self) -> None:
        if self.body is not None:
            self.body.close()


def prepare_dataset(event: dict, s3=None, remaining_ms=None, config: FunctionConfig | None = None) -> dict:
    """`{"action": "prepare", executionName, data: {kind, uri, label, test, split}, seed, shards,
    hyperparameters}` (the checked run, execution_input.validate_execution): the user's CSV
    object(s) into the layout under `runs/<executionName>/csv/`. Returns the `$.dataset` record.

    `data` is checked again, by the validator's rules: its URIs must lie in the stack's
    dataSources or in this run's own upload location, and `kind` (whether the run's upload is
    deleted after) follows from where they lie, not from the event."""
    config = config or FunctionConfig.from_environment()
    request = parse_event(event, config, _PREPARE_FIELDS)
    if request.seed is None:
        raise InvalidSeedRequest("seed: prepare needs the checked run's seed")
    data = event.get("data")
    if not isinstance(data, dict):
        raise InvalidSeedRequest("data must be the checked execution input's data object")
    try:
        data = execution_input.check_data(
            {key: value for key, value in data.items() if key != "kind"},
            execution_name=request.execution_name,
            bucket=config.bucket,
            sources=list(config.data_sources),
        )
    except execution_input.InvalidExecutionInput as error:
        raise InvalidSeedRequest(str(error)) from None
    s3 = s3 or s3_client()
    refuse_existing_run(s3, request)
    own_uploads = execution_input.upload_location(request.bucket, request.execution_name)
    delete_read_uploads = (lambda: _delete_uploads(s3, data, own_uploads)) if data["kind"] == "file" else (lambda: None)
    sources: list = []
    test_sources: list = []
    try:
        sources = _open_sources(s3, data["uri"])
        test_sources = _open_sources(s3, data["test"]) if data.get("test") else []
        prepared, keys = _prepare(
            s3, request, event, data, sources + test_sources, len(sources), remaining_ms, delete_read_uploads
        )
    except BaseException:
        if data["kind"] == "file":  # the run failed: its upload goes all the same, the failure is raised
            _delete_uploads(s3, data, own_uploads, best_effort=True)
        raise
    finally:
        for _, _, body in sources + test_sources:
            body.close()
    bucket, prefix, seed = request.bucket, request.prefix, request.seed
    source = {
        "kind": data["kind"],
        "uri": data["uri"],
        "test_uri": data.get("test"),
        "label": prepared.label,
        "features": prepared.features,
        "classes": prepared.classes,
        "split": data["split"],
        "identifier_like": prepared.identifier_like,
        "categorical": prepared.categorical,
    }
    train_keys, (validation_key, test_key, labels_key) = keys
    return _dataset(
        bucket, prefix, prepared.rows, request.shards, seed, [*train_keys, test_key, labels_key, validation_key], source
    )


def _prepare(
    s3, request: SeedRequest, event: dict, data: dict, opened: list, data_count: int, remaining_ms, delete_read_uploads
) -> tuple:
    """Read the opened sources into the layout; (Prepared, the keys written). `delete_read_uploads()`
    runs once every source was read, before the objects are completed: a run whose upload
    cannot be deleted writes nothing. Cleans up on failure."""
    bucket, prefix, seed = request.bucket, request.prefix, request.seed
    sources, test_sources = opened[:data_count], opened[data_count:]
    size = sum(size for _, size, _ in sources + test_sources)
    data_preparation.check_fits_lambda(size, data["uri"])
    if (
        remaining_ms is not None
        and data_preparation.estimate_seconds(size) * 1000 > remaining_ms() - DEADLINE_MARGIN_MS
    ):
        raise DeadlineExceeded(
            f"{data['uri']}: about {data_preparation.estimate_seconds(size):,.0f} s of "
            "preparation would not fit in the time this invocation has left"
        )

    def check_time() -> None:
        if remaining_ms is not None and remaining_ms() < DEADLINE_MARGIN_MS:
            raise DeadlineExceeded("Lambda time limit near while preparing the data; give less data per run")

    train_keys = [f"{prefix}{bucket_layout.train_file(i)}" for i in range(request.shards)]
    other_keys = [
        f"{prefix}{key}" for key in (bucket_layout.VALIDATION_FILE, bucket_layout.TEST_FILE, bucket_layout.LABELS_FILE)
    ]
    uploads: list[_Upload] = []
    split = data["split"]  # both fractions, normalised by execution_input
    with ThreadPoolExecutor(max_workers=2) as pool:
        try:
            uploads += [_Upload(s3, pool, bucket, key) for key in train_keys + other_keys]
            sink = _S3Sink(uploads[: request.shards], *uploads[request.shards :], check_time=check_time)
            prepared = data_preparation.prepare(
                [(uri, data_preparation.text(body)) for uri, _, body in sources],
                sink,
                test_sources=[(uri, data_preparation.text(body)) for uri, _, body in test_sources],
                hyperparameters=event.get("hyperparameters") or {},
                label=data.get("label") or data_preparation.DEFAULT_LABEL,
                seed=seed,
                shards=request.shards,
                validation=split["validation"],
                test=split["test"],
                categorical=data.get("categorical") or "auto",
            )
            delete_read_uploads()
            sink.close()
        except BaseException:
            _clean_up(s3, bucket, uploads)
            raise
    return prepared, (train_keys, other_keys)


def _delete_uploads(s3, data: dict, own_uploads: str, best_effort: bool = False) -> None:
    """A run reads the file run.py uploaded for it once: deleted after, so that no later
    execution (a name is free again 90 days after its execution closed) can read it. Only URIs
    inside the run's own upload location `own_uploads` are deleted, whatever the kind says.
    A refused delete is raised (the run fails), or only logged with `best_effort` (the run
    failed already, and that failure is the one to report)."""
    for uri in (data["uri"], data.get("test")):
        if uri and uri.startswith(own_uploads):
            bucket, key = _split_uri(uri)
            try:
                s3.delete_object(Bucket=bucket, Key=key)
            except Exception:
                if not best_effort:
                    raise
                log.exception("could not delete the upload %s", uri)


def handler(event, context):
    """`{"action": "prepare", ...}` prepares a user's data; any other event is a seeding request."""
    remaining_ms = getattr(context, "get_remaining_time_in_millis", None)
    if isinstance(event, dict) and event.get("action") == "prepare":
        return prepare_dataset(event, remaining_ms=remaining_ms)
    return write_dataset(event, remaining_ms=remaining_ms)
