"""moto's SageMaker model registry, made faithful where the pipeline relies on it.

moto's `update_model_package` (moto/sagemaker/models.py, SageMakerModelBackend) replaces
CustomerMetadataProperties and ApprovalDescription with whatever the request holds, so an
UpdateModelPackage that only approves a version (run.py approve) erases the run's metadata. AWS
changes only the fields a request gives (API reference, UpdateModelPackage: "Updates a versioned
model"; CustomerMetadataPropertiesToRemove is how properties go). `installed()` keeps the fields a
request leaves out.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from moto.sagemaker.models import SageMakerModelBackend


@contextlib.contextmanager
def installed() -> Iterator[None]:
    original = SageMakerModelBackend.__dict__["update_model_package"]

    def update_model_package(backend, model_package_arn, model_approval_status, approval_description,
                             customer_metadata_properties, customer_metadata_properties_to_remove,
                             additional_inference_specifications_to_add):
        package = backend.model_packages.get(backend.model_package_name_mapping.get(
            model_package_arn, model_package_arn))
        if package is not None:  # what the request leaves out stays as it was
            model_approval_status = model_approval_status or package.model_approval_status
            approval_description = approval_description or package.approval_description
            customer_metadata_properties = {**(package.customer_metadata_properties or {}),
                                            **(customer_metadata_properties or {})}
        return original(backend, model_package_arn, model_approval_status, approval_description,
                        customer_metadata_properties, customer_metadata_properties_to_remove,
                        additional_inference_specifications_to_add)

    SageMakerModelBackend.update_model_package = update_model_package
    try:
        yield
    finally:
        SageMakerModelBackend.update_model_package = original
