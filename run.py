#!/usr/bin/env python3
"""Start a training run from the stack outputs, follow it live, fetch and score the predictions.

`python run.py --help` for usage; `python run.py --local` rehearses everything offline.
"""

import gc
import sys
from importlib import metadata

from runner.startup import missing_package_line


def _freeze_survivors(phase: str, info: dict) -> None:
    """What outlives a full collection here is modules, classes and service models, kept until
    exit: move it out of the collector's sight, so later collections only look at what is new."""
    if phase == "stop" and info["generation"] == 2:
        gc.freeze()


if __name__ == "__main__":
    # Process entry only (never in library code: a test run's garbage must stay collectable).
    gc.callbacks.append(_freeze_survivors)
    try:
        from runner.cli import main

        status = main()
    except (ModuleNotFoundError, metadata.PackageNotFoundError) as error:
        line = missing_package_line(error)  # started by a Python without the project's packages
        if line is None:
            raise
        print(line, file=sys.stderr)
        sys.exit(2)
    gc.freeze()  # exit without a last full collection over half a million objects
    sys.exit(status)
