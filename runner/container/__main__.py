"""`python -m runner.container`: one container process in an image's environment.

It loads the image's library first, then reads its job from stdin, one JSON line:
`{"job": "train" | "serve", "ml": "<its /opt/ml>"}`, so a process can be started ahead of a job and
wait, warm (runner/emulator/sagemaker/container_pool.py). Training exits 0, or 1 with the FailureReason in
`output/failure`; serving answers request frames on stdin/stdout (serving.py). The process also
ends when stdin closes while it trains (its parent, the emulator, is gone).
"""

from __future__ import annotations

import json
import os
import sys
import threading
from pathlib import Path

# The jobs run on CPU instances (ml.m5...): a GPU on this machine must not make gpu_hist or
# gpu_predictor pass here where AWS fails them ("No visible GPU is found for XGBoost.").
os.environ["CUDA_VISIBLE_DEVICES"] = ""
from runner.container.openmp import apply_openmp_defaults  # noqa: E402

apply_openmp_defaults()  # before xgboost loads libgomp

import xgboost  # noqa: E402  loaded before the job arrives: what a warm process saves

from runner.container import serving, training  # noqa: E402
from runner.container.failures import ContainerError  # noqa: E402
from runner.container.images import image_of_library  # noqa: E402


def _exit_with_parent() -> None:
    """The parent holds stdin open until the job ends: EOF means it is gone (os.read: no lock held)."""
    while os.read(0, 1 << 12):
        pass
    os._exit(1)


def main() -> int:
    image = image_of_library(xgboost.__version__)
    line = sys.stdin.buffer.readline()
    if not line:
        return 0  # a warm process the pool no longer needs
    job = json.loads(line)
    ml = Path(job["ml"])
    if job["job"] == "serve":
        serving.serve(ml, sys.stdin.buffer, serving.answers_channel(ml / "output" / "log"))
        return 0
    threading.Thread(target=_exit_with_parent, daemon=True).start()
    os.chdir(ml)
    try:
        training.run_host(image, ml)
    except ContainerError as error:
        (ml / "output" / "failure").write_text(error.reason)
        return 1
    except Exception as error:  # what the container reports as its own failure
        (ml / "output" / "failure").write_text(f"AlgorithmError: {type(error).__name__}: {error}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
