"""How soon `run.py --local` prints its first line: the first byte on stderr after the process starts.

For each mode (`--no-progress` and `--json` with stderr a pipe, the default with stderr a terminal:
the live table), PAIRS alternating runs of this checkout's `run.py --local --rows 200` and of
`python -c pass` (the interpreter's own start-up, the floor); with `--before COMMIT`, that commit's
run.py (its tree exported to a temporary folder) is a third member of each round. Each process is
interrupted (SIGINT) once its first byte has come. Medians and minimums; the lines themselves are
printed once, to show what came first. `-X importtime` tells where the time before the line goes:

    venv/bin/python -X importtime run.py --local 2>&1 | sed '/^run.py: /q' | sort -t'|' -k2 -n | tail

    venv/bin/python bench/first_line_bench.py [--before COMMIT]      (BENCH_PAIRS=N, default 5)
"""

from __future__ import annotations

import os
import pty
import signal
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
MODES = {"--no-progress": ["--no-progress"], "default (stderr a terminal)": [], "--json": ["--json"]}


def first_byte(argv: list[str], cwd: Path, env: dict, terminal: bool) -> tuple[float, str]:
    """Seconds from just before the process starts to the first byte on its stderr, and the first line."""
    if terminal:
        reader, writer = pty.openpty()
    else:
        reader, writer = os.pipe()
    started = time.perf_counter()
    process = subprocess.Popen(
        argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=writer
    )
    os.close(writer)
    try:
        text = os.read(reader, 1)
        seconds = time.perf_counter() - started
        while text and b"\n" not in text:
            more = os.read(reader, 4096)
            if not more:
                break
            text += more
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        os.close(reader)
    return seconds, text.decode(errors="replace").splitlines()[0] if text else ""


def export(commit: str, folder: Path) -> Path:
    """The tree of `commit`, as files (git archive), to run its run.py."""
    archive = folder / "tree.tar"
    with open(archive, "wb") as sink:
        subprocess.run(["git", "archive", commit], cwd=PROJECT_DIR, stdout=sink, check=True)
    tree = folder / "tree"
    with tarfile.open(archive) as tar:
        tar.extractall(tree, filter="data")
    return tree


def main(argv: list[str]) -> None:
    pairs = int(os.environ.get("BENCH_PAIRS", "5"))
    before = argv[1] if argv[:1] == ["--before"] else None
    with tempfile.TemporaryDirectory() as scratch:
        tmp = Path(scratch)
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
            "RUN_PY_NO_ENDPOINT": "1",
            "TMPDIR": scratch,
        }  # a served stack would answer instead
        members = {"now": PROJECT_DIR, **({f"before ({before})": export(before, tmp)} if before else {})}
        for mode, flags in MODES.items():
            times: dict[str, list[float]] = {name: [] for name in [*members, "python -c pass"]}
            lines: dict[str, str] = {}
            for _ in range(pairs):
                for name, tree in members.items():
                    seconds, lines[name] = first_byte(
                        [sys.executable, "run.py", "--local", "--rows", "200", *flags, "--runs-dir", str(tmp / "runs")],
                        tree,
                        env,
                        terminal=not flags,
                    )
                    times[name].append(seconds)
                # The floor: the interpreter's start-up until a first byte on stderr.
                seconds, _ = first_byte(
                    [sys.executable, "-c", "import sys; sys.stderr.write('x\\n')"], PROJECT_DIR, env, terminal=not flags
                )
                times["python -c pass"].append(seconds)
            print(f"{mode}: first byte on stderr, {pairs} rounds")
            for name, values in times.items():
                line = f"   first line: {lines[name]!r}" if name in lines else ""
                print(f"  {name:<24} median {statistics.median(values):5.2f} s   min {min(values):5.2f} s{line}")
    print(f"machine load (1, 5, 15 min): {' '.join(f'{value:.2f}' for value in os.getloadavg())}")


if __name__ == "__main__":
    main(sys.argv[1:])
