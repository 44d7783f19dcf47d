"""The Pulumi program's parts; PROJECT_DIR is the project's root (Pulumi.yaml, run.py, runs/), its one home."""

from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
