"""The pipeline's work as a plain script, no emulator: the baseline of `bench/local_bench.py`.

Generate the dataset with the seeding function (into a dict instead of S3), read the training
CSV from a file with XGBoost's own parser (as the container does), train 5 rounds with the
library's defaults, parse the held-out rows with numpy, predict them and write the predictions as
the container does (str of each value, one per line). Run it with an image environment's
interpreter: its library is the one measured.

    .image-envs/<version>/bin/python bench/plain_pipeline.py ROWS
"""

from __future__ import annotations

import importlib
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType, SimpleNamespace

import numpy as np

PROJECT_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_DIR))
from lambda_src import bucket_layout  # noqa: E402
from runner.container.openmp import apply_openmp_defaults  # noqa: E402

apply_openmp_defaults()  # as the local container loads it
import xgboost as xgb  # noqa: E402

RUN = bucket_layout.run_prefix("plain--run")
PARAMS = {"objective": "reg:logistic"}


def load_seed_module():
    """The seeding function's module, imported as the Lambda package ships it. The image's
    environment has no boto3: the module's names for it are stand-ins, never called (MemoryS3 is
    the client)."""
    try:
        import boto3  # noqa: F401
    except ImportError:
        boto3 = ModuleType("boto3")
        botocore, exceptions = ModuleType("botocore"), ModuleType("botocore.exceptions")
        exceptions.ClientError = type("ClientError", (Exception,), {})
        botocore.exceptions = exceptions
        sys.modules.update({"boto3": boto3, "botocore": botocore, "botocore.exceptions": exceptions})
    return importlib.import_module("lambda_src.seed_dataset")


class MemoryS3:
    """The S3 calls the seeding function makes, kept in a dict. Its `meta` models the one thing the
    function asks of a client's model: PutObject takes IfNoneMatch (conditional writes)."""

    meta = SimpleNamespace(
        service_model=SimpleNamespace(
            operation_model=lambda name: SimpleNamespace(input_shape=SimpleNamespace(members={"IfNoneMatch": None}))
        )
    )

    def __init__(self):
        self.objects: dict[str, bytes] = {}
        self.parts: dict[str, list[bytes]] = {}

    def list_objects_v2(self, Bucket, Prefix, **_):
        return {"Contents": [{"Key": key} for key in sorted(self.objects) if key.startswith(Prefix)]}

    def put_object(self, Bucket, Key, Body, **_):
        self.objects[Key] = Body

    def create_multipart_upload(self, Bucket, Key, **_):
        self.parts[Key] = []
        return {"UploadId": Key}

    def upload_part(self, Bucket, Key, UploadId, PartNumber, Body, **_):
        self.parts[Key].append(Body)
        return {"ETag": str(PartNumber), "ChecksumCRC32": ""}

    def complete_multipart_upload(self, Bucket, Key, UploadId, **_):
        self.objects[Key] = b"".join(self.parts.pop(Key))

    def abort_multipart_upload(self, Bucket, Key, UploadId, **_):
        self.parts.pop(Key, None)


def plain(rows: int, seed_module) -> float:
    """Generate, parse, train, predict, write: the pipeline's work without any emulator."""
    start = time.perf_counter()
    s3 = MemoryS3()
    seed_module.write_dataset(
        {"executionName": "plain--run", "rows": rows, "shards": 1},
        s3=s3,
        config=seed_module.FunctionConfig("b", "plain", (), shards=1),
    )
    with tempfile.TemporaryDirectory() as folder:
        Path(folder, "part-00000.csv").write_bytes(s3.objects[f"{RUN}{bucket_layout.train_file(0)}"])
        dtrain = xgb.DMatrix(f"{folder}?format=csv&label_column=0&delimiter=,", silent=True)
    text = s3.objects[f"{RUN}{bucket_layout.TEST_FILE}"].strip()
    test = np.array(text.replace(b"\n", b",").split(b","), dtype=np.float64).reshape(text.count(b"\n") + 1, -1)
    booster = xgb.train(PARAMS, dtrain, num_boost_round=5)
    predictions = booster.predict(xgb.DMatrix(test))
    with tempfile.TemporaryFile() as out:
        out.write(("\n".join(map(str, predictions.tolist())) + "\n").encode())
    return time.perf_counter() - start


if __name__ == "__main__":
    print(f"{plain(int(sys.argv[1]), load_seed_module()):.3f}")
