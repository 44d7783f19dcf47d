"""How much the offline rehearsal costs over doing the same work in a plain script.

For each size (best of REPEATS, interleaved): one execution through `local_stack` (the
Lambda seeding the emulator's S3, training job, model, batch transform, all through the real
state machine), timed from start_execution until describe_execution leaves RUNNING; then a
plain script doing the same work in memory: the same seeding function (writing to a dict
instead of S3), pandas parse, XGBoost 5 rounds exact (reg:logistic, base_score 0.5),
predict, write the predictions to a file. Also timed: a fresh stack's first execution at the
largest size, which is what `run.py --local` does.

    venv/bin/python bench/local_bench.py [ROWS ...]     (default: 100000 1000000)
"""

from __future__ import annotations

import importlib.util
import io
import json
import sys
import tempfile
import time
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_DIR))

import boto3  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import xgboost as xgb  # noqa: E402

from components.settings import load_stack_settings  # noqa: E402
from runner.local import local_stack  # noqa: E402

SIZES = (100_000, 1_000_000)
REPEATS = 3  # best of: the machine may be shared, the minimum is the least disturbed run
PARAMS = {"objective": "reg:logistic", "eval_metric": "rmse", "base_score": 0.5, "tree_method": "exact"}


def _seed_module():
    spec = importlib.util.spec_from_file_location("bench_seed_dataset",
                                                  PROJECT_DIR / "lambda_src" / "seed_dataset.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


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


def rehearsal(rows: int, outputs: dict) -> float:
    sfn = boto3.client("stepfunctions", region_name=outputs["region"])
    name = f"{outputs['jobNamePrefix']}-bench-{rows}-{time.time_ns()}"
    start = time.perf_counter()
    arn = sfn.start_execution(stateMachineArn=outputs["stateMachineArn"], name=name,
                              input=json.dumps({"rows": rows}))["executionArn"]
    while (described := sfn.describe_execution(executionArn=arn))["status"] == "RUNNING":
        time.sleep(0.05)
    elapsed = time.perf_counter() - start
    if described["status"] != "SUCCEEDED":
        raise SystemExit(f"{name}: {described['status']} {described.get('error')}: {described.get('cause')}")
    return elapsed


def cold(rows: int) -> tuple[float, float, float]:
    """A fresh stack's first execution (what `run.py --local` does): setup, execution, teardown."""
    started = time.perf_counter()
    with local_stack(load_stack_settings("dev")) as outputs:
        setup = time.perf_counter() - started
        execution = rehearsal(rows, outputs)
        closing = time.perf_counter()
    return setup, execution, time.perf_counter() - closing


def main(argv: list[str] | None = None) -> int:
    sizes = [int(value) for value in (argv if argv is not None else sys.argv[1:])] or list(SIZES)
    seed_module = _seed_module()
    setup, first, teardown = cold(max(sizes))  # first, while nothing is warm yet
    plain(1000, seed_module)  # warm-up: xgboost's and pandas' first calls
    with local_stack(load_stack_settings("dev")) as outputs:
        rehearsal(1000, outputs)  # warm-up: the Lambda's cold start, first clients
        results = []
        for rows in sizes:
            timings = [(rehearsal(rows, outputs), plain(rows, seed_module)) for _ in range(REPEATS)]
            results.append((rows, min(t[0] for t in timings), min(t[1] for t in timings)))
    print(f"best of {REPEATS} runs each, interleaved (local_stack: start_execution until not RUNNING)")
    print(f"{'rows':>10}  {'local_stack':>11}  {'plain':>7}  {'ratio':>5}")
    for rows, local_seconds, plain_seconds in results:
        ratio = local_seconds / plain_seconds
        print(f"{rows:>10,}  {local_seconds:>9.2f} s  {plain_seconds:>5.2f} s  {ratio:>5.2f}")
    print(f"a fresh stack's first execution of {max(sizes):,} rows: {first:.2f} s "
          f"(stack setup {setup:.2f} s and teardown {teardown:.2f} s besides)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
