"""Starting executions: valid names and the input the definition merges over the stack defaults."""

from __future__ import annotations

import json
import secrets
from datetime import datetime, timezone

from components.definition import JOB_NAME_PATTERN
from runner.outputs import UsageError

# Seeds drawn for runs stay below 2**31: easy to type, exact in every JSON reader.
DRAWN_SEEDS = 1 << 31
MAX_SEED = (1 << 53) - 1  # the largest integer a JSON reader that uses doubles keeps exact


def check_name(name: str) -> str:
    if not JOB_NAME_PATTERN.match(name):
        raise UsageError(f"invalid execution name {name!r}: use 1-63 letters, digits and hyphens, "
                         "not starting or ending with a hyphen (it becomes the SageMaker job name)")
    return name


def check_prefix(name: str, prefix: str) -> str:
    if not name.startswith(f"{prefix}-"):
        raise UsageError(f"execution name {name!r} must start with '{prefix}-' "
                         "(the stack's roles are scoped to that prefix)")
    return name


def new_name(prefix: str, now: datetime | None = None) -> str:
    """`<prefix>-YYYYMMDD-HHMMSS-<6 hex>`: unique, sortable, and a valid SageMaker job name."""
    stamp = (now or datetime.now(timezone.utc)).strftime("%Y%m%d-%H%M%S")
    return check_name(f"{prefix}-{stamp}-{secrets.token_hex(3)}")


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
    if not 0 <= seed <= MAX_SEED:
        raise UsageError(f"--seed {text!r}: expected an integer from 0 to {MAX_SEED}")
    return seed


def draw_seed() -> int:
    return secrets.randbelow(DRAWN_SEEDS)


def build_input(raw_input: str | None, rows: int | None, hyperparameters: list[tuple[str, str]],
                seed: int | None = None) -> dict:
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
    if hyperparameters:
        merged = dict(execution_input.get("hyperparameters") or {})
        merged.update(hyperparameters)
        execution_input["hyperparameters"] = merged
    if seed is not None:
        execution_input["seed"] = seed
    elif "seed" not in execution_input:
        execution_input["seed"] = draw_seed()
    return execution_input
