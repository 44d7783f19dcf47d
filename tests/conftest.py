"""Shared test set-up."""

from unittest import mock

import botocore.loaders
import pytest

# Loaded first: the emulated container sets its OpenMP defaults before xgboost loads (libgomp
# reads them once, and test modules import xgboost too), and runner.local keeps moto's Batch
# and EC2 models out before any test loads moto's Step Functions interpreter.
import runner.local.sagemaker_container  # noqa: F401


@pytest.fixture(scope="session", autouse=True)
def botocore_data_parsed_once():
    """All botocore sessions of the test run share one loader per data path.

    moto gives every mock a fresh boto3 default session, whose loader would parse botocore's
    endpoint data and each service model again: about 0.4 s per test that starts a mock.
    Loaded data is only read, so sharing it changes nothing else.
    """
    loaders: dict[str | None, botocore.loaders.Loader] = {}

    def create_loader(search_path_string=None):
        if search_path_string not in loaders:
            loaders[search_path_string] = botocore.loaders.create_loader(search_path_string)
        return loaders[search_path_string]

    with mock.patch("botocore.session.create_loader", create_loader):
        yield
