"""The Lambda code has one import path: the package `lambda_src` as it ships in the zip."""

from components.pipeline import seed_code_archive
from lambda_src import execution_input, seed_dataset


def test_one_module_per_rule_set():
    # The seeding function refuses with the validator's own exception class, not a second copy.
    assert seed_dataset.execution_input is execution_input
    assert seed_dataset.execution_input.InvalidExecutionInput is execution_input.InvalidExecutionInput


def test_zip_holds_the_package():
    names = set(seed_code_archive().assets)
    assert {"lambda_src/__init__.py", "lambda_src/seed_dataset.py", "lambda_src/execution_input.py"} <= names
    assert all(name.startswith("lambda_src/") for name in names)
