#!/usr/bin/env python3
"""Start a training run from the stack outputs, follow it live, fetch and score the predictions.

`python run.py --help` for usage; `python run.py --local` rehearses everything offline.
"""

import sys

from runner.cli import main

if __name__ == "__main__":
    sys.exit(main())
