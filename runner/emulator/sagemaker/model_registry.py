"""moto's SageMaker model registry, made faithful where the pipeline relies on it.

moto's `update_model_package` (moto/sagemaker/models.py, SageMakerModelBackend) replaces
CustomerMetadataProperties and ApprovalDescription with whatever the request holds, so an
UpdateModelPackage that only approves a version (run.py approve) erases the run's metadata. AWS
changes only the fields a request gives (API reference, UpdateModelPackage: "Updates a versioned
model"; CustomerMetadataPropertiesToRemove is how properties go). `installed()` keeps the fields a
request leaves out.

moto's `create_model_package` stores ClientToken and never reads it: a repeated request adds a
version each time. AWS documents the token as making the call idempotent ("A unique token that
guarantees that the call to this API is idempotent"), which the Register model state relies on
when it retries (its ClientToken is the execution name's MD5). `installed()` answers a request
whose token an existing package of the account and region carries with that package's ARN,
adding nothing. Not rehearsed: how long AWS keeps a token, and what it answers when the same
token comes with other parameters (neither is documented).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from moto.sagemaker.models import SageMakerModelBackend


@contextlib.contextmanager
def installed() -> Iterator[None]:
    original = SageMakerModelBackend.__dict__["update_model_package"]

    def update_model_package(
        backend,
        model_package_arn,
        model_approval_status,
        approval_description,
        customer_metadata_properties,
        customer_metadata_properties_to_remove,
        additional_inference_specifications_to_add,
    ):
        package = backend.model_packages.get(
            backend.model_package_name_mapping.get(model_package_arn, model_package_arn)
        )
        if package is not None:  # what the request leaves out stays as it was
            model_approval_status = model_approval_status or package.model_approval_status
            approval_description = approval_description or package.approval_description
            customer_metadata_properties = {
                **(package.customer_metadata_properties or {}),
                **(customer_metadata_properties or {}),
            }
        return original(
            backend,
            model_package_arn,
            model_approval_status,
            approval_description,
            customer_metadata_properties,
            customer_metadata_properties_to_remove,
            additional_inference_specifications_to_add,
        )

    original_create = SageMakerModelBackend.__dict__["create_model_package"]

    def create_model_package(backend, **request):
        token = request.get("client_token")
        created = next(
            (package.arn for package in backend.model_packages.values() if token and package.client_token == token),
            None,
        )
        return created or original_create(backend, **request)

    SageMakerModelBackend.update_model_package = update_model_package
    SageMakerModelBackend.create_model_package = create_model_package
    try:
        yield
    finally:
        SageMakerModelBackend.update_model_package = original
        SageMakerModelBackend.create_model_package = original_create
