"""The built-in XGBoost container image of a region, as the SageMaker Python SDK resolves it.

`sagemaker.core.image_uris.retrieve("xgboost", region, version)` answers from a JSON table
that sagemaker-core ships (`sagemaker/core/image_uri_config/xgboost.json`: per version, the
ECR account of each region and the repository) and botocore's endpoint data (the ECR host of
the region). Importing the SDK to ask it costs about 2 s (it builds hundreds of pydantic
classes on import), paid by every `pulumi up`, rehearsal and test. So the same table is read
here directly, the way `retrieve` reads it for the plain cases; anything it does not answer
plainly (an unknown version or region, several processors or Python versions to choose from)
goes to the SDK itself, which resolves it or raises its own error.
`tests/program/test_images.py` checks that both agree on every region and version of the table.
"""

from __future__ import annotations

import functools
import json

FRAMEWORK = "xgboost"
# AWS: "do not use :latest or :1" (XGBoost 0.72); the SDK still resolves them.
DEPRECATED_VERSIONS = ("latest", "1")
_SDK_DISTRIBUTION = "sagemaker-core"
_TABLE = f"sagemaker/core/image_uri_config/{FRAMEWORK}.json"


@functools.cache
def image_table() -> dict:
    """The SDK's training-scope table for XGBoost: {"versions": {...}, "version_aliases": {...}}."""
    from importlib.metadata import distribution  # finds the file without importing the SDK

    with open(distribution(_SDK_DISTRIBUTION).locate_file(_TABLE), encoding="utf-8") as table:
        config = json.load(table)
    # retrieve() uses the "training" scope when none is given (training and inference are equal).
    return config["training"]


@functools.cache
def _endpoint_resolver():
    import botocore.regions
    import botocore.session

    # The data loader botocore's sessions use (shared with the emulator's in a rehearsal).
    return botocore.regions.EndpointResolver(botocore.session.create_loader().load_data("endpoints"))


def partition(region: str) -> tuple[str, str]:
    """(partition, DNS suffix) of `region` from botocore's endpoint data: ("aws-iso",
    "c2s.ic.gov") for us-iso-east-1; ("aws", "amazonaws.com") for a region it does not know."""
    import botocore.exceptions

    resolver = _endpoint_resolver()
    try:
        name = resolver.get_partition_for_region(region)
    except botocore.exceptions.UnknownRegionError:  # a region newer than botocore's data
        name = "aws"
    return name, resolver.get_partition_dns_suffix(name)


def _ecr_hostname(region: str) -> str | None:
    """ECR's host in `region` from botocore's endpoint data, as the SDK finds it."""
    endpoint = _endpoint_resolver().construct_endpoint("ecr", region)
    return endpoint["hostname"] if endpoint else None


def _from_table(region: str, version: str) -> str | None:
    """The URI `retrieve` builds for the plain cases of the table, else None."""
    try:
        entry = image_table()["versions"].get(version)
    except (OSError, ValueError, KeyError):  # moved or reshaped in another SDK release: ask the SDK
        return None
    if entry is None or region not in entry.get("registries", {}):
        return None
    if set(entry) - {"registries", "repository", "processors", "py_versions"}:
        return None  # tag prefixes, container versions, ...: the SDK knows what they mean
    processors, py_versions = entry.get("processors") or [None], entry.get("py_versions") or [None]
    if len(processors) != 1 or len(py_versions) != 1:
        return None  # the SDK needs an instance type or a Python version to choose
    hostname = _ecr_hostname(region)
    if hostname is None:
        return None
    tag = "-".join(part for part in (version, processors[0], py_versions[0]) if part)
    return f"{entry['registries'][region]}.dkr.{hostname}/{entry['repository']}:{tag}"


def training_image(region: str, version: str) -> str:
    """The built-in XGBoost image URI for `region` and container `version` (e.g. "1.7-1").

    Raises ValueError for deprecated versions, and with the SDK's message for versions or
    regions it does not support.
    """
    if version in DEPRECATED_VERSIONS:
        raise ValueError(f"XGBoost version {version!r} is deprecated by AWS; use e.g. 3.2-0")
    uri = _from_table(region, version)
    if uri is not None:
        return uri
    from sagemaker.core import image_uris  # about 2 s to import: only for what the table leaves open

    return image_uris.retrieve(FRAMEWORK, region, version)
