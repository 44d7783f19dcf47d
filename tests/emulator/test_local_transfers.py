"""The rehearsal's bulk paths: predictions text made in pieces, job output uploaded in parts."""

from __future__ import annotations

import io
import json
import subprocess

import boto3
import numpy as np
import pytest
from moto import mock_aws

from runner.emulator.image_environments import DEFAULT_IMAGE_VERSION, ROOT, python_for
from runner.emulator.sagemaker import jobs as sagemaker_jobs

BUCKET = "transfer-test-bucket"


def container_text(predictions: np.ndarray) -> bytes:
    """serve.py's batch answer for one request: `"\\n".join(map(str, preds.tolist())) + "\\n"`."""
    return ("\n".join(map(str, predictions.tolist())) + "\n").encode()


def format_predictions(predictions: np.ndarray, rows_per_piece: int = 1 << 16) -> list[bytes]:
    """runner.container.serving.format_predictions, run where it runs: in the default image's environment."""
    code = (
        "import json, sys, numpy as np; from runner.container.serving import format_predictions; "
        "import io; data = np.load(io.BytesIO(sys.stdin.buffer.read())); "
        "print(json.dumps([p.decode() for p in format_predictions(data, int(sys.argv[1]))]))"
    )
    buffer = io.BytesIO()
    np.save(buffer, predictions)
    done = subprocess.run(
        [str(python_for(DEFAULT_IMAGE_VERSION)), "-c", code, str(rows_per_piece)],
        cwd=ROOT,
        input=buffer.getvalue(),
        capture_output=True,
        check=True,
    )
    return [piece.encode() for piece in json.loads(done.stdout)]


def test_predictions_are_the_containers_bytes():
    """The container's own figures: str() of the float32 widened to a double, a list per
    multi:softprob row, a float class index for multi:softmax."""
    binary = np.array([0.10133367776870728], dtype=np.float32)
    softprob = np.array([[0.8125370144844055, 0.1874629259109497]], dtype=np.float32)
    softmax = np.array([0.0, 2.0], dtype=np.float32)
    assert b"".join(format_predictions(binary)) == b"0.10133367776870728\n"
    assert b"".join(format_predictions(softprob)) == b"[0.8125370144844055, 0.1874629259109497]\n"
    assert b"".join(format_predictions(softmax)) == b"0.0\n2.0\n"


@pytest.mark.parametrize("shape", [(1,), (1000,), (1000, 3)])
def test_predictions_text_is_the_containers_byte_for_byte_in_bounded_pieces(shape):
    rng = np.random.default_rng(7)
    predictions = rng.random(shape, dtype=np.float32)
    predictions.flat[:3] = [0.0, 1.0, 1e-12][: predictions.size]  # no exponent / with exponent
    pieces = format_predictions(predictions, rows_per_piece=128)
    assert b"".join(pieces) == container_text(predictions)
    assert len(pieces) == -(-shape[0] // 128)
    assert all(piece.count(b"\n") <= 128 for piece in pieces)
    # float32 values read back exactly
    text = b"".join(pieces).replace(b"[", b"").replace(b"]", b"").replace(b",", b" ")
    assert np.array_equal(np.array(text.split(), dtype=np.float32), predictions.ravel())


@pytest.fixture
def s3():
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client


class Recording:
    """Delegates to the client, recording the calls (and failing one if asked)."""

    def __init__(self, client, fail: str | None = None):
        self.client, self.fail, self.calls = client, fail, []

    def __getattr__(self, name):
        def call(**kwargs):
            self.calls.append(name)
            if name == self.fail:
                raise ConnectionError(f"injected failure in {name}")
            return getattr(self.client, name)(**kwargs)

        return call


def test_small_output_is_one_put(s3):
    client = Recording(s3)
    sagemaker_jobs.upload(client, BUCKET, "out/test.csv.out", [b"0.5\n", b"0.25\n"])
    assert client.calls == ["put_object"]
    assert s3.get_object(Bucket=BUCKET, Key="out/test.csv.out")["Body"].read() == b"0.5\n0.25\n"


def test_large_output_goes_up_in_parts_and_stays_whole(s3, monkeypatch):
    monkeypatch.setattr(sagemaker_jobs, "UPLOAD_PART_SIZE", 5 << 20)  # S3's minimum part size
    pieces = [bytes([65 + i]) * (1 << 20) for i in range(12)]  # 12 MiB: parts of 5, 5 and 2
    client = Recording(s3)
    sagemaker_jobs.upload(client, BUCKET, "out/big.out", iter(pieces))
    assert client.calls == [
        "create_multipart_upload",
        "upload_part",
        "upload_part",
        "upload_part",
        "complete_multipart_upload",
    ]
    assert s3.get_object(Bucket=BUCKET, Key="out/big.out")["Body"].read() == b"".join(pieces)
    assert s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []


@pytest.mark.parametrize("fail", ["upload_part", "complete_multipart_upload"])
def test_a_failed_upload_leaves_no_object_and_no_open_upload(s3, monkeypatch, fail):
    monkeypatch.setattr(sagemaker_jobs, "UPLOAD_PART_SIZE", 5 << 20)
    client = Recording(s3, fail=fail)
    with pytest.raises(ConnectionError):
        sagemaker_jobs.upload(client, BUCKET, "out/big.out", [b"x" * (6 << 20)])
    assert client.calls[-1] == "abort_multipart_upload"
    assert s3.list_objects_v2(Bucket=BUCKET).get("Contents", []) == []
    assert s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []
