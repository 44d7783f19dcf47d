"""What the offline rehearsal costs over doing the same work in a plain script, whole processes.

For each size: PAIRS paired runs, each pair the whole command `run.py --local --json --rows N`
then `bench/plain_pipeline.py N` run by the stack's image's environment (the same seeding function
into a dict, XGBoost 5 rounds with that library's defaults, predict, write the predictions), from process start to exit; medians of wall time
and of peak memory (each command with the processes it starts), and the median of the pairs'
ratios. Then one run of `run.py --local` per size with phase marks (start-up, imports, deploy, execution,
scoring, teardown, exit), so that a regression shows where it is; its execution phase is set
against the plain script's own work time (what it prints).

Then the same whole command with the stack's trainingInstanceCount at 2 (two local hosts,
`sagemaker_hosts`) beside 1, and the two-instance training itself at 1,000,000 rows:
`sagemaker_hosts.train` on two shards (what the training job runs, from its channels on disk
to the model) against `bench/plain_distributed.py`, plain two-worker XGBoost on the same shards
(whole process, and its own work time).

Both commands get the same environment; the OpenMP wait policy the rehearsal sets for its
container when the user has not chosen one is set for the plain script too.

    venv/bin/python bench/local_bench.py [ROWS ...]   (default 5000 1000000; BENCH_LARGE=1 adds
                                                       10000000; BENCH_PAIRS=N pairs, default 3)
"""

from __future__ import annotations

import atexit
import json
import os
import runpy
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_DIR))

from runner.container.openmp import apply_openmp_defaults  # noqa: E402  (light: this process stays small)

SIZES = (5_000, 1_000_000)
LARGE = 10_000_000
TWO_INSTANCE_ROWS = 1_000_000
PHASES = ("start-up", "imports", "deploy", "execution", "scoring", "teardown", "exit")
_RSS_UNIT = 1 if sys.platform == "darwin" else 1024  # ru_maxrss: bytes on macOS, KiB on Linux


def _descendants_mib(pid: int) -> float:
    """Memory of a process's descendants now: the sum of their proportional set sizes (shared
    pages counted once in all). Linux /proc; 0 elsewhere. The process itself is not read:
    reading a process's smaps walks its page tables, which slows it down."""
    total_kib, pending = 0, _children(pid)
    while pending:
        current = pending.pop()
        try:
            rollup = Path(f"/proc/{current}/smaps_rollup").read_text()
            total_kib += int(rollup.split("\nPss:", 1)[1].split()[0])
        except (OSError, ValueError, IndexError):  # ended meanwhile, or no /proc
            continue
        pending += _children(current)
    return total_kib / 1024


def _children(pid: int) -> list[int]:
    try:
        return [
            int(child)
            for task in Path(f"/proc/{pid}/task").iterdir()
            for child in (task / "children").read_text().split()
        ]
    except (OSError, ValueError):
        return []


def child(argv: list[str], env: dict[str, str], python: str = sys.executable) -> tuple[float, float, str]:
    """(wall seconds, peak memory MiB, stdout) of one whole process.

    Peak memory: the process's peak RSS (wait4), plus the largest memory its descendants held
    together, sampled every 0.1 s (run.py --local draws its plot in a second process): an upper
    bound when the two peaks do not coincide.
    Linux counts the memory a child shared with its parent before exec in the child's peak RSS:
    this process must stay small (nothing heavy imported) for the figures to be the child's.
    """
    with tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        process = subprocess.Popen([python, *argv], cwd=PROJECT_DIR, env=env, stdout=subprocess.PIPE, stderr=err)
        ended = threading.Event()
        result: dict[str, object] = {}

        def reap() -> None:
            result["out"] = process.stdout.read()
            result["wait"] = os.wait4(process.pid, 0)  # this child's rusage
            result["wall"] = time.perf_counter() - start
            ended.set()

        reaper = threading.Thread(target=reap)
        reaper.start()
        descendants_peak = 0.0
        while not ended.wait(0.1):
            descendants_peak = max(descendants_peak, _descendants_mib(process.pid))
        reaper.join()
        process.stdout.close()
        _, status, usage = result["wait"]
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode != 0:
            err.seek(0)
            raise SystemExit(f"{' '.join(argv)} exited {process.returncode}:\n{err.read().decode()[-2000:]}")
    return (result["wall"], usage.ru_maxrss * _RSS_UNIT / 2**20 + descendants_peak, result["out"].decode())


def rehearsal_argv(rows: int, runs_dir: str, instances: int = 1) -> list[str]:
    run = ["run.py", "--local", "--json", "--runs-dir", runs_dir, "--rows", str(rows)]
    return run if instances == 1 else [str(Path(__file__).resolve()), "--instances-child", str(instances), *run]


def instances_child(instances: int, argv: list[str]) -> None:
    """run.py on the dev stack with trainingInstanceCount set to `instances`, as if `pulumi config
    set` had written it (the stack file itself is left alone)."""
    import dataclasses

    import components.settings
    from runner.emulator import engine

    dev = engine.stack_config
    load = components.settings.load_stack_settings

    def stack_config(stack: str = "dev", *args):
        return {**dev(stack, *args), "training-pipeline:trainingInstanceCount": instances}

    engine.stack_config = stack_config  # what the deployment reads
    # and what run.py checks the deployment against (runner.emulator.preflight.expected_outputs)
    components.settings.load_stack_settings = lambda *args, **kwargs: dataclasses.replace(
        load(*args, **kwargs), training_instance_count=instances
    )
    sys.argv = argv
    runpy.run_path(str(PROJECT_DIR / "run.py"), run_name="__main__")


def write_shards_child(directory: str, rows: int, shards: int) -> None:
    """The generator's rows (x, y integers in [0, 100], label y >= 3x + 5) in `shards` parts."""
    import numpy as np

    rng = np.random.default_rng(1)
    for index in range(shards):
        features = rng.integers(0, 101, size=(rows // shards, 2))
        labels = (features[:, 1] >= 3 * features[:, 0] + 5).astype(int)
        np.savetxt(
            Path(directory) / f"part-{index:05d}.csv", np.column_stack([labels, features]), fmt="%d", delimiter=","
        )


def hosts_train_child(directory: str, instances: int) -> None:
    """Seconds `sagemaker_hosts.train` takes on the shards in `directory` (stack hyperparameters)."""
    from components.settings import load_stack_settings
    from runner.emulator.sagemaker import hosts as sagemaker_hosts

    config = [
        {
            "ChannelName": "train",
            "DataSource": {"S3DataSource": {"S3Uri": "s3://bucket/train/", "S3DataDistributionType": "ShardedByS3Key"}},
        }
    ]
    settings = load_stack_settings("dev")
    start = time.perf_counter()
    sagemaker_hosts.train(
        settings.xgboost_version,
        [sagemaker_hosts.Channel("train", "text/csv", Path(directory))],
        config,
        instances,
        settings.hyperparameters,
    )
    print(f"{time.perf_counter() - start:.3f}")


def two_instance_training(rows: int, pairs: int, env: dict[str, str]) -> None:
    from components.settings import load_stack_settings  # light: YAML and the settings rules
    from runner.emulator.image_environments import python_for

    image_python = str(python_for(load_stack_settings("dev").xgboost_version))

    hp = [
        argument
        for key, value in load_stack_settings("dev").hyperparameters.items()
        for argument in ("--hp", f"{key}={value}")
    ]
    shards_dir = tempfile.mkdtemp(prefix="bench-shards-")
    try:
        train_dir = Path(shards_dir) / "train"
        train_dir.mkdir()
        child([str(Path(__file__).resolve()), "--write-shards-child", str(train_dir), str(rows), "2"], env)
        shards = sorted(str(path) for path in train_dir.glob("part-*.csv"))
        results = []
        for _ in range(pairs):
            hosts = child([str(Path(__file__).resolve()), "--hosts-train-child", str(train_dir), "2"], env)
            plain = child(
                ["bench/plain_distributed.py", str(Path(shards_dir) / "model"), *shards, *hp], env, python=image_python
            )
            # the last line: rabit itself prints "task ... got new rank" lines before it
            results.append((float(hosts[2].split()[-1]), plain[0], float(plain[2].split()[-1])))
    finally:
        shutil.rmtree(shards_dir, ignore_errors=True)
    hosts_s = statistics.median(hosts for hosts, _, _ in results)
    plain_s = statistics.median(plain for _, plain, _ in results)
    work_s = statistics.median(work for _, _, work in results)
    ratio = statistics.median(hosts / plain for hosts, plain, _ in results)
    work_ratio = statistics.median(hosts / work for hosts, _, work in results)
    best_hosts, best_work = min(hosts for hosts, _, _ in results), min(work for _, _, work in results)
    print(
        f"\ntwo-instance training, {rows:,} rows in 2 shards, {pairs} pairs, medians: "
        f"sagemaker_hosts.train {hosts_s:.2f} s; plain two-worker script {plain_s:.2f} s whole "
        f"process ({ratio:.2f}x), {work_s:.2f} s its workers' start to model ({work_ratio:.2f}x); "
        f"best of each: {best_hosts:.2f} s vs {best_work:.2f} s ({best_hosts / best_work:.2f}x)",
        flush=True,
    )


def phases_child(rows: int, runs_dir: str, marks_file: str) -> None:
    """Run run.py as `python run.py` would, marking when each phase ends (wall clock)."""
    marks = {"started": time.time()}
    import runner.emulator.stack as stack
    from runner import cli, results
    from runner.cli import watch

    marks["imported"] = time.time()

    def mark_end(module, name: str, mark: str) -> None:
        original = getattr(module, name)

        def wrapper(*args, **kwargs):
            try:
                return original(*args, **kwargs)
            finally:
                marks[mark] = time.time()

        setattr(module, name, wrapper)

    mark_end(stack, "deploy", "deployed")
    mark_end(watch, "follow", "executed")
    mark_end(results, "collect", "scored")
    mark_end(cli, "main", "ended")
    atexit.register(lambda: Path(marks_file).write_text(json.dumps(marks)))
    sys.argv = rehearsal_argv(rows, runs_dir)
    runpy.run_path(str(PROJECT_DIR / "run.py"), run_name="__main__")


def phases(rows: int, runs_dir: str, env: dict[str, str]) -> dict[str, float]:
    with tempfile.NamedTemporaryFile(suffix=".json") as marks_file:
        spawned = time.time()
        child([str(Path(__file__).resolve()), "--phases-child", str(rows), runs_dir, marks_file.name], env)
        reaped = time.time()
        marks = json.loads(Path(marks_file.name).read_text())
    points = [
        spawned,
        marks["started"],
        marks["imported"],
        marks["deployed"],
        marks["executed"],
        marks["scored"],
        marks["ended"],
        reaped,
    ]
    return {name: end - begin for name, begin, end in zip(PHASES, points, points[1:])}


def main(argv: list[str]) -> int:
    sizes = [int(value) for value in argv] or [*SIZES, *([LARGE] if os.environ.get("BENCH_LARGE") else [])]
    pairs = int(os.environ.get("BENCH_PAIRS", "3"))
    env = dict(os.environ)
    apply_openmp_defaults(env)
    from components.settings import load_stack_settings  # light: YAML and the settings rules
    from runner.emulator.image_environments import python_for

    image_python = str(python_for(load_stack_settings("dev").xgboost_version))  # the plain scripts' library
    runs_dir = tempfile.mkdtemp(prefix="bench-runs-")
    try:
        print(
            f"whole commands, process start to exit: {pairs} paired runs per size, medians "
            f"(OMP_WAIT_POLICY={env.get('OMP_WAIT_POLICY', '(unset)')} for both)"
        )
        print(
            f"{'rows':>10}  {'run.py --local':>14}  {'plain script':>12}  {'ratio':>5}  "
            f"{'peak memory run.py / plain':>27}  {'ratio':>5}",
            flush=True,
        )
        plain_work: dict[int, float] = {}
        for rows in sizes:
            results = []
            for _ in range(pairs):
                local = child(rehearsal_argv(rows, runs_dir), env)
                plain = child(["bench/plain_pipeline.py", str(rows)], env, python=image_python)
                results.append((local, plain))
                shutil.rmtree(runs_dir, ignore_errors=True)
            local_s = statistics.median(local[0] for local, _ in results)
            plain_s = statistics.median(plain[0] for _, plain in results)
            ratio = statistics.median(local[0] / plain[0] for local, plain in results)
            local_mib = statistics.median(local[1] for local, _ in results)
            plain_mib = statistics.median(plain[1] for _, plain in results)
            plain_work[rows] = statistics.median(float(plain[2]) for _, plain in results)
            print(
                f"{rows:>10,}  {local_s:>12.2f} s  {plain_s:>10.2f} s  {ratio:>4.2f}x  "
                f"{local_mib:>13.0f} / {plain_mib:>5.0f} MiB  {local_mib / plain_mib:>4.2f}x",
                flush=True,
            )

        print(f"\nrun.py --local, trainingInstanceCount 2 beside 1 (medians of {pairs})")
        for rows in sizes:
            one, two = [], []
            for _ in range(pairs):
                one.append(child(rehearsal_argv(rows, runs_dir), env))
                two.append(child(rehearsal_argv(rows, runs_dir, instances=2), env))
                shutil.rmtree(runs_dir, ignore_errors=True)
            one_s, two_s = (statistics.median(run[0] for run in runs) for runs in (one, two))
            one_mib, two_mib = (statistics.median(run[1] for run in runs) for runs in (one, two))
            print(
                f"{rows:>10,}  1 instance {one_s:.2f} s, {one_mib:.0f} MiB; 2 instances {two_s:.2f} s, "
                f"{two_mib:.0f} MiB ({two_s / one_s:.2f}x)",
                flush=True,
            )
        two_instance_training(TWO_INSTANCE_ROWS, pairs, env)

        print("\nrun.py --local by phase, one run per size (seconds)")
        print(
            f"{'rows':>10}  " + "  ".join(f"{name:>9}" for name in (*PHASES, "total")) + "  execution vs plain work",
            flush=True,
        )
        for rows in sizes:
            times = phases(rows, runs_dir, env)
            shutil.rmtree(runs_dir, ignore_errors=True)
            print(
                f"{rows:>10,}  "
                + "  ".join(f"{times[name]:>9.2f}" for name in PHASES)
                + f"  {sum(times.values()):>9.2f}  {times['execution']:.2f} vs "
                f"{plain_work[rows]:.2f} s ({times['execution'] / plain_work[rows]:.2f}x)",
                flush=True,
            )
    finally:
        shutil.rmtree(runs_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["--phases-child"]:
        phases_child(int(sys.argv[2]), sys.argv[3], sys.argv[4])
    elif sys.argv[1:2] == ["--instances-child"]:
        instances_child(int(sys.argv[2]), sys.argv[3:])
    elif sys.argv[1:2] == ["--write-shards-child"]:
        write_shards_child(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    elif sys.argv[1:2] == ["--hosts-train-child"]:
        hosts_train_child(sys.argv[2], int(sys.argv[3]))
    else:
        raise SystemExit(main(sys.argv[1:]))
