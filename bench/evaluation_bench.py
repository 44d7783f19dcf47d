"""The Evaluate state's cost by held-out rows: lambda_src/evaluation.py (standard library, as
Lambda runs it) reading the labels and the predictions, scoring, as one process per size.

    venv/bin/python bench/evaluation_bench.py [ROWS ...]   (default 5000 1000000 10000000)

Prints, per size and objective: seconds (read + score), the CPU seconds of it (what one vCPU
spends, whatever else shares this machine) and the peak resident memory of the process above its
own once imported; the objects are read from files in 8 MiB chunks, as the function
streams them from S3 (S3's transfer time is not included). binary:logistic predictions are XGBoost-like: float32
values as Python prints them, from a few thousand distinct leaf sums.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

OBJECTIVES = {
    "binary:logistic": {"objective": "binary:logistic"},
    "multi:softprob": {"objective": "multi:softprob", "num_class": "3"},
    "reg:squarederror": {"objective": "reg:squarederror"},
}


def _objects(rows: int, objective: str) -> tuple[bytes, bytes]:
    rng = random.Random(1)
    if objective == "binary:logistic":
        leaves = [rng.random() for _ in range(4096)]
        labels = [rng.random() < 0.155 for _ in range(rows)]
        predictions = [leaves[rng.randrange(4096)] for _ in range(rows)]
        return (b"".join(b"1\n" if y else b"0\n" for y in labels), "\n".join(map(str, predictions)).encode() + b"\n")
    if objective == "multi:softprob":
        labels = [rng.randrange(3) for _ in range(rows)]
        rows_text = []
        for _ in range(rows):
            a, b = rng.random(), rng.random()
            a, b = min(a, b), max(a, b)
            rows_text.append(str([a, b - a, 1 - b]))
        return "".join(f"{y}\n" for y in labels).encode(), "\n".join(rows_text).encode() + b"\n"
    labels = [rng.gauss(50, 20) for _ in range(rows)]
    return (
        "\n".join(map(str, labels)).encode() + b"\n",
        "\n".join(str(y + rng.gauss(0, 3)) for y in labels).encode() + b"\n",
    )


def _peak_kib() -> int:
    """This process's peak resident memory (VmHWM: ru_maxrss would carry the parent's across exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc/self/status")


def _chunks(path: Path):
    from lambda_src import evaluation

    with open(path, "rb") as stream:
        while chunk := stream.read(evaluation.CHUNK_BYTES):
            yield chunk


def one(rows: int, objective: str, folder: Path) -> dict:
    from lambda_src import evaluation

    kind = evaluation.objective_of(OBJECTIVES[objective])
    before = _peak_kib()
    start, cpu_start = time.perf_counter(), time.process_time()
    labels = evaluation.read_labels(_chunks(folder / "labels"), kind, rows)
    predictions = evaluation.read_predictions(_chunks(folder / "predictions"), kind, labels)
    read = time.perf_counter() - start
    scores, _ = evaluation.score(labels, predictions, kind)
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    peak = _peak_kib()
    return {
        "rows": rows,
        "objective": objective,
        "read_seconds": round(read, 2),
        "seconds": round(seconds, 2),
        "cpu_seconds": round(cpu_seconds, 2),
        "peak_mib": round((peak - before) / 1024),
        "metrics": scores,
    }


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--one":
        print(json.dumps(one(int(sys.argv[2]), sys.argv[3], Path(sys.argv[4]))))
        sys.exit()
    import tempfile

    for rows in [int(arg) for arg in sys.argv[1:]] or [5000, 1_000_000, 10_000_000]:
        for objective in OBJECTIVES:
            with tempfile.TemporaryDirectory() as folder:
                labels, predictions = _objects(rows, objective)
                (Path(folder) / "labels").write_bytes(labels)
                (Path(folder) / "predictions").write_bytes(predictions)
                del labels, predictions
                result = json.loads(
                    subprocess.run(
                        [sys.executable, __file__, "--one", str(rows), objective, folder],
                        capture_output=True,
                        text=True,
                        check=True,
                    ).stdout
                )
            print(
                f"{rows:>12,} {objective:<18} {result['seconds']:>8.2f} s (read {result['read_seconds']:.2f} s,"
                f" CPU {result['cpu_seconds']:.2f} s) {result['peak_mib']:>7,} MiB above the imports"
            )
