"""Container processes: `python -m runner.container` in an image's environment, fresh or warm.

A job's container process is started in the image's environment (image_environments.python_for)
with this checkout on its PYTHONPATH; it loads the image's library, then waits for its job on
stdin. Within `run.py serve` (`keep_warm()`), one process per image is kept started ahead, so a
job takes one that has already paid the interpreter start and the library import, and a new one
starts for the next job; a spare that died is replaced; `close()` ends them with the endpoint.
Each job still gets a process of its own (no fork after the library loaded OpenMP, no state
carried from one job to the next). Jobs with their own environment (several hosts: OMP_NUM_THREADS
per host, read when the library loads) always start fresh.
"""

from __future__ import annotations

import os
import subprocess
import threading
from pathlib import Path

from runner.local.image_environments import ROOT, python_for

_lock = threading.Lock()
_spares: dict[str, subprocess.Popen] | None = None  # None: not keeping processes warm


def _environment(extra: dict[str, str] | None) -> dict[str, str]:
    environ = {**os.environ, **(extra or {})}
    environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    environ["PYTHONDONTWRITEBYTECODE"] = "1"
    return environ


def _popen(version: str, extra: dict[str, str] | None) -> subprocess.Popen:
    return subprocess.Popen([str(python_for(version)), "-m", "runner.container"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=_environment(extra), cwd=ROOT)


def start(version: str, extra_environment: dict[str, str] | None = None) -> subprocess.Popen:
    """A container process of image `version` waiting for its job line (stdin, stdout piped; stderr
    into stdout). Raises image_environments.EnvironmentUnavailable when the environment cannot be made."""
    warm = _spares is not None and not extra_environment
    with _lock:
        spare = _spares.pop(version, None) if warm and _spares is not None else None
    if spare is not None and spare.poll() is not None:
        spare.stdout.close()
        spare.stdin.close()
        spare = None  # it died waiting: replaced
    process = spare or _popen(version, extra_environment)
    if warm:
        with _lock:
            if _spares is not None and version not in _spares:
                _spares[version] = _popen(version, None)  # the next job's, loading now
    return process


def keep_warm() -> None:
    """From now on keep one process per image started ahead (run.py serve)."""
    global _spares
    with _lock:
        if _spares is None:
            _spares = {}


def close() -> None:
    """End the spare processes and stop keeping any."""
    global _spares
    with _lock:
        spares, _spares = _spares or {}, None
    for process in spares.values():
        process.stdin.close()  # no job line: the process exits
        process.stdout.close()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
