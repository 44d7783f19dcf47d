"""Whether this machine can hold a local run: its free memory and temporary disk against the rows."""

from __future__ import annotations

import os

from lambda_src import row_sizes
from runner.errors import UsageError


def free_memory() -> int | None:
    """Bytes of memory available to a new process: /proc/meminfo's MemAvailable, else os.sysconf."""
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, AttributeError):
        return None


def check_machine_size(rows: int) -> None:
    """Refuse a local run of `rows` generated rows that this machine's free memory or disk cannot hold:
    the emulator holds the generated CSV in memory and writes it to a temporary folder, and xgboost
    holds each training row (lambda_src/row_sizes.py)."""
    import shutil
    import tempfile

    def size(count: int) -> str:
        return f"{count / 1e9:,.1f} GB" if count >= 1e9 else f"{count / 1e6:,.1f} MB"

    disk = row_sizes.generated_csv_bytes(rows)
    memory = disk + rows * row_sizes.TRAINING_ROW_MEMORY_BYTES
    available = free_memory()
    if available is not None and memory > available:
        raise UsageError(
            f"--local with {rows:,} rows needs about {size(memory)} of memory ({size(disk)} of generated CSV + "
            f"{row_sizes.TRAINING_ROW_MEMORY_BYTES} bytes a training row for xgboost) but "
            f"{size(available)} is free: use fewer --rows, or run it on AWS"
        )
    temp_dir = tempfile.gettempdir()
    try:
        free_disk = shutil.disk_usage(temp_dir).free
    except OSError:
        return
    if disk > free_disk:
        raise UsageError(
            f"--local with {rows:,} rows writes about {size(disk)} of generated CSV "
            f"to {temp_dir} but {size(free_disk)} is free there: use fewer --rows, free some "
            "space (or set TMPDIR to a larger disk), or run it on AWS"
        )
