"""Starting executions: valid names and the input the definition merges over the stack defaults."""

from __future__ import annotations

import json
import re
import secrets
from datetime import UTC, datetime

from lambda_src.execution_input import (
    DRAWN_SEEDS,
    NAME_SEPARATOR,
    SEED_LIMIT,
    InvalidExecutionInput,
    check_execution_name,
    is_job_name,
    validate_execution,
)
from runner.errors import UsageError
from runner.outputs import StackOutputs


def check_name(name: str) -> str:
    if not is_job_name(name):
        suggestion = re.sub(r"-{3,}", "--", re.sub(r"[^a-z0-9-]+", "-", name.lower())).strip("-")
        instead = f": use {suggestion!r}" if is_job_name(suggestion) else ""
        raise UsageError(
            f"invalid execution name {name!r}: use 1-63 lower-case letters, digits and hyphens, "
            f"not starting or ending with a hyphen (it becomes the SageMaker job name){instead}"
        )
    return name


def full_name(name: str, prefix: str) -> str:
    """`--name baseline` is `<prefix>--baseline`; a name holding `--` is taken whole. Checked."""
    whole = name if NAME_SEPARATOR in name else f"{prefix}{NAME_SEPARATOR}{name}"
    try:
        return check_execution_name(whole, prefix)
    except InvalidExecutionInput as error:
        raise UsageError(str(error)) from None


def new_name(prefix: str, now: datetime | None = None) -> str:
    """`<prefix>--YYYYMMDD-HHMMSS-<6 hex>`: unique, sortable, and a valid SageMaker job name."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%d-%H%M%S")
    return check_name(f"{prefix}{NAME_SEPARATOR}{stamp}-{secrets.token_hex(3)}")


def check_input(execution_input: dict, name: str, outputs: StackOutputs) -> dict:
    """The state machine's own validation step, run before anything starts; its result."""
    try:
        return validate_execution(
            execution_input,
            execution_name=name,
            job_name_prefix=outputs.job_name_prefix,
            defaults=outputs.run_defaults,
            bucket=outputs.bucket_name,
        )
    except InvalidExecutionInput as error:
        raise UsageError(f"the execution would be refused: {error}") from None


def needs_num_class(execution_input: dict, checks) -> bool:
    """A multi: objective without num_class, in the input or the stack's defaults: run.py, which
    reads a local file's classes, fills it in."""
    from lambda_src.execution_input import merge_hyperparameters, normalise_hyperparameters

    try:
        given = normalise_hyperparameters(execution_input.get("hyperparameters", {}))
    except InvalidExecutionInput:
        return False
    merged, _ = merge_hyperparameters(checks.run_defaults["hyperparameters"], given)
    return merged.get("objective", "").startswith("multi:") and "num_class" not in merged


def parse_hyperparameter(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name.strip() or not value.strip():
        raise UsageError(f"--hp {text!r}: expected key=value, e.g. --hp num_round=10")
    return name.strip(), value.strip()


def parse_seed(text: str) -> int:
    try:
        seed = int(text)
    except ValueError:
        seed = -1
    if not 0 <= seed < SEED_LIMIT:
        raise UsageError(f"--seed {text!r}: expected an integer from 0 to {SEED_LIMIT - 1}")
    return seed


def draw_seed() -> int:
    return secrets.randbelow(DRAWN_SEEDS)


def build_input(
    raw_input: str | None, rows: int | None, hyperparameters: list[tuple[str, str]], seed: int | None = None
) -> dict:
    """The execution input: `--input` JSON, then `--rows`, `--hp` and `--seed` on top of it.

    Without a seed in either, one is drawn here, so every run records the seed it used.
    """
    execution_input: dict = {}
    if raw_input is not None:
        try:
            execution_input = json.loads(raw_input)
        except json.JSONDecodeError as error:
            raise UsageError(f"--input is not JSON: {error.msg} at column {error.colno}") from None
        if not isinstance(execution_input, dict):
            raise UsageError("--input must be a JSON object, e.g. '{\"rows\": 1000}'")
    if rows is not None:
        execution_input["rows"] = rows
    given: dict[str, str] = {}
    for key, value in hyperparameters:
        if key in given:  # the last one would win silently
            raise UsageError(f"--hp {key} is given twice ({key}={given[key]} and {key}={value}): give each key once")
        given[key] = value
    if hyperparameters:
        merged = dict(execution_input.get("hyperparameters") or {})
        merged.update(hyperparameters)
        execution_input["hyperparameters"] = merged
    if seed is not None:
        execution_input["seed"] = seed
    elif "seed" not in execution_input:
        execution_input["seed"] = draw_seed()
    return execution_input
