#!/usr/bin/env python3
"""Benchmark of the seeding function's `prepare` action (a user's CSV into the layout); prints only.

A CSV of ROWS rows and 30 numeric feature columns (about breast_cancer's shape, ~8 significant
digits a value) is put into moto's S3, hosted over HTTP in another process (seed_bench.py's
server), and prepared by the handler in a child process: its input bytes/s (the figure
`data_preparation.PREPARE_BYTES_PER_SECOND` is set from, with a margin) and its peak RSS growth,
which stays flat however large the file is (streamed, 8 MiB multipart parts).

    venv/bin/python bench/prepare_bench.py [--rows N ...]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR.parent))
sys.path.insert(0, str(BENCH_DIR))
from seed_bench import served_s3_env  # noqa: E402  (the same moto S3 server, the same client environment)

BUCKET = "prepare-bench"
COLUMNS = 30


def csv_bytes(rows: int) -> bytes:
    rng = random.Random(1)
    header = ",".join(f"f{i}" for i in range(COLUMNS)) + ",label\n"
    template = [f"{rng.uniform(0, 1000):.8g}" for _ in range(COLUMNS * 64)]
    lines = []
    for i in range(rows):
        start = (i * 7) % (len(template) - COLUMNS)
        lines.append(",".join(template[start : start + COLUMNS]) + f",{i % 2}")
    return (header + "\n".join(lines) + "\n").encode()


def upload(rows: int) -> None:
    """Put the CSV into the server's S3 (a process of its own, so its memory does not count)."""
    import boto3

    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key="data/data.csv", Body=csv_bytes(rows))


def child() -> None:
    import seed_bench

    from lambda_src import seed_dataset

    s3 = seed_dataset.s3_client()
    size = s3.list_objects_v2(Bucket=BUCKET, Prefix="data/")["Contents"][0]["Size"]  # also warms the client up
    os.environ.update(seed_bench.function_environment(BUCKET, (f"s3://{BUCKET}/data/",)))
    before = seed_bench.peak_rss_mb()
    event = {
        "action": "prepare",
        "executionName": f"{seed_bench.BENCH_PREFIX}--prepare",
        "seed": 1,
        "shards": 1,
        "hyperparameters": {"objective": "binary:logistic"},
        "data": {
            "kind": "s3",
            "uri": f"s3://{BUCKET}/data/data.csv",
            "label": "label",
            "test": None,
            "split": {"validation": 0.1, "test": 0.2},
        },
    }
    start = time.perf_counter()
    seed_dataset.handler(event, None)
    seconds = time.perf_counter() - start
    print(json.dumps({"bytes": size, "seconds": seconds, "growth_mb": seed_bench.peak_rss_mb() - before}))


def main(rows_list: list[int]) -> None:
    from lambda_src.data_preparation import LAMBDA_BUDGET_SECONDS, PREPARE_BYTES_PER_SECOND

    server = subprocess.Popen(
        [sys.executable, str(BENCH_DIR / "seed_bench.py"), "--serve"], stdout=subprocess.PIPE, text=True
    )
    try:
        port = int(server.stdout.readline())
        env = served_s3_env(port)
        print(f"prepare: {COLUMNS} numeric features + label, handler in a child process, moto S3 over HTTP:")
        for rows in rows_list:
            subprocess.run([sys.executable, __file__, "--upload", str(rows)], env=env, check=True)
            out = subprocess.run(
                [sys.executable, __file__, "--child"],
                env=env,
                check=True,
                stderr=None,
                stdout=subprocess.PIPE,
                text=True,
            ).stdout
            result = json.loads(out)
            rate = result["bytes"] / result["seconds"]
            print(
                f"  rows={rows:>10,} ({result['bytes'] / 1e6:7.1f} MB): {result['seconds']:6.1f} s, "
                f"{rate / 1e6:5.2f} MB/s, {rows / result['seconds'] / 1e3:6.1f} k rows/s, "
                f"peak RSS growth {result['growth_mb']:6.1f} MB"
            )
    finally:
        server.terminate()
        server.wait()
    print(
        f"run.py and the function assume {PREPARE_BYTES_PER_SECOND / 1e6:.1f} MB/s: at most "
        f"{LAMBDA_BUDGET_SECONDS * PREPARE_BYTES_PER_SECOND / 1e9:.1f} GB within {LAMBDA_BUDGET_SECONDS} s "
        "(an estimate from the emulator, not measured on AWS)"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--upload", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.upload:
        upload(args.upload)
    elif args.child:
        child()
    else:
        main(args.rows)
