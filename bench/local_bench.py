"""How much the offline rehearsal costs over doing the same work in a plain script.

For each size (best of REPEATS, interleaved): one execution through `local_stack` (the
Lambda seeding the emulator's S3, training job, model, batch transform, all through the real
state machine), timed from start_execution until describe_execution leaves RUNNING; then a
plain script doing the same work in memory: the same seeding function (writing to a dict
instead of S3), pandas parse, XGBoost 5 rounds exact (reg:logistic, base_score 0.5),
predict, write the predictions to a file. Also timed: a fresh stack's first execution at the
largest size, and the whole commands `run.py --local --rows N` and `bench/plain_pipeline.py N`
from process start to exit (the rehearsal's fixed cost, about 3 s of imports and emulator
set-up, shows there).

    venv/bin/python bench/local_bench.py [ROWS ...]     (default: 100000 1000000)
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_DIR))

import boto3  # noqa: E402

from bench.plain_pipeline import load_seed_module, plain  # noqa: E402
from components.settings import load_stack_settings  # noqa: E402
from runner.local import local_stack  # noqa: E402

SIZES = (100_000, 1_000_000)
REPEATS = 3  # best of: the machine may be shared, the minimum is the least disturbed run


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


def command(argv: list[str]) -> float:
    """Wall time of a whole command: interpreter start, imports, work, exit."""
    start = time.perf_counter()
    subprocess.run([sys.executable, *argv], cwd=PROJECT_DIR, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    sizes = [int(value) for value in (argv if argv is not None else sys.argv[1:])] or list(SIZES)
    seed_module = load_seed_module()
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

    print(f"\nwhole commands, process start to exit (best of {REPEATS}, interleaved):")
    print(f"{'rows':>10}  {'run.py --local':>14}  {'plain script':>12}  {'ratio':>5}")
    for rows in sizes:
        timings = [(command(["run.py", "--local", "--json", "--runs-dir", "/tmp/bench-runs",
                             "--rows", str(rows)]),
                    command(["bench/plain_pipeline.py", str(rows)])) for _ in range(REPEATS)]
        local_seconds, plain_seconds = min(t[0] for t in timings), min(t[1] for t in timings)
        print(f"{rows:>10,}  {local_seconds:>12.2f} s  {plain_seconds:>10.2f} s  "
              f"{local_seconds / plain_seconds:>5.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
