"""run.py --max-cost: the worst case of the deployed definition is printed, and a run above the
limit (or whose worst case cannot be known) is refused before anything is claimed, uploaded or started."""

from __future__ import annotations

from datetime import datetime

import boto3
import pytest
from botocore.stub import Stubber
from price_list import LAMBDA, M5_PRODUCTS, SAGEMAKER_M5, _product
from run_py_stubs import OUTPUTS, run

from components.definition import render_definition
from components.settings import PipelineSettings
from runner import cli, cost
from runner.cli import stack


class _Clients:
    def __init__(self):
        self.sfn = boto3.client(
            "stepfunctions", region_name="us-west-2", aws_access_key_id="x", aws_secret_access_key="x"
        )
        self.s3 = self.sagemaker = None


def _described(**config) -> dict:
    settings = PipelineSettings.from_config(config.get, stack="dev", region="us-west-2")
    definition = render_definition(
        settings,
        partition="aws",
        bucket=OUTPUTS["bucketName"],
        validation_function_arn="arn:aws:lambda:us-west-2:111122223333:function:validate-abc",
        seed_function_arn="arn:aws:lambda:us-west-2:111122223333:function:seed-abc",
        sagemaker_role_arn=OUTPUTS["sageMakerRoleArn"],
        evaluation_function_arn="arn:aws:lambda:us-west-2:111122223333:function:evaluate-abc",
    )
    return {
        "stateMachineArn": OUTPUTS["stateMachineArn"],
        "name": OUTPUTS["stateMachineName"],
        "definition": definition,
        "roleArn": "arn:aws:iam::111122223333:role/states-abc",
        "type": "STANDARD",
        "creationDate": datetime(2026, 1, 1),
    }


@pytest.fixture
def pricing(monkeypatch, tmp_path):
    client = boto3.client("pricing", region_name=cost.PRICING_REGION, aws_access_key_id="x", aws_secret_access_key="x")
    stubber = Stubber(client)
    monkeypatch.setattr(cost, "PriceList", lambda: _PRICE_LIST(client, cache_dir=tmp_path))
    with stubber:
        yield stubber


_PRICE_LIST = cost.PriceList  # the real class, which the fixture hands the stubbed client


def test_a_run_above_max_cost_is_refused_before_anything_starts(outputs_file, monkeypatch, capsys, tmp_path, pricing):
    clients = _Clients()
    with Stubber(clients.sfn) as sfn:  # a start_execution call would be unexpected
        sfn.add_response(
            "describe_state_machine",
            _described(trainingInstanceCount=4),
            {"stateMachineArn": OUTPUTS["stateMachineArn"]},
        )
        for _ in range(2):
            pricing.add_response("get_products", {"FormatVersion": "aws_v1", "PriceList": M5_PRODUCTS}, SAGEMAKER_M5)
        pricing.add_response(
            "get_products",
            {
                "FormatVersion": "aws_v1",
                "PriceList": [_product("USW2-Lambda-GB-Second", "0.0000166667", "Lambda-GB-Second")],
            },
            LAMBDA,
        )
        monkeypatch.setattr(stack, "Clients", lambda region: clients)
        code, out, err = run(
            [
                "--outputs-file",
                outputs_file,
                "--name",
                "xgb-dev--1",
                "--max-cost",
                "0.50",
                "--runs-dir",
                str(tmp_path / "runs"),
            ],
            capsys,
        )
        sfn.assert_no_pending_responses()
    worst = round(4 * 0.2304 + 0.231 + 6 * (60 + 900 + 900) * 1769 / 1024 * 0.0000166667, 6)
    assert code == 2 and out == ""
    line, error = err.strip().splitlines()
    assert line.startswith(f"worst case: ${worst:.2f} (training 3600 s on every instance")
    assert error == (
        f"run.py: error: --max-cost 0.50: this run can cost up to ${worst:.2f}; nothing was started "
        "(lower maxRuntimeSeconds, maxWaitSeconds or the instance counts, or raise --max-cost)"
    )
    assert list((tmp_path / "runs").iterdir()) == []


def test_an_unknown_worst_case_refuses_a_run_with_max_cost(outputs_file, monkeypatch, capsys, tmp_path, pricing):
    clients = _Clients()
    with Stubber(clients.sfn) as sfn:
        sfn.add_response("describe_state_machine", _described(), {"stateMachineArn": OUTPUTS["stateMachineArn"]})
        pricing.add_client_error("get_products", "AccessDeniedException", "no", 400)
        monkeypatch.setattr(stack, "Clients", lambda region: clients)
        code, _, err = run(
            [
                "--outputs-file",
                outputs_file,
                "--name",
                "xgb-dev--1",
                "--max-cost",
                "5",
                "--runs-dir",
                str(tmp_path / "runs"),
            ],
            capsys,
        )
    assert code == 2
    assert (
        err.strip()
        .splitlines()[-1]
        .startswith("run.py: error: --max-cost 5.00: the worst case is unknown (no permission: ")
    )


@pytest.mark.parametrize("value", ["-1", "nan", "inf", "ten"])
def test_max_cost_must_be_an_amount(value, outputs_file, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--outputs-file", outputs_file, "--max-cost", value])
    assert exit_info.value.code == 2 and "is not an amount in US dollars" in capsys.readouterr().err


def test_max_cost_only_applies_when_starting_a_run(outputs_file, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--max-cost", "1", "list", "--outputs-file", outputs_file])
    assert exit_info.value.code == 2 and "--max-cost only applies when starting a run" in capsys.readouterr().err
