#!/usr/bin/env python3
"""`make bench`: the project's speed and memory figures, printed (never asserted in tests)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import local_bench, seed_bench  # noqa: E402

if __name__ == "__main__":
    print("== Seeding function ==", flush=True)
    seed_bench.main()
    print("\n== Offline rehearsal vs a plain script ==", flush=True)
    local_bench.main()
