"""The Lambda functions' package and settings, shared by the component and the rehearsal.

Both functions deploy the same package (lambda_src/): the seeding function runs
`seed_dataset.handler`, the validation function `execution_input.handler`, which imports no
AWS SDK (a small cold start) and whose role may only write its logs."""

from __future__ import annotations

from pathlib import Path

from components import PROJECT_DIR

SOURCE_DIR = PROJECT_DIR / "lambda_src"
HANDLER = "lambda_src.seed_dataset.handler"
RUNTIME = "python3.13"
MEMORY_MB = 1769  # one full vCPU
TIMEOUT_SECONDS = 900
VALIDATION_HANDLER = "lambda_src.execution_input.handler"
# The same memory, so the same CPU (a quick cold start) and one Lambda price for runner/cost.py's
# estimates; a validation takes milliseconds, and the timeout bounds a runaway one.
VALIDATION_MEMORY_MB = MEMORY_MB
VALIDATION_TIMEOUT_SECONDS = 60
# The evaluation function (lambda_src/evaluation.py): the same memory, so one Lambda price; it
# reads about 56 bytes a held-out row and scores 1 M rows in 2-14 s by objective on one vCPU
# (bench/evaluation_bench.py): 1769 MB and 900 s hold evaluation.MAX_HELD_OUT_ROWS (20 M), which the
# generator caps its held-out set at (seed_dataset.MAX_TEST_ROWS) and preparation refuses beyond.
EVALUATION_HANDLER = "lambda_src.evaluation.handler"
EVALUATION_MEMORY_MB = MEMORY_MB
EVALUATION_TIMEOUT_SECONDS = 900
# Each Lambda state may run 1 + 5 attempts (the definition retries Lambda's transient errors 5
# times). With Validate input, then Generate or Prepare dataset, then Evaluate model, the most the
# functions can run for one execution, and bill (all at MEMORY_MB):
STATE_ATTEMPTS = 6
WORST_SECONDS = STATE_ATTEMPTS * (VALIDATION_TIMEOUT_SECONDS + TIMEOUT_SECONDS + EVALUATION_TIMEOUT_SECONDS)


def source_files(source_dir: Path = SOURCE_DIR) -> list[Path]:
    """The files of the function's package: everything in `source_dir` but caches and dotfiles.

    Leaving out `__pycache__` written by local runs keeps them from showing up as a diff.
    """
    return sorted(
        path
        for path in source_dir.rglob("*")
        if path.is_file()
        and "__pycache__" not in path.parts
        and path.suffix not in (".pyc", ".pyo")
        and not path.name.startswith(".")
    )
