"""Container processes: `python -m runner.container` in an image's environment, fresh or warm.

A job's container process is started in the image's environment (image_environments.python_for)
with this checkout on its PYTHONPATH; it loads the image's library, then waits for its job on
stdin. With `keep_warm()`, SPARES_PER_IMAGE processes per image used are kept
started ahead, so a job takes one that has already paid the interpreter start and the library
import, and a new one starts for the next job; a spare that died is replaced; `close()` ends them with the endpoint.
Each job still gets a process of its own (no fork after the library loaded OpenMP, no state
carried from one job to the next). `run.py --local` and `run.py serve` keep them warm for the
life of the local stack (runner/emulator/stack.py). Jobs with their own environment (several hosts: OMP_NUM_THREADS
per host, read when the library loads) always start fresh.
"""

from __future__ import annotations

import os
import subprocess
import threading

from runner.emulator.image_environments import ROOT, python_for

# A run makes a training job and a transform job: both find a process loaded.
SPARES_PER_IMAGE = 2
_lock = threading.Lock()
_spares: dict[str, list[subprocess.Popen]] | None = None  # None: not keeping processes warm
_refill = True  # False: the spares started first are all (a one-run `run.py --local`)


def _environment(extra: dict[str, str] | None) -> dict[str, str]:
    environ = {**os.environ, **(extra or {})}
    environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    environ["PYTHONDONTWRITEBYTECODE"] = "1"
    return environ


def _popen(version: str, extra: dict[str, str] | None) -> subprocess.Popen:
    return subprocess.Popen(
        [str(python_for(version)), "-m", "runner.container"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=_environment(extra),
        cwd=ROOT,
    )


def start(version: str, extra_environment: dict[str, str] | None = None) -> subprocess.Popen:
    """A container process of image `version` waiting for its job line (stdin, stdout piped; stderr
    into stdout). Raises image_environments.EnvironmentUnavailable when the environment cannot be made."""
    warm = _spares is not None and not extra_environment
    process = None
    with _lock:
        waiting = _spares.setdefault(version, []) if warm and _spares is not None else []
        while waiting and process is None:
            process = waiting.pop(0)
            if process.poll() is not None:  # it died waiting: replaced
                process.stdin.close()
                process.stdout.close()
                process = None
    if warm and _refill:
        _fill(version)
    return process or _popen(version, extra_environment)


def _fill(version: str) -> None:
    """Start processes until `version` has SPARES_PER_IMAGE waiting (while keeping warm)."""
    with _lock:
        if _spares is None:
            return
        waiting = _spares.setdefault(version, [])
        while len(waiting) < SPARES_PER_IMAGE:
            waiting.append(_popen(version, None))


def spare_ids() -> list[int]:
    """The process ids of the spares waiting for a job."""
    with _lock:
        return [process.pid for waiting in (_spares or {}).values() for process in waiting]


def keep_warm(version: str, refill: bool = True) -> None:
    """From now on keep processes started ahead for each image used; start `version`'s now.
    Without `refill` (said by the first caller until `close()`), no more are started once these
    are taken: one run's jobs."""
    global _spares, _refill
    with _lock:
        if _spares is None:  # the first caller says whether to refill, until close()
            _spares, _refill = {}, refill
    _fill(version)


def close() -> None:
    """End the spare processes and stop keeping any."""
    global _spares
    with _lock:
        spares, _spares = _spares or {}, None
    for process in [process for waiting in spares.values() for process in waiting]:
        process.stdin.close()  # no job line: the process exits
        process.stdout.close()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
