"""The seeding Lambda function's package and settings, shared by the component and the rehearsal."""

from __future__ import annotations

from pathlib import Path

from components.settings import PROJECT_DIR

SOURCE_DIR = PROJECT_DIR / "lambda_src"
HANDLER = "seed_dataset.handler"
RUNTIME = "python3.13"
MEMORY_MB = 1769  # one full vCPU
TIMEOUT_SECONDS = 900


def source_files(source_dir: Path = SOURCE_DIR) -> list[Path]:
    """The files of the function's package: everything in `source_dir` but caches and dotfiles.

    Leaving out `__pycache__` written by local runs keeps them from showing up as a diff.
    """
    return sorted(path for path in source_dir.rglob("*")
                  if path.is_file() and "__pycache__" not in path.parts
                  and path.suffix not in (".pyc", ".pyo") and not path.name.startswith("."))
