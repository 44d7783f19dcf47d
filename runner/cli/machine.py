"""Whether this machine can hold a local run: its free memory and temporary disk against the rows."""

from __future__ import annotations

import os

from runner.errors import UsageError

# A local run's generated CSV: "label,x,y" with x and y in 0-100, at most 10 bytes a row. The
# emulator holds it in memory and writes it to a temporary folder; xgboost 1.7.4 takes about 130
# bytes of memory a training row on top.
CSV_BYTES_PER_ROW, XGBOOST_BYTES_PER_ROW = 10, 130


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
    """Refuse a local run of `rows` generated rows that this machine's free memory or disk cannot hold."""
    import shutil
    import tempfile

    def size(count: int) -> str:
        return f"{count / 1e9:,.1f} GB" if count >= 1e9 else f"{count / 1e6:,.1f} MB"

    memory = rows * (CSV_BYTES_PER_ROW + XGBOOST_BYTES_PER_ROW)
    available = free_memory()
    if available is not None and memory > available:
        raise UsageError(
            f"--local with {rows:,} rows needs about {size(memory)} of memory ({rows:,} rows x "
            f"{CSV_BYTES_PER_ROW} bytes of CSV + {XGBOOST_BYTES_PER_ROW} bytes for xgboost a row) but "
            f"{size(available)} is free: use fewer --rows, or run it on AWS")
    temp_dir = tempfile.gettempdir()
    disk = rows * CSV_BYTES_PER_ROW
    try:
        free_disk = shutil.disk_usage(temp_dir).free
    except OSError:
        return
    if disk > free_disk:
        raise UsageError(
            f"--local with {rows:,} rows writes about {size(disk)} ({rows:,} rows x {CSV_BYTES_PER_ROW} "
            f"bytes) to {temp_dir} but {size(free_disk)} is free there: use fewer --rows, free some "
            "space (or set TMPDIR to a larger disk), or run it on AWS")
