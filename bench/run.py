#!/usr/bin/env python3
"""`make bench`: the project's speed and memory figures, printed (never asserted in tests).

Each part runs in its own process: the seeding bench hosts moto in-process, and the rehearsal
bench measures its children's peak memory, which on Linux includes what their parent held.
"""

import subprocess
import sys
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent

if __name__ == "__main__":
    for title, script in (
        ("run.py --local: the first line on stderr", "first_line_bench.py"),
        ("Seeding function", "seed_bench.py"),
        ("Preparing a user's CSV (seeding function, prepare)", "prepare_bench.py"),
        ("Offline rehearsal vs a plain script (one and two training instances)", "local_bench.py"),
        ("Scoring by objective vs scikit-learn", "scoring_bench.py"),
        ("The local endpoint (run.py serve): repeat runs, many executions at once", "serve_bench.py"),
    ):
        print(f"== {title} ==", flush=True)
        subprocess.run([sys.executable, str(BENCH_DIR / script)], check=True)
        print(flush=True)
