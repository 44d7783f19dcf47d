"""The names the program gives its resources, without Pulumi: the rehearsal's preflight knows the
bucket's name before anything deploys (runner/emulator/preflight.py), from here."""

from __future__ import annotations

PIPELINE = "training-pipeline"  # __main__.py's TrainingPipeline component


def bucket_resource(pipeline: str = PIPELINE) -> str:
    """The resource name the component gives its bucket (Pulumi auto-names the bucket from it)."""
    return f"{pipeline}-data"
