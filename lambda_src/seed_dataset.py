"""The seeding function: writes a labelled dataset under an S3 prefix (standard library + boto3).

x and y are uniform integers in [0, 100]; label = 1 if y >= 3*x + 5 else 0 (the original
sample's distribution, positive rate 1584/10201 = 15.53 %). Under `<prefix>`:

    csv/train/part-00000.csv ...   `label,x,y`, one object per shard
    csv/test/test.csv              `x,y`
    csv/labels/test_labels.csv     the test rows' labels, one per line, same order

Event: {"bucket", "prefix" (ends with "/"), "rows"=5000, "test_rows"=rows, "shards"=1, "seed"?}.
The same function is the state machine's validation step: an event with "action": "validate"
goes to execution_input.handle, which writes nothing.
The result carries the URIs, row counts and the seed used (drawn at random when none is given).
Bad input raises InvalidSeedRequest before anything is written. Objects are streamed with
multipart uploads (memory stays flat whatever `rows` is); on any failure, open uploads are
aborted and completed objects deleted, then the error is re-raised.

Capacity: about 1,500 M rows (test_rows = rows) fit Lambda's 900 s at 1769 MB (one vCPU)
with a safety factor of 2. From `venv/bin/python bench/seed_bench.py`, which measured the
handler at 3.2-4.1 M train+test row pairs/s (runs gave 1,456-1,857 M rows) against moto's
S3 over HTTP in another process, on a shared 2-core machine; not measured on AWS itself.
The handler raises DeadlineExceeded, cleaning up, DEADLINE_MARGIN_MS before the limit.
"""

from __future__ import annotations

import logging
import random
import sys
from array import array
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass

import boto3

import execution_input

log = logging.getLogger(__name__)

DEFAULT_ROWS = 5000
PART_SIZE = 8 << 20         # multipart part size; S3's minimum is 5 MiB (except the last part)
CHUNK_ROWS = 1 << 16        # rows generated per step; part of the seeded output's definition
DEADLINE_MARGIN_MS = 20_000  # stop and clean up this long before the Lambda time limit
_FIELDS = ("bucket", "prefix", "rows", "test_rows", "shards", "seed")


class InvalidSeedRequest(Exception):
    """The event is malformed; nothing was written."""


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
    return xy[:2 * n]


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
_COUNT_PLUS_127 = bytes(127 + sum(label(x, y) for x in range(101)) if y <= 100 else 0
                        for y in range(256))
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
class SeedRequest:
    bucket: str
    prefix: str
    rows: int
    test_rows: int
    shards: int
    seed: int | None


def _positive_int(event: dict, name: str, default: int) -> int:
    value = event.get(name, default)
    if type(value) is not int or value < 1:  # bool and float are not accepted
        raise InvalidSeedRequest(f"{name} must be a positive integer, got {value!r}")
    return value


def parse_event(event: object) -> SeedRequest:
    if not isinstance(event, dict):
        raise InvalidSeedRequest(f"event must be a JSON object, got {type(event).__name__}")
    unknown = sorted(set(event) - set(_FIELDS), key=str)
    if unknown:
        raise InvalidSeedRequest(f"unknown keys {', '.join(map(repr, unknown))}; "
                                 f"allowed: {', '.join(_FIELDS)}")
    bucket, prefix = event.get("bucket"), event.get("prefix")
    if not isinstance(bucket, str) or not bucket or "/" in bucket:
        raise InvalidSeedRequest(f"bucket must be a bucket name, got {bucket!r}")
    if not isinstance(prefix, str) or not prefix.endswith("/") or prefix.startswith("/"):
        raise InvalidSeedRequest(f"prefix must be a key prefix ending with '/' "
                                 f"(e.g. 'runs/<name>/'), got {prefix!r}")
    rows = _positive_int(event, "rows", DEFAULT_ROWS)
    test_rows = _positive_int(event, "test_rows", rows)
    shards = _positive_int(event, "shards", 1)
    if shards > rows:
        raise InvalidSeedRequest(f"shards must not exceed rows ({rows}), got {shards}")
    seed = event.get("seed")
    # random.Random(-n) equals random.Random(n): negative seeds would alias.
    if "seed" in event and (type(seed) is not int or seed < 0):
        raise InvalidSeedRequest(f"seed must be a non-negative integer, got {seed!r}")
    return SeedRequest(bucket, prefix, rows, test_rows, shards, seed)


_client = None


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
                **target, ContentType="text/csv", ChecksumAlgorithm="CRC32")["UploadId"]
        body, self.buffer, self.size = b"".join(self.buffer), [], 0
        self._wait()
        self.in_flight = self.pool.submit(
            self.s3.upload_part, **target, UploadId=self.upload_id,
            PartNumber=len(self.parts) + 1, Body=body, ChecksumAlgorithm="CRC32")

    def _wait(self) -> None:
        if self.in_flight is not None:
            response, self.in_flight = self.in_flight.result(), None
            self.parts.append({"PartNumber": len(self.parts) + 1, "ETag": response["ETag"],
                               "ChecksumCRC32": response["ChecksumCRC32"]})

    def close(self) -> None:
        target = dict(Bucket=self.bucket, Key=self.key)
        if self.upload_id is None:
            self.s3.put_object(**target, Body=b"".join(self.buffer), ContentType="text/csv")
        else:
            if self.buffer:
                self._upload_part()
            self._wait()
            self.s3.complete_multipart_upload(**target, UploadId=self.upload_id,
                                              MultipartUpload={"Parts": self.parts})
            self.upload_id = None
        self.completed = True

    def abort(self) -> None:
        if self.in_flight is not None:  # let it land first, or the abort could miss it
            wait([self.in_flight])
        if self.upload_id is not None:
            self.s3.abort_multipart_upload(Bucket=self.bucket, Key=self.key,
                                           UploadId=self.upload_id)
            self.upload_id = None


def _shard_sizes(rows: int, shards: int) -> list[int]:
    return [rows // shards + (i < rows % shards) for i in range(shards)]


def write_dataset(event: object, s3=None, remaining_ms=None) -> dict:
    """Validate `event`, write the dataset, return its URIs (the handler's result).

    `s3` defaults to the module's client; `remaining_ms` is Lambda's
    `context.get_remaining_time_in_millis`, checked between chunks.
    """
    request = parse_event(event)
    s3 = s3 or s3_client()
    # Without a seed, draw one and report it, so any run can be reproduced.
    seed = request.seed if request.seed is not None else random.SystemRandom().randrange(execution_input.DRAWN_SEEDS)
    rng = random.Random(seed)
    bucket, prefix = request.bucket, request.prefix
    train_keys = [f"{prefix}csv/train/part-{i:05d}.csv" for i in range(request.shards)]
    test_key, labels_key = f"{prefix}csv/test/test.csv", f"{prefix}csv/labels/test_labels.csv"
    uploads: list[_Upload] = []  # every upload started, in order
    written = 0

    def write(outputs: list[_Upload], n: int, render) -> None:
        nonlocal written
        for start in range(0, n, CHUNK_ROWS):
            if remaining_ms is not None and remaining_ms() < DEADLINE_MARGIN_MS:
                raise DeadlineExceeded(f"Lambda time limit near after {written} rows; "
                                       "ask for fewer rows or raise the function timeout")
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
        except BaseException:
            _clean_up(s3, bucket, uploads)
            raise
    return {
        "train_uri": f"s3://{bucket}/{prefix}csv/train/",
        "test_uri": f"s3://{bucket}/{prefix}csv/test/",
        "labels_uri": f"s3://{bucket}/{labels_key}",
        "rows": {"train": request.rows, "test": request.test_rows},
        "shards": request.shards,
        "seed": seed,
        "objects": [f"s3://{bucket}/{key}" for key in (*train_keys, test_key, labels_key)],
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
        batch = keys[start:start + 1000]
        try:
            response = s3.delete_objects(Bucket=bucket, Delete={
                "Objects": [{"Key": key} for key in batch], "Quiet": True})
            for error in response.get("Errors", []):
                log.error("could not delete s3://%s/%s: %s", bucket, error.get("Key"),
                          error.get("Message"))
        except Exception:
            log.exception("could not delete %d objects under s3://%s", len(batch), bucket)


def handler(event, context):
    """`{"action": "validate", ...}` checks an execution's input (execution_input.handle);
    any other event is a seeding request."""
    if isinstance(event, dict) and event.get("action") == "validate":
        return execution_input.handle(event)
    return write_dataset(event, remaining_ms=getattr(context, "get_remaining_time_in_millis", None))
