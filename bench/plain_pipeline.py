"""The pipeline's work as a plain script, no emulator: the baseline of `bench/local_bench.py`.

Generate the dataset with the seeding function (into a dict instead of S3), parse it with
pandas, train XGBoost 5 rounds (exact, base_score 0.5: the 1.7-1 container's numerics),
predict the held-out rows and write the predictions to a file.

    venv/bin/python bench/plain_pipeline.py ROWS
"""

from __future__ import annotations

import importlib
import io
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import xgboost as xgb

PROJECT_DIR = Path(__file__).resolve().parent.parent
PARAMS = {"objective": "reg:logistic", "eval_metric": "rmse", "base_score": 0.5, "tree_method": "exact"}


def load_seed_module():
    """The seeding function's module, imported as Lambda does (its folder on the path)."""
    sys.path.insert(0, str(PROJECT_DIR / "lambda_src"))
    return importlib.import_module("seed_dataset")


class MemoryS3:
    """The S3 calls the seeding function makes, kept in a dict."""

    def __init__(self):
        self.objects: dict[str, bytes] = {}
        self.parts: dict[str, list[bytes]] = {}

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
    seed_module.write_dataset({"bucket": "b", "prefix": "p/", "rows": rows, "shards": 1}, s3=s3)
    train = pd.read_csv(io.BytesIO(s3.objects["p/csv/train/part-00000.csv"]), header=None,
                        dtype=np.float32).to_numpy()
    test = pd.read_csv(io.BytesIO(s3.objects["p/csv/test/test.csv"]), header=None,
                       dtype=np.float32).to_numpy()
    booster = xgb.train(PARAMS, xgb.DMatrix(train[:, 1:], label=train[:, 0]), num_boost_round=5)
    predictions = booster.predict(xgb.DMatrix(test))
    with tempfile.TemporaryFile() as out:
        predictions.tofile(out, sep="\n", format="%.9g")
    return time.perf_counter() - start



if __name__ == "__main__":
    print(f"{plain(int(sys.argv[1]), load_seed_module()):.3f}")
