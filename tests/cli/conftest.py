"""Fixtures of the CLI's tests: a stack's outputs file, no AWS at all, a stubbed Price List client."""

import json

import boto3
import pytest
from botocore.stub import Stubber
from run_py_stubs import OUTPUTS

from runner import cost
from runner.cli import stack


@pytest.fixture
def outputs_file(tmp_path):
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps(OUTPUTS))
    return str(path)


@pytest.fixture
def no_aws(monkeypatch):
    """Fail the test if anything creates an AWS client."""

    def refuse(*args, **kwargs):
        raise AssertionError("an AWS client was created")

    monkeypatch.setattr(stack, "Clients", refuse)


@pytest.fixture
def pricing():
    client = boto3.client("pricing", region_name=cost.PRICING_REGION, aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()
