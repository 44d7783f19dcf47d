"""The local container from the tests' side of the process boundary: jobs through the emulator's
hosts (runner.emulator.sagemaker.hosts), serving through sagemaker_serving, and snippets run in an
image's environment where a test must look inside the library (a model's config, a DMatrix)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from runner.emulator.image_environments import ROOT, python_for
from runner.emulator.sagemaker import hosts as sagemaker_hosts
from runner.emulator.sagemaker.hosts import Channel
from runner.emulator.sagemaker.serving import Serving, model_archive


def channel(root: Path, name: str, files: dict[str, bytes], content_type="text/csv") -> Channel:
    for relative, data in files.items():
        path = root / name / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return Channel(name, content_type, root / name)


def train(
    version: str,
    channels: list[Channel],
    hyperparameters: dict[str, str],
    instances: int = 1,
    input_data_config: list[dict] | None = None,
    **kwargs,
) -> sagemaker_hosts.TrainingResult:
    return sagemaker_hosts.train(version, channels, input_data_config or [], instances, hyperparameters, **kwargs)


def predict(version: str, model: bytes, payload: bytes) -> bytes:
    with Serving(version, model_archive(model)) as serving:
        return serving.predict(payload)


def in_image(version: str, code: str, *args: str, stdin: bytes = b"") -> str:
    """`code` run by image `version`'s interpreter (this checkout importable); its stdout."""
    done = subprocess.run(
        [str(python_for(version)), "-W", "ignore", "-c", code, *args], cwd=ROOT, input=stdin, capture_output=True
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    return done.stdout.decode()


def model_config(version: str, model: bytes) -> dict:
    """The model's save_config() as the image's library reads it, and its best_iteration attribute."""
    return json.loads(
        in_image(
            version,
            "import sys, json, xgboost; b = xgboost.Booster(); "
            "b.load_model(bytearray(sys.stdin.buffer.read())); c = json.loads(b.save_config()); "
            "c['best_iteration'] = b.attr('best_iteration'); "
            "c['rounds'] = b.num_boosted_rounds(); c['features'] = b.num_features(); "
            "print(json.dumps(c))",
            stdin=model,
        )
    )


_LOOP = """
import json, os, sys
from pathlib import Path
answers = os.fdopen(os.dup(1), "w")
os.dup2(os.open(os.devnull, os.O_WRONLY), 1)  # the evaluation lines: not on the answers' pipe
os.environ["CUDA_VISIBLE_DEVICES"] = ""  # as runner/container/__main__.py: CPU instances, and idle
from runner.container.openmp import apply_openmp_defaults  # OpenMP threads that sleep (spinning,
apply_openmp_defaults()  # they stall every job on a busy machine: 4x slower here)
import xgboost
from runner.container import serving, training
from runner.container.failures import ContainerError
from runner.container.images import image_of_library
image = image_of_library(xgboost.__version__)
for line in sys.stdin:
    request = json.loads(line)
    ml = Path(request["ml"])
    try:
        training.run_host(image, ml)
        answer = serving.predict_batch(serving.load_model(ml / "model"), request["payload"].encode())
        result = {"answer": answer.decode(), "rows": json.loads((ml / "output" / "rows.json").read_text())}
    except ContainerError as error:
        result = {"failure": error.reason}
    answers.write(json.dumps(result) + "\\n")
    answers.flush()
"""


class ImageWorker:
    """One process in image `version`'s environment that trains and transforms request after
    request with the container's own code (runner/container training.run_host, serving): for tests
    that try many inputs (the property test), without a process start per job. What a job
    leaves in one process can reach the next here (the library's global state), unlike the
    emulator's one process per job."""

    def __init__(self, version: str):
        self._process = subprocess.Popen(
            [str(python_for(version)), "-W", "ignore", "-c", _LOOP],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def train_and_transform(
        self, root: Path, channels: list[Channel], hyperparameters: dict[str, str], payload: bytes
    ) -> dict:
        """{"answer": <the .out text>, "rows": {...}} or {"failure": <FailureReason>}."""
        ml = sagemaker_hosts._write_host(root, "algo-1", ["algo-1"], channels, {}, hyperparameters)
        self._process.stdin.write(json.dumps({"ml": str(ml), "payload": payload.decode()}) + "\n")
        self._process.stdin.flush()
        line = self._process.stdout.readline()
        assert line, "the image worker ended"
        return json.loads(line)

    def close(self) -> None:
        self._process.stdin.close()
        self._process.wait(30)
        self._process.stdout.close()
