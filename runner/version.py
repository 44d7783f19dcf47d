"""`run.py --version`: which code this is (the project's git commit), and the Python running it."""

from __future__ import annotations

import argparse
import platform
import subprocess

from components import PROJECT_DIR


def version_text() -> str:
    try:
        commit = subprocess.run(
            ["git", "-C", str(PROJECT_DIR), "describe", "--always", "--dirty"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    return (
        f"run.py (training-pipeline) {commit or 'unknown commit (not a git checkout)'}; "
        f"Python {platform.python_version()}"
    )


class VersionAction(argparse.Action):
    """argparse's version action, with the text made only when asked (git is not run otherwise)."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS, help=None):
        super().__init__(option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        print(version_text())
        parser.exit()
