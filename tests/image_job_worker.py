"""Runs in an image's environment (`python tests/image_job_worker.py`, this checkout on PYTHONPATH):
many training jobs of the local container one after the other in one process, for the property test.

Each stdin line is `{"ml": "<a host's /opt/ml, as the emulator lays it out>", "held_out": "<csv>"}`; the
job trains as `python -m runner.container` trains it (`training.run_host`), then its model answers
the held-out rows as the serving container does (`serving.predict_batch`). Each stdout line is
`{"rows": {...}, "answer": "<predictions>"}` or `{"failure": "<the job's FailureReason>"}` (what the
jobs print goes to stderr). One
process for all the jobs: the container's code and library, without an interpreter start and a
library import per job (runner/local/container_pool.py starts a process per job).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

# As runner/container/__main__.py: the jobs run on CPU instances, and libgomp's idle threads sleep
# (spinning, they stall every job on a busy machine).
os.environ["CUDA_VISIBLE_DEVICES"] = ""
from runner.container.openmp import apply_openmp_defaults  # noqa: E402

apply_openmp_defaults()  # before xgboost loads libgomp
import xgboost  # noqa: E402

from runner.container import serving, training  # noqa: E402
from runner.container.failures import ContainerError  # noqa: E402
from runner.container.images import image_of_library  # noqa: E402


def main() -> None:
    image = image_of_library(xgboost.__version__)
    replies = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # what the jobs print (their evaluation lines, the library's warnings) goes to stderr
    sys.stdout = sys.stderr
    for line in sys.stdin:
        job = json.loads(line)
        ml = Path(job["ml"])
        try:
            training.run_host(image, ml)
            answer = serving.predict_batch(serving.load_model(ml / "model"), job["held_out"].encode())
            reply = {"rows": json.loads((ml / "output" / training.ROWS_FILE).read_text()), "answer": answer.decode()}
        except ContainerError as error:
            reply = {"failure": error.reason}
        except Exception as error:  # the container reports anything else as its own failure
            reply = {"failure": f"AlgorithmError: {type(error).__name__}: {error}"}
        print(json.dumps(reply), file=replies, flush=True)


if __name__ == "__main__":
    main()
