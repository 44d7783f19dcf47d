"""What an execution may ask for: the rules its input and name must follow (standard library only).

Whoever may call `states:StartExecution` controls the execution input, so the state machine's
first state hands it here (the seeding function with `"action": "validate"`) before anything
is written or started. The result, and only the result, is what later states read:

    {"rows": int, "seed": int, "hyperparameters": {name: string}}

Input fields: `rows` (integer), `seed` (integer, drawn when absent, so every run can be
repeated), `hyperparameters` (object merged over the stack's; JSON numbers and booleans become
the strings SageMaker passes on). Anything else is refused, naming the field. `run.py` applies
the same function before it starts an execution.

Names: an execution's name becomes its SageMaker training job, model and transform job names,
so it must be a valid job name, and start with `<jobNamePrefix>--`: the roles are scoped to
that pattern, and since prefixes never contain `--`, no stack's pattern matches another's.
"""

from __future__ import annotations

import json
import random
import re

if __package__:  # imported from the project as lambda_src.execution_input
    from . import xgboost_hyperparameters as hyperparameter_rules
else:  # in the Lambda package (and the seeding function's tests), modules are top-level
    import xgboost_hyperparameters as hyperparameter_rules

FIELDS = ("rows", "seed", "hyperparameters")
MAX_ROWS = 1_000_000_000  # what the seeding function writes within Lambda's 900 s, with margin
# Seeds are 0 <= seed < 2**53: every JSON reader (JavaScript's included) keeps them exact.
SEED_LIMIT = 1 << 53
DRAWN_SEEDS = 1 << 31     # a drawn seed is short enough to read out and type again
NAME_SEPARATOR = "--"
# SageMaker's rule for job and model names; the execution name becomes all three.
JOB_NAME_PATTERN = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
# Lower case (SageMaker lower-cases names in ARNs), single hyphens (so `--` ends the prefix).
PREFIX_PATTERN = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
# A generated name is `<prefix>--YYYYMMDD-HHMMSS-xxxxxx` (24 characters after the prefix).
MAX_PREFIX_LENGTH = 63 - 24


class InvalidExecutionInput(ValueError):
    """The execution input or name is refused; the message names the field and the rule."""


def check_prefix(prefix: str) -> str:
    if not isinstance(prefix, str) or not PREFIX_PATTERN.match(prefix) or len(prefix) > MAX_PREFIX_LENGTH:
        raise InvalidExecutionInput(
            f"jobNamePrefix: {prefix!r} must be 1-{MAX_PREFIX_LENGTH} lower-case letters, digits and "
            "single inner hyphens (it starts SageMaker job names; `--` marks its end)")
    return prefix


def check_execution_name(name: object, prefix: str) -> str:
    """The name must be a SageMaker job name starting with `<prefix>--`."""
    if not isinstance(name, str) or not JOB_NAME_PATTERN.match(name):
        raise InvalidExecutionInput(
            f"execution name {name!r} is not a valid SageMaker job name: use 1-63 letters, digits "
            "and hyphens, starting and ending with a letter or digit")
    if not name.startswith(prefix + NAME_SEPARATOR) or len(name) == len(prefix) + len(NAME_SEPARATOR):
        raise InvalidExecutionInput(
            f"execution name {name!r} must start with '{prefix}{NAME_SEPARATOR}' and go on after it "
            "(the stack's roles are scoped to that prefix)")
    return name


def _json(value: object, limit: int = 60) -> str:
    """A value as the user wrote it (JSON), shortened."""
    text = json.dumps(value, default=repr)
    return text if len(text) <= limit else text[:limit] + "..."


def _integer(value: object, field: str, minimum: int, limit: int) -> int:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if type(value) is not int or not minimum <= value < limit:
        raise InvalidExecutionInput(
            f"{field}: {_json(value)} is not an integer from {minimum:,} to {limit - 1:,}")
    return value


def _hyperparameter_value(name: str, value: object) -> str:
    """What SageMaker passes to the container: strings. JSON numbers and booleans are converted."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, str):
        return value
    raise InvalidExecutionInput(f"hyperparameters.{name}: {_json(value)} is not a string, number or boolean")


def normalise_hyperparameters(values: object, field: str = "hyperparameters") -> dict[str, str]:
    if not isinstance(values, dict):
        raise InvalidExecutionInput(
            f"{field}: expected an object such as {{\"num_round\": 10}}, got {_json(values)}")
    return {str(name): _hyperparameter_value(name, value) for name, value in values.items()}


def validate_execution(execution_input: object, *, execution_name: object, job_name_prefix: str,
                       defaults: dict, seed_source: random.Random | None = None) -> dict:
    """The normalised request `{rows, seed, hyperparameters}`, or InvalidExecutionInput.

    `defaults` is the stack's `{"rows": int, "hyperparameters": {...}, "shards": int}`; the
    input's hyperparameters are merged over the stack's, and the merged set must pass the
    container's rules.
    """
    check_execution_name(execution_name, check_prefix(job_name_prefix))
    if not isinstance(execution_input, dict):
        raise InvalidExecutionInput(
            f"execution input must be a JSON object such as {{\"rows\": 1000}}, got "
            f"{_json(execution_input)}")
    unknown = sorted(set(execution_input) - set(FIELDS), key=str)
    if unknown:
        raise InvalidExecutionInput(f"execution input: unknown field {unknown[0]!r}; "
                                    f"allowed: {', '.join(FIELDS)}")
    rows = _integer(execution_input.get("rows", defaults["rows"]), "rows", 1, MAX_ROWS + 1)
    if "seed" in execution_input:
        seed = _integer(execution_input["seed"], "seed", 0, SEED_LIMIT)
    else:
        seed = (seed_source or random.SystemRandom()).randrange(DRAWN_SEEDS)
    shards = defaults.get("shards", 1)
    if rows < shards:
        raise InvalidExecutionInput(f"rows: {rows} is fewer than the {shards} training shards "
                                    f"(one per training instance): ask for at least {shards}")
    overrides = normalise_hyperparameters(execution_input.get("hyperparameters", {}))
    # An override replaces the stack's value under any of its names (eta and learning_rate are one).
    overridden = {hyperparameter_rules.canonical_name(name) for name in overrides}
    hyperparameters = {name: value for name, value in defaults["hyperparameters"].items()
                       if hyperparameter_rules.canonical_name(name) not in overridden}
    hyperparameters.update(overrides)
    try:
        hyperparameter_rules.validate(hyperparameters, **defaults.get("training", {}), rows=rows)
    except hyperparameter_rules.HyperparameterError as error:
        raise InvalidExecutionInput(f"hyperparameters: {error}") from None
    return {"rows": rows, "seed": seed, "hyperparameters": hyperparameters}


def handle(event: dict) -> dict:
    """The state machine's validation step: `{executionName, input, jobNamePrefix, defaults}`."""
    return validate_execution(event.get("input"), execution_name=event.get("executionName"),
                              job_name_prefix=event.get("jobNamePrefix"), defaults=event["defaults"])
