"""run.py's start outside its virtualenv: one line saying which package is missing and the fix."""

from __future__ import annotations

import sys
from importlib import metadata

PROJECT_PACKAGES = ("runner", "components", "lambda_src")


def missing_package_line(error: BaseException) -> str | None:
    """The line for a package run.py needs and this Python lacks (`error` a ModuleNotFoundError
    or PackageNotFoundError), else None (a module of the project itself: a bug, not a setup)."""
    if not isinstance(error, (ModuleNotFoundError, metadata.PackageNotFoundError)):
        return None
    name = getattr(error, "name", None) or (error.args[0] if error.args else None)
    if not name or name.split(".")[0] in PROJECT_PACKAGES:
        return None
    return (
        f"run.py: error: {name} is not installed for {sys.executable}: run run.py with the project's "
        "virtualenv (venv/bin/python run.py ...; `make local` creates it from requirements.txt)"
    )
