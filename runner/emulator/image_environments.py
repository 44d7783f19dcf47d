"""The Python environment of each SageMaker XGBoost image, where the local container runs its jobs.

An image is an environment: a venv in `.image-envs/<version>/` (gitignored) holding the image's
library and pins (`runner/container/requirements/<version>.txt`), made with this machine's python3.
`python_for(version)` answers its interpreter, making it on first use: one progress line, then pip;
the venv is made beside its home and renamed into place once complete, so a half-made one is never
used. `make local` makes the default image's; `python -m runner.emulator.image_environments VERSION...`
makes any (the Makefile's targets). Imports neither moto nor xgboost.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

from components import PROJECT_DIR as ROOT  # the checkout

REQUIREMENTS = ROOT / "runner" / "container" / "requirements"
# The images the local container runs, the default first (the one image still in patch support).
IMAGE_VERSIONS = ("3.2-0", "3.0-5", "1.7-1")
DEFAULT_IMAGE_VERSION = IMAGE_VERSIONS[0]
READY = ".ready"  # written last, holding the hash of the pin file the environment was made from


class EnvironmentUnavailable(RuntimeError):
    """An image environment that is missing and could not be made (offline, for example): one line."""


def environments_folder() -> Path:
    """Where the environments live: `.image-envs/` in the checkout (RUNNER_IMAGE_ENVS moves it, for tests)."""
    return Path(os.environ.get("RUNNER_IMAGE_ENVS") or ROOT / ".image-envs")


def image_version(image_uri: str) -> str:
    """The image version a training image URI names: its tag (`.../sagemaker-xgboost:3.2-0` -> `3.2-0`)."""
    return image_uri.rsplit("/", 1)[-1].partition(":")[2]


def requirements_file(version: str) -> Path:
    if version not in IMAGE_VERSIONS:
        raise EnvironmentUnavailable(
            f"no local environment for the SageMaker XGBoost image {version!r}; "
            f"the local container runs {', '.join(IMAGE_VERSIONS)}"
        )
    return REQUIREMENTS / f"{version}.txt"


def _pins_hash(version: str) -> str:
    return hashlib.sha256(requirements_file(version).read_bytes()).hexdigest()


def is_ready(version: str) -> bool:
    """Whether `version`'s environment is made from its current pin file."""
    marker = environments_folder() / version / READY
    try:
        return marker.read_text() == _pins_hash(version)
    except OSError:
        return False


def python_for(version: str, progress=sys.stderr) -> Path:
    """The interpreter of image `version`'s environment, made first if missing or stale.

    Raises EnvironmentUnavailable (one line) when it cannot be made; nothing half-made is kept.
    Concurrent callers wait for one maker (a lock file beside the environments).
    """
    home = environments_folder() / version
    python = home / "bin" / "python"
    if is_ready(version):
        return python
    home.parent.mkdir(parents=True, exist_ok=True)
    with open(home.parent / f".{version}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not is_ready(version):
            _make(version, home, progress)
    return python


def _make(version: str, home: Path, progress) -> None:
    pins = requirements_file(version)
    building = home.parent / f".{version}.building"
    shutil.rmtree(building, ignore_errors=True)
    print(
        f"Making the environment of the SageMaker XGBoost {version} image in {home} "
        f"(first use; pip installs {pins.relative_to(ROOT)}) ...",
        file=progress,
        flush=True,
    )
    # This machine's python3, not a venv's (a venv made from a venv's python is fine, but the
    # project's venv may itself be missing when `make` calls this through another interpreter).
    base = getattr(sys, "_base_executable", None) or sys.executable
    try:
        subprocess.run([base, "-m", "venv", "--without-pip", str(building)], check=True, capture_output=True)
        # --without-pip + pip from this interpreter: no ensurepip run, no pip copy in each environment.
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "--python",
                str(building / "bin" / "python"),
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--no-input",
                "--only-binary=:all:",
                "-r",
                str(pins),
            ],
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            errors = [line.strip() for line in done.stderr.splitlines() if line.startswith("ERROR")]
            cause = errors[-1] if errors else (done.stderr.strip().splitlines() or ["pip failed"])[-1]
            raise EnvironmentUnavailable(
                f"cannot make the environment of the SageMaker XGBoost {version} image: pip could not install "
                f"{pins.relative_to(ROOT)} ({cause.removeprefix('ERROR: ')[:200]}); check this machine's "
                "network and package index, then run again"
            )
        (building / READY).write_text(_pins_hash(version))
        shutil.rmtree(home, ignore_errors=True)
        os.rename(building, home)
    except subprocess.CalledProcessError as error:
        raise EnvironmentUnavailable(
            f"cannot make a venv for the SageMaker XGBoost {version} image with {base}: "
            f"{(error.stderr or b'').decode(errors='replace').strip()[:200]}"
        ) from None
    finally:
        shutil.rmtree(building, ignore_errors=True)


def main(argv: list[str]) -> int:
    """`python -m runner.emulator.image_environments [VERSION...]`: make these environments (default: all)."""
    try:
        for version in argv or IMAGE_VERSIONS:
            python_for(version)
    except EnvironmentUnavailable as error:
        print(f"image environments: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
