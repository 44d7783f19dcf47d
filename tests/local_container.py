"""The local container from the tests' side of the process boundary: jobs through the emulator's
hosts (runner.local.sagemaker_hosts), serving through sagemaker_serving, and snippets run in an
image's environment where a test must look inside the library (a model's config, a DMatrix)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from runner.local import sagemaker_hosts
from runner.local.image_environments import ROOT, python_for
from runner.local.sagemaker_hosts import Channel
from runner.local.sagemaker_serving import Serving, model_archive


def channel(root: Path, name: str, files: dict[str, bytes], content_type="text/csv") -> Channel:
    for relative, data in files.items():
        path = root / name / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return Channel(name, content_type, root / name)


def train(version: str, channels: list[Channel], hyperparameters: dict[str, str], instances: int = 1,
          input_data_config: list[dict] | None = None, **kwargs) -> sagemaker_hosts.TrainingResult:
    return sagemaker_hosts.train(version, channels, input_data_config or [], instances, hyperparameters, **kwargs)


def predict(version: str, model: bytes, payload: bytes) -> bytes:
    with Serving(version, model_archive(model)) as serving:
        return serving.predict(payload)


def in_image(version: str, code: str, *args: str, stdin: bytes = b"") -> str:
    """`code` run by image `version`'s interpreter (this checkout importable); its stdout."""
    done = subprocess.run([str(python_for(version)), "-W", "ignore", "-c", code, *args], cwd=ROOT, input=stdin,
                          capture_output=True)
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    return done.stdout.decode()


def model_config(version: str, model: bytes) -> dict:
    """The model's save_config() as the image's library reads it, and its best_iteration attribute."""
    return json.loads(in_image(version, "import sys, json, xgboost; b = xgboost.Booster(); "
                               "b.load_model(bytearray(sys.stdin.buffer.read())); c = json.loads(b.save_config()); "
                               "c['best_iteration'] = b.attr('best_iteration'); "
                               "c['rounds'] = b.num_boosted_rounds(); c['features'] = b.num_features(); "
                               "print(json.dumps(c))", stdin=model))
