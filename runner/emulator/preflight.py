"""What the offline rehearsal knows before it deploys: its refusals, and the outputs the stack will have.

Imports neither moto, Pulumi nor xgboost, so that `run.py --local` checks a run in full (the stack
file, this machine, the execution name, input and data) and refuses it in one line before its first
progress line and before anything heavy loads.

The local stack's names are deterministic: the engine double names a resource as Pulumi's
auto-naming does, with a suffix hashed from the resource's name instead of a random one
(`auto_name`), so the bucket is known from the component's resource name alone. `expected_outputs`
is what a deployment of the stack exports for the checks a run needs; `check_deployed` compares it
with what the deployment did export, so a change of the program that moves a name fails loudly.
"""

from __future__ import annotations

import hashlib

from components.names import bucket_resource
from runner.emulator.image_environments import IMAGE_VERSIONS, EnvironmentUnavailable, python_for

# Each host is a Python process with XGBoost loaded (about 150 MB before data) sharing this
# machine's cores: past this many the rehearsal would only thrash, so it refuses.
MAX_LOCAL_HOSTS = 16
# The bucket's resource name, as the program gives it.
BUCKET_RESOURCE = bucket_resource()
# The outputs `expected_outputs` knows, and which run.py checks a run against.
CHECKED_OUTPUTS = ("bucketName", "jobNamePrefix", "region", "runDefaults")


class UnsupportedVersion(ValueError):
    """A container version whose library this rehearsal does not run."""


class TooManyHosts(ValueError):
    """More instances than the rehearsal runs (MAX_LOCAL_HOSTS)."""


class UnexpectedOutputs(ValueError):
    """A deployment exported other outputs than `expected_outputs` said it would."""


def auto_name(name: str) -> str:
    """Pulumi's auto-naming: the resource name plus a 7-hex suffix (deterministic here)."""
    return f"{name}-{hashlib.sha256(name.encode()).hexdigest()[:7]}"


def check_container_version(version: str) -> None:
    """Refuse, before anything starts, an image the rehearsal has no environment for; make the
    image's environment now if it is missing (one progress line), or refuse in one line if it cannot be made."""
    if version not in IMAGE_VERSIONS:
        raise UnsupportedVersion(
            f"xgboostVersion {version!r}: the offline rehearsal runs the images "
            f"{', '.join(IMAGE_VERSIONS)}; choose one of these, or run this version on AWS"
        )
    try:
        python_for(version)
    except EnvironmentUnavailable as error:
        raise UnsupportedVersion(str(error)) from None


def check_instance_count(count: int, setting: str = "InstanceCount") -> None:
    """Refuse, naming `setting`, a count of instances the rehearsal would not run."""
    if count > MAX_LOCAL_HOSTS:
        raise TooManyHosts(
            f"{setting} {count}: the offline rehearsal runs one process per instance, "
            f"at most {MAX_LOCAL_HOSTS}; rehearse with fewer instances (run this count on AWS)"
        )


def check_settings(settings) -> None:
    """The stack's settings the rehearsal cannot run (`PipelineSettings`): UnsupportedVersion, TooManyHosts."""
    check_container_version(settings.xgboost_version)
    check_instance_count(settings.training_instance_count, "trainingInstanceCount")


def expected_outputs(settings) -> dict:
    """The outputs of `settings`' stack deployed in the emulator that a run is checked against."""
    return {
        "bucketName": auto_name(BUCKET_RESOURCE),
        "jobNamePrefix": settings.job_name_prefix,
        "region": settings.region,
        "runDefaults": settings.run_defaults,
    }


def check_deployed(expected: dict, outputs: dict) -> None:
    """Raise UnexpectedOutputs naming the output a deployment exported otherwise than `expected_outputs` said."""
    for key in CHECKED_OUTPUTS:
        if outputs.get(key) != expected[key]:
            raise UnexpectedOutputs(
                f"the deployed stack's {key} is {outputs.get(key)!r}, where run.py checked the run "
                f"against {expected[key]!r} (runner/emulator/preflight.py no longer matches the program)"
            )
