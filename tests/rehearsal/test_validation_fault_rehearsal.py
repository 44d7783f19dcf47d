"""A validation function that fails for the platform's reasons (here: it runs past its Timeout) ends
the execution as that fault, in `Pipeline failed`, not as InvalidExecutionInput, with nothing written."""

from __future__ import annotations

import io
import zipfile

import boto3
from dev_stack import PREFIX
from emulated_execution import start_and_wait, states_entered

from components import lambda_functions

# The deployed package's validation module, replaced by one that outlasts a 1-second Timeout.
SLOW_VALIDATION = "import time\n\ndef handler(event, context):\n    time.sleep(1.2)\n    return {}\n"


def test_a_validation_function_that_times_out_is_a_platform_fault_not_bad_input(stack):
    lambda_client = boto3.client("lambda", region_name=stack["region"])
    [validation] = [
        function["FunctionName"]
        for function in lambda_client.list_functions()["Functions"]
        if function["Handler"] == lambda_functions.VALIDATION_HANDLER
    ]
    package = io.BytesIO()
    module = lambda_functions.VALIDATION_HANDLER.rsplit(".", 1)[0].split(".")  # lambda_src.execution_input
    with zipfile.ZipFile(package, "w") as archive:
        for depth in range(1, len(module)):
            archive.writestr("/".join(module[:depth]) + "/__init__.py", "")
        archive.writestr("/".join(module) + ".py", SLOW_VALIDATION)
    lambda_client.update_function_code(FunctionName=validation, ZipFile=package.getvalue())
    lambda_client.update_function_configuration(FunctionName=validation, Timeout=1)

    name = f"{PREFIX}--slow-validation"
    described = start_and_wait(stack, name, {"rows": 10})
    assert described["status"] == "FAILED"
    # Lambda's timeout payload (errorType Sandbox.Timedout); the Step Functions guide calls a
    # timeout Lambda.Unknown: either is the platform's, never the input's.
    assert described["error"] in ("Sandbox.Timedout", "Lambda.Unknown"), described["error"]
    assert "Task timed out after 1.00 seconds" in described["cause"]
    assert states_entered(stack, described["executionArn"]) == ["Validate input", "Pipeline failed"]
    s3 = boto3.client("s3", region_name=stack["region"])
    assert s3.list_objects_v2(Bucket=stack["bucketName"], Prefix=f"runs/{name}/")["KeyCount"] == 0
