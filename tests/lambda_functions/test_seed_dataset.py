"""The seeding function (lambda_src/seed_dataset.py) against moto's S3."""

from __future__ import annotations

import io
import json
import re
import time

import boto3
import numpy as np
import pytest
from moto import mock_aws

from lambda_src import row_sizes, seed_dataset
from lambda_src.seed_dataset import InvalidSeedRequest, write_dataset

BUCKET = "seed-test-bucket"
STACK_PREFIX = "xgb-dev"
NAME = f"{STACK_PREFIX}--1"
PREFIX = f"runs/{NAME}/"
SOURCES = f"s3://{BUCKET}/sources/"


@pytest.fixture
def s3(monkeypatch):
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    # The function's own configuration, as the component deploys it.
    monkeypatch.setenv("RUNS_BUCKET", BUCKET)
    monkeypatch.setenv("JOB_NAME_PREFIX", STACK_PREFIX)
    monkeypatch.setenv("DATA_SOURCES", json.dumps([SOURCES]))
    monkeypatch.setenv("TRAINING_SHARDS", "1")
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client


def stack_shards(monkeypatch, count: int) -> int:
    """Deploys the function with `count` training shards (the stack's count, one per training
    instance: the function refuses any other); `count`, for the event."""
    monkeypatch.setenv("TRAINING_SHARDS", str(count))
    return count


def event(**overrides):
    return {"executionName": NAME, **overrides}


def read(s3, uri: str) -> bytes:
    bucket, key = uri.removeprefix("s3://").split("/", 1)
    return s3.get_object(Bucket=bucket, Key=key)["Body"].read()


def keys(s3) -> list[str]:
    return [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])]


def label(x, y):
    """The labelling rule, for integers or numpy arrays of them."""
    return (y >= 3 * x + 5) * 1


def parse(data: bytes, width: int) -> list[tuple[int, ...]]:
    """Rows of `width` integers; fails on a header, blank line, padding, `\r` or a missing `\n`."""
    text = data.decode("ascii")
    assert text.endswith("\n")
    rows = [tuple(map(int, line.split(","))) for line in text[:-1].split("\n")]
    assert all(len(row) == width for row in rows)
    assert "".join(",".join(map(str, row)) + "\n" for row in rows) == text  # canonical form
    return rows


def test_layout_format_and_return_value(s3, monkeypatch):
    result = write_dataset(event(rows=1003, test_rows=501, shards=stack_shards(monkeypatch, 4), seed=7), s3)

    train_keys = [f"{PREFIX}csv/train/part-0000{i}.csv" for i in range(4)]
    test_key, labels_key = f"{PREFIX}csv/test/test.csv", f"{PREFIX}csv/labels/test_labels.csv"
    validation_key = f"{PREFIX}csv/validation/validation.csv"
    assert result == {
        "train_uri": f"s3://{BUCKET}/{PREFIX}csv/train/",
        "validation_uri": f"s3://{BUCKET}/{PREFIX}csv/validation/",
        "test_uri": f"s3://{BUCKET}/{PREFIX}csv/test/",
        "labels_uri": f"s3://{BUCKET}/{labels_key}",
        "rows": {"train": 1003, "validation": 100, "test": 501},
        "shards": 4,
        "seed": 7,
        "objects": [f"s3://{BUCKET}/{k}" for k in (*train_keys, test_key, labels_key, validation_key)],
        "source": {"kind": "generated", "uri": None, "label": "label", "features": ["x", "y"], "classes": None},
    }
    assert sorted(keys(s3)) == sorted([*train_keys, test_key, labels_key, validation_key])
    validation = parse(read(s3, result["validation_uri"] + "validation.csv"), 3)
    assert len(validation) == 100 and all(lab == label(x, y) for lab, x, y in validation)

    # The first rows % shards shards get one extra row.
    shards = [parse(read(s3, uri), 3) for uri in result["objects"][:4]]
    assert [len(rows) for rows in shards] == [251, 251, 251, 250]
    train = [row for rows in shards for row in rows]
    assert all(0 <= x <= 100 and 0 <= y <= 100 and lab == label(x, y) for lab, x, y in train)

    test = parse(read(s3, result["objects"][4]), 2)
    labels = [int(line) for line in read(s3, result["labels_uri"]).decode().splitlines()]
    assert len(test) == len(labels) == 501
    assert read(s3, result["labels_uri"]).endswith(b"\n")
    assert all(0 <= x <= 100 and 0 <= y <= 100 for x, y in test)
    assert labels == [label(x, y) for x, y in test]  # in the same order
    assert 0 < sum(labels) < len(labels)


@pytest.mark.parametrize("rows, shards", [(10, 3), (7, 7), (100_001, 6), (5, 1)])
def test_shard_row_counts(s3, monkeypatch, rows, shards):
    result = write_dataset(event(rows=rows, shards=stack_shards(monkeypatch, shards), seed=1), s3)
    counts = [read(s3, uri).count(b"\n") for uri in result["objects"][:shards]]
    assert len(result["objects"]) == shards + 3
    assert sum(counts) == rows and max(counts) - min(counts) <= 1
    assert counts == sorted(counts, reverse=True)


def test_defaults(s3):
    result = write_dataset(event(), s3)
    assert result["rows"] == {"train": 5000, "validation": 500, "test": 5000} and result["shards"] == 1
    assert read(s3, result["objects"][0]).count(b"\n") == 5000
    assert read(s3, result["labels_uri"]).count(b"\n") == 5000


def parse_array(data: bytes, width: int) -> np.ndarray:
    """`parse` for large objects: the same strictness (canonical rows of `width` integers)."""
    row = rb"(?:0|[1-9][0-9]*)" + rb"(?:,(?:0|[1-9][0-9]*))" * (width - 1) + rb"\n"
    assert re.fullmatch(rb"(?:%s)+" % row, data)
    return np.loadtxt(io.BytesIO(data), delimiter=",", dtype=np.int64, ndmin=2)


def test_distribution_over_a_large_sample(s3, monkeypatch):
    """200k rows each: positive rate 15.53 % (sd 0.08 %), every (x, y) value reachable."""
    result = write_dataset(event(rows=200_000, shards=stack_shards(monkeypatch, 2), seed=3), s3)
    train = np.concatenate([parse_array(read(s3, uri), 3) for uri in result["objects"][:2]])
    test = parse_array(read(s3, result["objects"][2]), 2)
    labels = parse_array(read(s3, result["labels_uri"]), 1)[:, 0]
    assert len(train) == len(test) == len(labels) == 200_000
    assert (train[:, 0] == label(train[:, 1], train[:, 2])).all()
    assert (labels == label(test[:, 0], test[:, 1])).all()
    expected = 1584 / 10201
    for positives in (train[:, 0].sum(), labels.sum()):
        assert abs(positives / 200_000 - expected) < 0.004
    for values in (train[:, 1], train[:, 2], test[:, 0]):
        assert values.min() >= 0 and values.max() <= 100  # nothing outside [0, 100]
        counts = np.bincount(values, minlength=101)
        assert all(abs(c - 1980) < 250 for c in counts), counts  # 1980 +- 44 each: uniform


def test_row_sizes_are_what_the_generator_writes(s3):
    """lambda_src/row_sizes.py's CSV figures, which bound a run's rows (execution_input, run.py
    --local), are the generator's own: within 1 % of the bytes it writes for 100k rows."""
    result = write_dataset(event(rows=100_000, seed=5), s3)
    sizes = {uri: len(read(s3, uri)) for uri in result["objects"]}
    train = sum(size for uri, size in sizes.items() if "/train/" in uri or "/validation/" in uri)
    training_rows = 100_000 + row_sizes.validation_rows(100_000)
    assert train / training_rows == pytest.approx(row_sizes.TRAINING_ROW_CSV_BYTES, rel=0.01)
    assert sizes[result["objects"][1]] / 100_000 == pytest.approx(row_sizes.TEST_ROW_CSV_BYTES, rel=0.01)
    assert sum(sizes.values()) == pytest.approx(row_sizes.generated_csv_bytes(100_000), rel=0.01)


def test_same_seed_same_bytes_other_seed_other_bytes(s3, monkeypatch):
    stack_shards(monkeypatch, 3)

    def dataset(run, seed):
        result = write_dataset(event(executionName=f"{STACK_PREFIX}--{run}", rows=20_000, shards=3, seed=seed), s3)
        return [read(s3, uri) for uri in result["objects"]]

    first, again, other = dataset("a", 42), dataset("b", 42), dataset("c", 43)
    assert first == again
    assert all(a != b for a, b in zip(first, other))
    assert len(set(first[:3])) == 3  # shards are not copies of each other


def test_seed_is_optional_and_unseeded_runs_differ(s3):
    first = write_dataset(event(executionName=f"{STACK_PREFIX}--a", rows=1000), s3)
    second = write_dataset(event(executionName=f"{STACK_PREFIX}--b", rows=1000), s3)
    assert read(s3, first["objects"][0]) != read(s3, second["objects"][0])
    # The seed drawn is reported, and reproduces the run.
    again = write_dataset(event(executionName=f"{STACK_PREFIX}--c", rows=1000, seed=first["seed"]), s3)
    assert read(s3, again["objects"][0]) == read(s3, first["objects"][0])


def test_large_objects_use_multipart_and_stay_whole(s3, monkeypatch):
    """1.5 M train rows (about 12 MB) go up in two parts, in order: the object equals the one
    the same seed gives through a single put_object."""
    calls = []
    original = s3.upload_part
    monkeypatch.setattr(s3, "upload_part", lambda **kw: calls.append(kw["PartNumber"]) or original(**kw))
    result = write_dataset(event(rows=1_500_000, test_rows=10, seed=5), s3)
    assert calls == [1, 2]
    data = read(s3, result["objects"][0])
    assert len(data) > seed_dataset.PART_SIZE and data.count(b"\n") == 1_500_000
    head = s3.head_object(Bucket=BUCKET, Key=f"{PREFIX}csv/train/part-00000.csv")
    assert head["ContentType"] == "text/csv"
    assert s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []

    monkeypatch.setattr(seed_dataset, "PART_SIZE", 1 << 40)
    single = write_dataset(event(executionName=f"{STACK_PREFIX}--single", rows=1_500_000, test_rows=10, seed=5), s3)
    assert calls == [1, 2]
    assert read(s3, single["objects"][0]) == data


@pytest.mark.parametrize(
    "bad, field",
    [
        # Where to write is the function's own: an event naming it is refused, whatever it names.
        ({"bucket": BUCKET}, "^bucket: not taken from the event: .* send executionName instead$"),
        ({"prefix": "runs/xgb-dev--victim/"}, "^prefix: not taken from the event"),
        ({"bucket": "other", "prefix": PREFIX}, "^bucket and prefix: not taken from the event"),
        ({"executionName": None}, "executionName: execution name null is not a valid SageMaker job name"),
        ({"executionName": "xgb-other--1"}, "executionName: .* must start with 'xgb-dev--'"),
        ({"executionName": "xgb-dev-2--1"}, "must start with 'xgb-dev--'"),  # another stack's prefix
        ({"executionName": "xgb-dev--Victim"}, "upper-case letters are refused"),
        ({"executionName": "xgb-dev--" + "a" * 60}, r"\(69 characters\) is not a valid SageMaker job name"),
        ({"executionName": "xgb-dev--../x"}, "is not a valid SageMaker job name"),
        ({"action": "validate"}, "the validation function checks execution input"),
        ({"rows": 0}, "rows"),
        ({"rows": -5}, "rows"),
        ({"rows": 10.0}, "rows"),
        ({"rows": True}, "rows"),
        ({"rows": "100"}, "rows"),
        ({"rows": None}, "rows"),
        ({"test_rows": 0}, "test_rows"),
        ({"test_rows": 2.5}, "test_rows"),
        ({"shards": 0}, "shards"),
        ({"shards": False}, "shards"),
        ({"rows": 3, "shards": 4}, "shards"),
        ({"rows": 1_000_000_001}, "rows must be an integer from 1 to 1,000,000,000"),  # MAX_ROWS, as the validator
        ({"test_rows": 20_000_001}, "test_rows must be an integer from 1 to 20,000,000"),  # the evaluation's bound
        ({"validation_rows": 10**12}, "validation_rows must be an integer from 1 to 1,000,000,000"),
        ({"rows": 400, "shards": 400}, "shards must be the stack's 1 .one per training instance., got 400"),
        ({"shards": 2}, "shards must be the stack's 1"),
        ({"seed": 1.5}, "seed"),
        ({"seed": "7"}, "seed"),
        ({"seed": True}, "seed"),
        ({"seed": None}, "seed"),
        ({"seed": -1}, "seed"),  # random.Random(-1) would equal random.Random(1)
        ({"row": 10}, "row"),
        ({"Rows": 10, "extra": 1}, "Rows"),
    ],
)
def test_bad_input_is_rejected_before_writing(s3, bad, field):
    with pytest.raises(InvalidSeedRequest, match=field) as raised:
        write_dataset(event(**bad), s3)
    assert "\n" not in str(raised.value)
    assert keys(s3) == []


def test_missing_execution_name(s3):
    with pytest.raises(InvalidSeedRequest, match="executionName"):
        write_dataset({"rows": 10}, s3)
    assert keys(s3) == []


def test_without_its_configuration_the_function_names_what_is_missing(s3, monkeypatch):
    monkeypatch.delenv("RUNS_BUCKET")
    with pytest.raises(
        seed_dataset.FunctionNotConfigured,
        match=r"^the function's environment has no "
        r"RUNS_BUCKET: the TrainingPipeline component",
    ):
        write_dataset(event(rows=10), s3)
    assert keys(s3) == []


@pytest.mark.parametrize(
    "name, value, message",
    [
        ("DATA_SOURCES", '{"s3://team-data/": 1}', r"^DATA_SOURCES: expected a list of S3 locations"),
        ("DATA_SOURCES", '"s3://team-data/"', r"^DATA_SOURCES: expected a list of S3 locations"),
        ("DATA_SOURCES", '[["s3://team-data/"]]', r"^DATA_SOURCES: \[\"s3://team-data/\"\] is not an S3 URI"),
        ("DATA_SOURCES", '["s3://team-data/tables"]', r"^DATA_SOURCES: \"s3://team-data/tables\" must end with '/'"),
        ("DATA_SOURCES", '["s3://team-data\\n/tables/"]', r"does not name a valid S3 bucket"),
        ("DATA_SOURCES", "s3://team-data/", r"^DATA_SOURCES: not JSON"),
        # The function's own bucket's runs/: every run's data and uploads (finding F3).
        (
            "DATA_SOURCES",
            f'["s3://{BUCKET}/runs/"]',
            rf"^DATA_SOURCES: s3://{BUCKET}/runs/ overlaps s3://{BUCKET}/runs/",
        ),
        (
            "DATA_SOURCES",
            f'["{SOURCES}", "s3://{BUCKET}/"]',
            rf"^DATA_SOURCES: s3://{BUCKET}/ overlaps s3://{BUCKET}/runs/",
        ),
        (
            "DATA_SOURCES",
            f'["s3://{BUCKET}/runs/{NAME}/upload/"]',
            r"overlaps .*: name a location outside the stack's runs/",
        ),
        ("TRAINING_SHARDS", "0", r"^TRAINING_SHARDS: '0' is not a positive integer"),
        ("TRAINING_SHARDS", "２", r"^TRAINING_SHARDS: '２' is not a positive integer"),
        ("RUNS_BUCKET", "Seed_Bucket", r"^RUNS_BUCKET: 'Seed_Bucket' is not an S3 bucket name"),
        ("RUNS_BUCKET", BUCKET + "\n", r"^RUNS_BUCKET: .* is not an S3 bucket name"),
    ],
)
def test_a_function_deployed_with_a_bad_environment_refuses_to_run(s3, monkeypatch, name, value, message):
    """The function checks its own configuration by the settings' rules: an entry without its
    trailing slash (s3://team-data/tables would let tables-private/ in), a JSON object read as
    its keys, a shard count or bucket the component never sets: one line, naming the variable."""
    monkeypatch.setenv(name, value)
    with pytest.raises(seed_dataset.FunctionNotConfigured, match=message) as raised:
        write_dataset(event(rows=10), s3)
    assert "\n" not in str(raised.value) and "(pulumi up)" in str(raised.value)
    assert keys(s3) == []


@pytest.mark.parametrize("bad", [None, [], "rows=5"])
def test_event_must_be_an_object(s3, bad):
    with pytest.raises(InvalidSeedRequest, match="event"):
        write_dataset(bad, s3)


def test_messages_are_one_line_and_name_the_value():
    with pytest.raises(InvalidSeedRequest, match=r"^rows must be an integer from 1 to 1,000,000,000, got 0$"):
        seed_dataset.parse_event(event(rows=0), seed_dataset.FunctionConfig(BUCKET, STACK_PREFIX, (), 1))
    assert InvalidSeedRequest.__name__ == "InvalidSeedRequest"  # the state machine matches it


class FailingClient:
    """Delegates to a real client; `method` raises on its `fail_on`-th call."""

    def __init__(self, client, method: str, fail_on: int):
        self.client, self.method, self.fail_on, self.calls = client, method, fail_on, 0

    def __getattr__(self, name):
        attribute = getattr(self.client, name)
        if name != self.method:
            return attribute

        def call(**kwargs):
            self.calls += 1
            if self.calls == self.fail_on:
                raise ConnectionError(f"injected failure in {name} #{self.calls}")
            return attribute(**kwargs)

        return call


def assert_nothing_left(s3):
    assert keys(s3) == []
    assert s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []


def test_failure_mid_multipart_upload_leaves_nothing(s3, monkeypatch):
    """Shard 0 (about 10 MB) completes in two parts; shard 1 fails on its second part."""
    client = FailingClient(s3, "upload_part", fail_on=4)
    with pytest.raises(ConnectionError, match="upload_part #4"):
        write_dataset(event(rows=2_400_000, shards=stack_shards(monkeypatch, 2), test_rows=10, seed=1), client)
    assert client.calls == 4
    assert_nothing_left(s3)


def test_failure_on_the_last_object_deletes_the_completed_ones(s3, monkeypatch):
    s3.put_object(Bucket=BUCKET, Key="runs/other/csv/test/test.csv", Body=b"1,2\n")
    client = FailingClient(s3, "put_object", fail_on=5)  # 3 shards, test.csv, then labels
    with pytest.raises(ConnectionError):
        write_dataset(event(rows=300, shards=stack_shards(monkeypatch, 3)), client)
    assert client.calls == 5
    assert keys(s3) == ["runs/other/csv/test/test.csv"]  # other runs' objects are not touched
    assert s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []


def test_failure_while_completing_aborts_the_upload(s3):
    client = FailingClient(s3, "complete_multipart_upload", fail_on=1)
    with pytest.raises(ConnectionError):
        write_dataset(event(rows=1_200_000, test_rows=10, seed=1), client)
    assert_nothing_left(s3)


def test_deadline_stops_and_cleans_up(s3, monkeypatch):
    """Checked once per chunk: shard 0 (23 chunks, 2 parts) completes, shard 1 has one part up."""
    clock = iter([600_000] * 41 + [1_000] * 1000)  # plenty of time, then almost none
    spy = FailingClient(s3, "upload_part", fail_on=0)
    with pytest.raises(seed_dataset.DeadlineExceeded, match="rows"):
        write_dataset(
            event(rows=3_000_000, shards=stack_shards(monkeypatch, 2), seed=1), spy, remaining_ms=lambda: next(clock)
        )
    assert spy.calls == 3
    assert_nothing_left(s3)


def test_abort_waits_for_the_part_in_flight(s3):
    """Parts upload on a worker thread; an abort sent before the last part lands could leave it
    stored. Part 2 is slow and the deadline hits while it is in flight."""
    calls = []

    class Recording:
        def __getattr__(self, name):
            return getattr(s3, name)

        def upload_part(self, **kwargs):
            calls.append(("start", kwargs["PartNumber"]))
            if kwargs["PartNumber"] == 2:
                time.sleep(0.3)
            response = s3.upload_part(**kwargs)
            calls.append(("end", kwargs["PartNumber"]))
            return response

        def abort_multipart_upload(self, **kwargs):
            calls.append(("abort",))
            return s3.abort_multipart_upload(**kwargs)

    with pytest.raises(seed_dataset.DeadlineExceeded):
        write_dataset(
            event(rows=3_000_000, seed=1), Recording(), remaining_ms=lambda: 1_000 if ("start", 2) in calls else 600_000
        )
    assert calls == [("start", 1), ("end", 1), ("start", 2), ("end", 2), ("abort",)]
    assert_nothing_left(s3)


def test_handler_uses_one_lazily_created_client(s3, monkeypatch):
    monkeypatch.setattr(seed_dataset, "_client", None)
    created = []
    real_client = boto3.client
    monkeypatch.setattr(seed_dataset.boto3, "client", lambda *a, **kw: created.append(a) or real_client(*a, **kw))

    class Context:
        def get_remaining_time_in_millis(self):
            return 900_000

    first = seed_dataset.handler(event(executionName=f"{STACK_PREFIX}--a", rows=10, seed=1), Context())
    second = seed_dataset.handler(event(executionName=f"{STACK_PREFIX}--b", rows=10, seed=1), None)
    assert created == [("s3",)]
    assert read(s3, first["objects"][0]) == read(s3, second["objects"][0])
    with pytest.raises(InvalidSeedRequest):
        seed_dataset.handler(event(rows=0), None)


# -- the prepare action: a user's CSV in S3 into the same layout -----------------------------------


def prepare_event(uri, **data):
    return {
        "action": "prepare",
        "executionName": NAME,
        "seed": 4,
        "shards": 1,
        "hyperparameters": {"objective": "binary:logistic"},
        "data": {
            "kind": "s3",
            "uri": uri,
            "label": "label",
            "test": None,
            "split": {"validation": 0.1, "test": 0.2},
            **data,
        },
    }


def test_prepare_writes_the_generators_layout_from_a_prefix(s3, monkeypatch):
    s3.put_object(Bucket=BUCKET, Key="sources/t/part-0.csv", Body=b"a,label,b\n" + b"1,0,2\n3,1,4\n" * 50)
    s3.put_object(Bucket=BUCKET, Key="sources/t/part-1.csv", Body=b"\xef\xbb\xbfa,label,b\n" + b"5,1,6\n" * 100)
    s3.put_object(Bucket=BUCKET, Key="sources/t/_SUCCESS", Body=b"")
    result = seed_dataset.handler(
        {**prepare_event(f"s3://{BUCKET}/sources/t/"), "shards": stack_shards(monkeypatch, 2)}, None
    )
    assert result["source"] == {
        "kind": "s3",
        "uri": f"s3://{BUCKET}/sources/t/",
        "test_uri": None,
        "label": "label",
        "features": ["a", "b"],
        "classes": None,
        "split": {"validation": 0.1, "test": 0.2},
        "identifier_like": [],
        "categorical": {},
    }
    assert sum(result["rows"].values()) == 200 and result["shards"] == 2
    assert [uri.rsplit("/", 2)[-2] for uri in result["objects"]] == ["train", "train", "test", "labels", "validation"]
    shards = [read(s3, uri).decode().splitlines() for uri in result["objects"][:2]]
    assert [len(lines) for lines in shards] == [(result["rows"]["train"] + 1) // 2, result["rows"]["train"] // 2]
    assert set(shards[0]) <= {"0,1,2", "1,3,4", "1,5,6"}  # label first
    test = read(s3, result["objects"][2]).decode().splitlines()
    labels = read(s3, result["labels_uri"]).decode().splitlines()
    assert len(test) == len(labels) == result["rows"]["test"]
    assert all({"1,2": "0", "3,4": "1", "5,6": "1"}[row] == lab for row, lab in zip(test, labels))


def test_bad_data_late_in_a_large_object_leaves_nothing_behind(s3, monkeypatch):
    """Multipart parts already uploaded are aborted and nothing is left under the prefix."""
    body = b"a,b,label\n" + b"123456.789,987654.321,1\n" * 600_000 + b"1,x,0\n"  # about 14 MB
    s3.put_object(Bucket=BUCKET, Key="sources/big.csv", Body=body)
    started = []
    monkeypatch.setattr(seed_dataset, "s3_client", lambda: s3)
    original = s3.create_multipart_upload
    monkeypatch.setattr(s3, "create_multipart_upload", lambda **kw: started.append(kw["Key"]) or original(**kw))
    with pytest.raises(seed_dataset.data_preparation.InvalidData, match="line 600002: column 'b' is not numeric"):
        seed_dataset.handler(prepare_event(f"s3://{BUCKET}/sources/big.csv"), None)
    assert started == [f"{PREFIX}csv/train/part-00000.csv"]  # a part of the training shard went up
    assert [key for key in keys(s3) if key.startswith(PREFIX)] == []
    assert s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []


def test_prepare_refuses_data_that_would_not_fit_the_time_left(s3, monkeypatch):
    s3.put_object(Bucket=BUCKET, Key="sources/d.csv", Body=b"a,label\n" + b"1,0\n" * 1000)
    monkeypatch.setattr(seed_dataset.data_preparation, "PREPARE_BYTES_PER_SECOND", 1)
    with pytest.raises(seed_dataset.data_preparation.InvalidData, match="would take about 4,008 s"):
        seed_dataset.handler(prepare_event(f"s3://{BUCKET}/sources/d.csv"), None)
    assert [key for key in keys(s3) if key.startswith(PREFIX)] == []


def test_an_empty_prefix_is_refused(s3):
    with pytest.raises(seed_dataset.data_preparation.InvalidData, match="no data objects under this prefix"):
        seed_dataset.handler(prepare_event(f"{SOURCES}nothing/"), None)


# -- write-once runs: nothing a later invocation writes replaces an earlier one's object -----------


def snapshot(s3) -> dict[str, bytes]:
    return {key: s3.get_object(Bucket=BUCKET, Key=key)["Body"].read() for key in keys(s3)}


def test_a_replayed_event_fails_and_keeps_the_old_runs_objects(s3):
    """A name reused after Step Functions' 90 days replays Generate on the old run's prefix:
    refused before anything is written, naming what the run holds."""
    write_dataset(event(rows=50, seed=1), s3)
    before = snapshot(s3)
    with pytest.raises(
        seed_dataset.RunExists,
        match=rf"^s3://{BUCKET}/{PREFIX} exists already \(it holds "
        rf"{PREFIX}csv/\): .* start the run under a new name$",
    ):
        write_dataset(event(rows=10, seed=2), s3)
    assert snapshot(s3) == before
    assert s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []


@pytest.mark.parametrize(
    "key", [f"{PREFIX}csv/train/part-00002.csv", f"{PREFIX}model/x", f"{PREFIX}zzz", f"{PREFIX}upload"]
)
def test_a_run_holding_anything_but_its_upload_folder_is_not_added_to(s3, monkeypatch, key):
    """More shards than the run wrote would add objects under its csv/train/ (the training
    channel reads every object there): nothing is written into a run that holds anything."""
    s3.put_object(Bucket=BUCKET, Key=key, Body=b"planted")
    with pytest.raises(seed_dataset.RunExists, match=f"it holds {PREFIX}"):
        write_dataset(event(rows=30, shards=stack_shards(monkeypatch, 3), seed=1), s3)
    assert snapshot(s3) == {key: b"planted"}


class Racing:
    """A client whose listing finds the run empty, as an invocation racing an earlier one does:
    the conditional writes are then what keeps the earlier run's objects."""

    def __init__(self, client):
        self.client = client

    def __getattr__(self, name):
        return getattr(self.client, name)

    def list_objects_v2(self, **kwargs):
        return {"KeyCount": 0}


def test_an_invocation_racing_past_the_check_is_stopped_by_the_conditional_write(s3):
    write_dataset(event(rows=50, seed=1), s3)
    before = snapshot(s3)
    with pytest.raises(
        seed_dataset.RunExists,
        match=rf"s3://{BUCKET}/{PREFIX}csv/train/part-00000.csv "
        r"exists already: .* start the run under a new name",
    ):
        write_dataset(event(rows=10, seed=2), Racing(s3))
    assert snapshot(s3) == before
    assert s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []


def test_a_multipart_object_is_not_replaced_either(s3):
    """CompleteMultipartUpload is conditional too; the replay's parts are aborted."""
    write_dataset(event(rows=1_200_000, test_rows=10, seed=1), s3)
    before = snapshot(s3)
    with pytest.raises(seed_dataset.RunExists, match="part-00000.csv exists already"):
        write_dataset(event(rows=1_200_000, test_rows=10, seed=2), Racing(s3))
    assert snapshot(s3) == before
    assert s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []


def test_only_the_replays_own_objects_are_removed(s3):
    """An object left under the prefix (here only the old labels) stops the write at that key;
    what the replay wrote before it is deleted, the old object stays as it was."""
    labels = f"{PREFIX}csv/labels/test_labels.csv"
    s3.put_object(Bucket=BUCKET, Key=labels, Body=b"old\n")
    with pytest.raises(seed_dataset.RunExists, match="test_labels.csv exists already"):
        write_dataset(event(rows=50, seed=1), Racing(s3))
    assert snapshot(s3) == {labels: b"old\n"}


def test_a_replayed_prepare_keeps_the_old_runs_objects(s3):
    s3.put_object(Bucket=BUCKET, Key="sources/d.csv", Body=b"a,label\n" + b"1,0\n2,1\n" * 50)
    seed_dataset.handler(prepare_event(f"s3://{BUCKET}/sources/d.csv"), None)
    before = snapshot(s3)
    with pytest.raises(seed_dataset.RunExists, match="exists already"):
        seed_dataset.handler({**prepare_event(f"s3://{BUCKET}/sources/d.csv"), "seed": 5}, None)
    assert snapshot(s3) == before


def upload(s3, name=NAME, body=b"a,label\n" + b"1,0\n2,1\n" * 50) -> str:
    key = f"runs/{name}/upload/data.csv"
    s3.put_object(Bucket=BUCKET, Key=key, Body=body)
    return f"s3://{BUCKET}/{key}"


def test_prepare_reads_and_then_deletes_the_runs_own_upload(s3):
    """Kind follows from where the URI lies, whatever the event says: the run's own upload is
    read past the check (its upload/ folder is allowed) and deleted after."""
    result = seed_dataset.handler(prepare_event(upload(s3), kind="s3"), None)
    assert result["source"]["kind"] == "file"
    assert not [key for key in keys(s3) if "/upload/" in key]
    assert sum(result["rows"].values()) == 100


@pytest.mark.parametrize(
    "uri, message",
    [
        (f"s3://{BUCKET}/runs/{STACK_PREFIX}--victim/upload/data.csv", "outside the stack's data sources"),
        (f"s3://{BUCKET}/elsewhere/data.csv", "outside the stack's data sources"),
        (f"s3://{BUCKET}/runs/{NAME}/upload/", "is a prefix: name the uploaded object"),
    ],
)
def test_prepare_reads_only_the_stacks_data_sources_and_the_runs_own_upload(s3, uri, message):
    """Another run's upload is neither: it is not read into this run, and not deleted."""
    victim = upload(s3, f"{STACK_PREFIX}--victim")
    before = snapshot(s3)
    for kind in ("file", "s3"):
        with pytest.raises(InvalidSeedRequest, match=message):
            seed_dataset.handler(prepare_event(uri, kind=kind), None)
    assert snapshot(s3) == before and victim.removeprefix(f"s3://{BUCKET}/") in before


@pytest.mark.parametrize("kind", ["file", "s3"])
@pytest.mark.parametrize("own", ["uri", "test"])
def test_prepare_refuses_a_runs_upload_beside_a_data_source(s3, kind, own):
    """uri and test of different kinds: refused before anything is read, written or deleted (a
    test upload beside a data source was read and never deleted; an upload beside a data
    source had the data source's object deleted, stopped by IAM only)."""
    s3.put_object(Bucket=BUCKET, Key="sources/d.csv", Body=b"a,label\n" + b"1,0\n2,1\n" * 50)
    uploaded = upload(s3)
    uris = (
        {"uri": uploaded, "test": f"{SOURCES}d.csv"} if own == "uri" else {"uri": f"{SOURCES}d.csv", "test": uploaded}
    )
    before = snapshot(s3)
    with pytest.raises(InvalidSeedRequest, match="both must be uploads of this run .* or both in dataSources"):
        seed_dataset.handler(prepare_event(uris["uri"], test=uris["test"], kind=kind, split={"validation": 0.1}), None)
    assert snapshot(s3) == before


def test_a_run_whose_upload_cannot_be_deleted_fails_and_writes_nothing(s3):
    """The upload must not outlive the run that read it: a refused delete fails the run before its
    objects are completed, and they are removed."""
    uploaded = upload(s3)
    client = FailingClient(s3, "delete_object", fail_on=1)
    with pytest.raises(ConnectionError, match="delete_object #1"):
        seed_dataset.prepare_dataset(prepare_event(uploaded), s3=client)
    assert keys(s3) == []  # no csv/ object; the upload went on the failure path's own try
    assert s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []


def test_only_uris_inside_the_runs_own_upload_location_are_deleted(s3):
    s3.put_object(Bucket=BUCKET, Key="sources/d.csv", Body=b"a,label\n1,0\n")
    uploaded = upload(s3)
    seed_dataset._delete_uploads(s3, {"uri": uploaded, "test": f"{SOURCES}d.csv"}, f"s3://{BUCKET}/runs/{NAME}/upload/")
    assert keys(s3) == ["sources/d.csv"]


@pytest.mark.parametrize("stale", [{"bucket": "other-bucket"}, {"prefix": "runs/xgb-dev--victim/"}])
def test_prepare_refuses_a_location_in_the_event(s3, stale):
    s3.put_object(Bucket=BUCKET, Key="sources/d.csv", Body=b"a,label\n" + b"1,0\n" * 10)
    with pytest.raises(InvalidSeedRequest, match="not taken from the event"):
        seed_dataset.handler({**prepare_event(f"{SOURCES}d.csv"), **stale}, None)
    assert [key for key in keys(s3) if key.startswith("runs/")] == []


def test_write_once_works_with_a_botocore_that_does_not_model_if_none_match(monkeypatch):
    """A Lambda runtime's bundled boto3 can predate conditional writes: the header is sent
    instead of the keyword, and S3 (moto here) refuses to replace an object just the same."""
    import boto3
    import botocore.exceptions
    from moto import mock_aws

    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="write-once-bucket")
        members = s3.meta.service_model.operation_model("PutObject").input_shape.members
        monkeypatch.delitem(members, "IfNoneMatch")  # as an older botocore's model
        assert seed_dataset.write_once(s3) == {}
        s3.put_object(Bucket="write-once-bucket", Key="k", Body=b"first")
        with pytest.raises(botocore.exceptions.ClientError, match="PreconditionFailed"):
            s3.put_object(Bucket="write-once-bucket", Key="k", Body=b"second")
        assert s3.get_object(Bucket="write-once-bucket", Key="k")["Body"].read() == b"first"


def test_the_generated_held_out_set_is_capped_at_what_the_evaluation_scores(s3, monkeypatch):
    """Training keeps every row asked for; the held-out set stops at MAX_TEST_ROWS (the evaluation
    function's bound), and is the start of what the same seed gives uncapped."""
    whole = write_dataset(event(executionName=f"{STACK_PREFIX}--whole", rows=1000, seed=7), s3)
    monkeypatch.setattr(seed_dataset, "MAX_TEST_ROWS", 300)
    capped = write_dataset(event(rows=1000, seed=7), s3)
    assert capped["rows"] == {"train": 1000, "validation": 100, "test": 300}
    assert whole["rows"]["test"] == 1000
    test_key, labels_key = "csv/test/test.csv", "csv/labels/test_labels.csv"
    for key in (test_key, labels_key):
        assert (
            read(s3, f"s3://{BUCKET}/{PREFIX}{key}").split(b"\n")[:300]
            == read(s3, f"s3://{BUCKET}/runs/{STACK_PREFIX}--whole/{key}").split(b"\n")[:300]
        )
    assert read(s3, capped["objects"][0]) == read(s3, whole["objects"][0])  # the same training rows
    with pytest.raises(InvalidSeedRequest, match="test_rows must be an integer from 1 to 300, got 301"):
        write_dataset(event(executionName=f"{STACK_PREFIX}--more", rows=1000, test_rows=301), s3)
