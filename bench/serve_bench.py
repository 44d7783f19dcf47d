"""The local endpoint (`run.py serve`): repeat runs against it, and many executions at once.

1. Repeat runs: with one `run.py serve` up, PAIRS paired whole-process runs of
   `run.py --local --json --rows 5000` (which uses the endpoint: no deployment) and
   `bench/plain_pipeline.py 5000` (run by the stack's image's environment); medians and the median of the pairs' ratios.
2. Many at once: COUNT executions (rows 1000) started together by 4 boto3 clients over HTTP,
   from the first start to the last end: all must succeed; executions per minute.

    venv/bin/python bench/serve_bench.py        (BENCH_PAIRS=N, default 3; BENCH_COUNT=N, default 20)
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import boto3

PROJECT_DIR = Path(__file__).resolve().parent.parent
ROWS = 5_000


def whole(argv: list[str], env: dict) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one whole process with its children: CPU time is the steadier
    figure on a shared machine."""
    before, started = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
    subprocess.run(argv, cwd=PROJECT_DIR, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall, after = time.perf_counter() - started, resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    sys.path.insert(0, str(PROJECT_DIR))
    from components.settings import load_stack_settings
    from runner.emulator.image_environments import python_for

    image_python = str(python_for(load_stack_settings("dev").xgboost_version))  # the plain script's library
    pairs, count = int(os.environ.get("BENCH_PAIRS", "3")), int(os.environ.get("BENCH_COUNT", "20"))
    with tempfile.TemporaryDirectory() as scratch:
        tmp = Path(scratch)
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("AWS_") and k != "XDG_RUNTIME_DIR"},
            "TMPDIR": scratch,
        }
        outputs_file = tmp / "outputs.json"
        server = subprocess.Popen(
            [sys.executable, "run.py", "serve", "--port", "0", "--outputs-file", str(outputs_file)],
            cwd=PROJECT_DIR,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            started = time.perf_counter()
            while not outputs_file.exists():
                if server.poll() is not None or time.perf_counter() - started > 180:
                    raise SystemExit("run.py serve did not come up")
                time.sleep(0.05)
            print(f"run.py serve up in {time.perf_counter() - started:.1f} s (deploy included)")
            outputs = json.loads(outputs_file.read_text())

            rehearsal, plain = [], []
            for _ in range(pairs):
                rehearsal.append(
                    whole(
                        [
                            sys.executable,
                            "run.py",
                            "--local",
                            "--json",
                            "--rows",
                            str(ROWS),
                            "--runs-dir",
                            str(tmp / "runs"),
                        ],
                        env,
                    )
                )
                plain.append(whole([image_python, "bench/plain_pipeline.py", str(ROWS)], env))
            for index, what in ((0, "wall"), (1, "CPU")):
                mine, theirs = [run[index] for run in rehearsal], [run[index] for run in plain]
                ratio = statistics.median(a / b for a, b in zip(mine, theirs))
                print(
                    f"repeat run.py --local against the endpoint, {ROWS:,} rows, {what}: median "
                    f"{statistics.median(mine):.2f} s; plain script {statistics.median(theirs):.2f} s; "
                    f"ratio (median of {pairs} pairs) {ratio:.2f}x (target at most 1.5x)"
                )

            session = boto3.session.Session()
            clients = [
                session.client(
                    "stepfunctions",
                    region_name=outputs["region"],
                    endpoint_url=outputs["localEndpoint"],
                    aws_access_key_id=outputs["localEndpointCredentials"]["accessKeyId"],
                    aws_secret_access_key=outputs["localEndpointCredentials"]["secretAccessKey"],
                )
                for _ in range(4)
            ]
            names = [f"{outputs['jobNamePrefix']}--bench-{index:03d}" for index in range(count)]
            began = time.perf_counter()
            with concurrent.futures.ThreadPoolExecutor(8) as pool:
                arns = list(
                    pool.map(
                        lambda index: clients[index % 4].start_execution(
                            stateMachineArn=outputs["stateMachineArn"],
                            name=names[index],
                            input=json.dumps({"rows": 1000, "seed": index}),
                        )["executionArn"],
                        range(count),
                    )
                )
            statuses = []
            for arn in arns:
                while (status := clients[0].describe_execution(executionArn=arn)["status"]) == "RUNNING":
                    time.sleep(0.05)
                statuses.append(status)
            seconds = time.perf_counter() - began
            succeeded = statuses.count("SUCCEEDED")
            print(
                f"{count} executions at once (1,000 rows, 4 clients): {succeeded}/{count} succeeded in "
                f"{seconds:.1f} s: {succeeded / seconds * 60:.0f} executions per minute"
            )
            if succeeded != count:
                raise SystemExit(f"not all succeeded: {sorted(set(statuses))}")
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(60)


if __name__ == "__main__":
    main()
