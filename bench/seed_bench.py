#!/usr/bin/env python3
"""Benchmark of the seeding function (lambda_src/seed_dataset.py); prints, asserts nothing.

1. Speed: the original sample's approach (csv.writer, one random.randint pair per row, one
   put_object) against the handler, both into moto's S3 in this process.
2. Memory: the handler's peak RSS growth in a child process whose S3 is moto in a third
   process, so the emulator's storage does not count; also its rate over HTTP, from which
   the largest `rows` a 900 s Lambda can take is estimated.

moto's own server needs moto[server] (flask), which is not installed, so `--serve` hosts
moto's S3 backend behind a small http.server instead.

    venv/bin/python bench/seed_bench.py [--rows N] [--memory-rows N]
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import random
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

LAMBDA_TIMEOUT_S = 900
SAFETY_FACTOR = 2
BUCKET = "seed-bench"
BENCH_PREFIX = "bench"  # the function's JOB_NAME_PREFIX here: runs are named bench--...


def sample_approach(s3, rows: int) -> None:
    """What the sample's generateData.py does: train.csv `label,x,y` and test.csv `x,y`."""
    for name, labelled in (("train.csv", True), ("test.csv", False)):
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        for _ in range(rows):
            x, y = random.randint(0, 100), random.randint(0, 100)
            writer.writerow([1 if y >= 3 * x + 5 else 0, x, y] if labelled else [x, y])
        s3.put_object(Bucket=BUCKET, Key=f"sample/{name}", Body=buffer.getvalue().encode())


def timed(function, *args) -> float:
    start = time.perf_counter()
    function(*args)
    return time.perf_counter() - start


def speed(rows: int, repeats: int = 3) -> None:
    import boto3
    from moto import mock_aws

    from lambda_src import seed_dataset

    config = seed_dataset.FunctionConfig(BUCKET, BENCH_PREFIX, (), shards=1)
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        # Best of `repeats`, interleaved: the machine may be shared. Runs are write-once: a name each.
        runs = [
            (
                timed(sample_approach, s3, rows),
                timed(
                    lambda event: seed_dataset.write_dataset(event, s3, config=config),
                    {"executionName": f"{BENCH_PREFIX}--handler-{repeat}", "rows": rows, "seed": 1},
                ),
            )
            for repeat in range(repeats)
        ]
    sample, ours = (2 * rows / min(seconds) for seconds in zip(*runs))
    print(
        f"{rows:,} train + {rows:,} test rows into moto S3 (in process), best of {repeats}, "
        "rows/s (train and test rows both count):"
    )
    print(f"  sample (csv.writer, randint)  {sample / 1e6:6.2f} M")
    print(f"  seed_dataset.handler          {ours / 1e6:6.2f} M   ({ours / sample:.1f}x)")


def serve() -> None:
    """Host moto's S3 over HTTP on a free port (printed on stdout) until killed."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from botocore.awsrequest import AWSPreparedRequest
    from moto import mock_aws
    from moto.core.models import botocore_stubber

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, and 100-continue for uploads

        def dispatch(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            request = AWSPreparedRequest(
                self.command, "https://s3.amazonaws.com" + self.path, dict(self.headers), body, stream_output=False
            )
            status, headers, payload = botocore_stubber.process_request(request) or (404, {}, "")
            payload = payload.encode() if isinstance(payload, str) else payload
            self.send_response(status)
            for name, value in headers.items():
                if name.lower() not in ("content-length", "transfer-encoding", "connection"):
                    self.send_header(name, str(value))
            if self.command != "HEAD":
                self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)

        do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = dispatch

        def log_message(self, *args):
            pass

    with mock_aws():
        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        print(server.server_address[1], flush=True)
        server.serve_forever()


def peak_rss_mb() -> float:
    """This process's peak RSS. ru_maxrss would do, but Linux carries the parent's peak over
    fork + exec into it, hiding the child's own growth; VmHWM starts afresh at exec."""
    try:
        status = Path("/proc/self/status").read_text()
        return int(status.split("VmHWM:")[1].split()[0]) / 1024
    except (OSError, IndexError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def child(rows: int) -> None:
    """Run the handler against AWS_ENDPOINT_URL; print its peak RSS growth and time as JSON."""
    from lambda_src import seed_dataset

    seed_dataset.s3_client().create_bucket(Bucket=BUCKET)  # also warms the client up
    os.environ.update(function_environment())
    before = peak_rss_mb()
    seconds = timed(
        seed_dataset.handler, {"executionName": f"{BENCH_PREFIX}--rows-{rows}", "rows": rows, "seed": 1}, None
    )
    print(json.dumps({"growth_mb": peak_rss_mb() - before, "before_mb": before, "seconds": seconds}))


def function_environment(bucket: str = BUCKET, data_sources: tuple[str, ...] = ()) -> dict[str, str]:
    """The seeding function's own configuration, as the component sets it, for a bench's bucket."""
    return {
        "RUNS_BUCKET": bucket,
        "JOB_NAME_PREFIX": BENCH_PREFIX,
        "DATA_SOURCES": json.dumps(list(data_sources)),
        "TRAINING_SHARDS": "1",
    }


def served_s3_env(port: int) -> dict[str, str]:
    """The environment of a child process talking to the `--serve` moto S3 on `port` only."""
    env = {
        **os.environ,
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    env.pop("AWS_PROFILE", None)
    return env


def memory(rows_list: list[int]) -> None:
    server = subprocess.Popen([sys.executable, __file__, "--serve"], stdout=subprocess.PIPE, text=True)
    try:
        port = int(server.stdout.readline())
        env = served_s3_env(port)
        print("handler in a child process, moto S3 over HTTP in another (rows = test_rows):")
        for rows in rows_list:
            out = subprocess.run(
                [sys.executable, __file__, "--child", str(rows)], env=env, check=True, capture_output=True, text=True
            ).stdout
            result = json.loads(out)
            rate = rows / result["seconds"]
            print(
                f"  rows={rows:>11,}: peak RSS growth {result['growth_mb']:6.1f} MB "
                f"(baseline {result['before_mb']:.0f} MB), {result['seconds']:5.1f} s, "
                f"{2 * rate / 1e6:.2f} M rows/s ({rate / 1e6:.2f} M train+test pairs/s)"
            )
    finally:
        server.terminate()
        server.wait()
    largest = LAMBDA_TIMEOUT_S * rate / SAFETY_FACTOR
    print(
        f"Lambda at 1769 MB (one vCPU), {LAMBDA_TIMEOUT_S} s, safety factor {SAFETY_FACTOR}: "
        f"largest rows ~ {largest / 1e6:,.0f} M (test_rows = rows; from the last rate above)"
    )


def main(rows: int = 2_000_000, memory_rows: int = 20_000_000) -> None:
    speed(rows)
    memory([rows, memory_rows])


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--memory-rows", type=int, default=20_000_000)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve()
    elif args.child:
        child(args.child)
    else:
        main(args.rows, args.memory_rows)
