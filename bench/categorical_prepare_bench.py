#!/usr/bin/env python3
"""Benchmark of encoding text feature columns in the preparation; prints only.

100,000 rows of 10 feature columns prepared in process into a CountingSink (no S3): all numeric,
then 8 numeric and 2 text (3 and 50 categories, one-hot and ordinal). Best of three, CPU time:
what encoding costs beside the one-regex fast path of numeric rows.

    venv/bin/python bench/categorical_prepare_bench.py
"""

from __future__ import annotations

import io
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from lambda_src import data_preparation  # noqa: E402

ROWS = 100_000


def main() -> None:
    rng = random.Random(1)
    header = ",".join(f"f{i}" for i in range(10)) + ",label\n"
    numeric = header + "".join(",".join(f"{rng.random():.4f}" for _ in range(10)) + f",{i % 2}\n" for i in range(ROWS))
    text = header + "".join(
        ",".join(f"{rng.random():.4f}" for _ in range(8)) + f",{rng.choice('abc')},c{rng.randrange(50)},{i % 2}\n"
        for i in range(ROWS)
    )
    best: dict[str, float] = {}
    for _ in range(3):
        for name, data in (("10 numeric columns", numeric), ("8 numeric, 2 text columns", text)):
            started = time.process_time()
            data_preparation.prepare(
                [("bench.csv", io.StringIO(data))],
                data_preparation.CountingSink(),
                seed=1,
                hyperparameters={"objective": "binary:logistic"},
            )
            best[name] = min(best.get(name, float("inf")), time.process_time() - started)
    for name, data in (("10 numeric columns", numeric), ("8 numeric, 2 text columns", text)):
        print(f"{name}: {len(data) / 1e6 / best[name]:.1f} MB/s (best of 3, CPU time)")


if __name__ == "__main__":
    main()
