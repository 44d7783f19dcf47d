"""What an execution may ask for: the rules its input and name must follow (standard library only).

Whoever may call `states:StartExecution` controls the execution input, so the state machine's
first state hands it here (the validation function, `handler` below, whose role may do nothing
but write its own logs: it parses untrusted input holding no S3 rights) before anything is
written or started. The result, and only the result, is what later states read:

    {"rows": int, "seed": int, "hyperparameters": {name: string}, "data": null or
     {"kind": "s3" | "file", "uri", "label", "test": uri or null,
      "split": {"validation": fraction, "test": fraction}, "categorical": "auto" | "off"},
     "qualityGate": "auc >= 0.9" or ""}

Input fields: `rows` (integer), `seed` (integer, drawn when absent, so every run can be
repeated), `hyperparameters` (object merged over the stack's; JSON numbers and booleans become
the strings SageMaker passes on), `data` (train on existing CSV in S3 instead of the generated
dataset: `{"uri", "label"?, "test"?, "split"?}`), `qualityGate` (replaces the stack's gate, e.g.
"auc >= 0.9", "" for none; evaluation.py's rules). Anything else is refused, naming the field.
`run.py` applies the same function before it starts an execution.

Data URIs are read by the seeding function's role, so a URI must lie inside one of the stack's
`dataSources` locations (the only places that role may read) or inside the execution's own
upload location `s3://<bucket>/runs/<execution name>/upload/` (where run.py puts a local file).
They are compared as S3 and IAM compare them: the exact bucket name, then the key as a string
prefix; `.`/`..` or empty key segments, and anything but `s3://`, are refused outright.

Names: an execution's name becomes its SageMaker training job, model and transform job names,
so it must be a valid job name, and start with `<jobNamePrefix>--`: the roles are scoped to
that pattern, and since prefixes never contain `--`, no stack's pattern matches another's.
The seeding function applies the same `check_execution_name` and `check_data` to the name and
data it is given, with the stack's values from its own environment (`*_VARIABLE` below).

No AWS SDK here: the validation function imports this module and the two rule modules only.
"""

from __future__ import annotations

import json
import random
import re
from typing import TypedDict

from . import bucket_layout, evaluation
from . import xgboost_hyperparameters as hyperparameter_rules
from .data_preparation import CATEGORICAL_CHOICES, DEFAULT_LABEL, DEFAULT_SPLIT
from .row_sizes import TRAINING_ROW_CSV_BYTES, TRAINING_ROW_MEMORY_BYTES
from .suggestions import did_you_mean

FIELDS = ("rows", "seed", "hyperparameters", "data", "qualityGate")
DATA_FIELDS = ("uri", "label", "test", "split", "categorical")
SPLIT_FIELDS = ("validation", "test")
# S3 bucket names (the general purpose rules: 3-63 characters, lower case, digits, . and -).
# Matched with `fullmatch` only, as every pattern here: `$` would also accept a trailing newline.
BUCKET_PATTERN = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
MAX_ROWS = 1_000_000_000  # what the seeding function writes within Lambda's 900 s, with margin
# Seeds are 0 <= seed < 2**53: every JSON reader (JavaScript's included) keeps them exact.
SEED_LIMIT = 1 << 53
DRAWN_SEEDS = 1 << 31  # a drawn seed is short enough to read out and type again
# Memory of SageMaker's training instance types: GiB per vCPU by family (ml.m5.xlarge: 4 vCPUs,
# 16 GiB). A family not listed is bounded by its volume only.
GIB_PER_VCPU = {
    "c4": 1.875,
    "c5": 2,
    "c6i": 2,
    "m4": 4,
    "m5": 4,
    "m6i": 4,
    "r5": 8,
    "r6i": 8,
    "g4dn": 4,
    "g5": 4,
    "p3": 7.625,
}
NAME_SEPARATOR = "--"
# SageMaker's rule for job and model names; the execution name becomes all three. The pattern
# alone bounds nothing (`-*` lets any run of hyphens through): the length is checked apart, and
# only with `fullmatch` (`$` would also accept a trailing newline). See `is_job_name`.
JOB_NAME_PATTERN = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}")
MAX_JOB_NAME_LENGTH = 63
# A refusal's cause echoes at most this much of a name or field the caller wrote, and is cut at
# MAX_CAUSE: Lambda cuts an error at 32,768 characters, which would break the refusal path.
ECHO_LIMIT = 64
MAX_CAUSE = 4096
# Lower case (SageMaker lower-cases names in ARNs), single hyphens (so `--` ends the prefix).
PREFIX_PATTERN = re.compile(r"[a-z0-9]+(-[a-z0-9]+)*")
# A generated name is `<prefix>--YYYYMMDD-HHMMSS-xxxxxx` (24 characters after the prefix).
MAX_PREFIX_LENGTH = 63 - 24
# The seeding function's own configuration, set by the component as Lambda environment
# variables (never read from an event): the stack's bucket, its jobNamePrefix, its dataSources
# (JSON) and the training shards a run writes (one per training instance).
BUCKET_VARIABLE = "RUNS_BUCKET"
JOB_NAME_PREFIX_VARIABLE = "JOB_NAME_PREFIX"
DATA_SOURCES_VARIABLE = "DATA_SOURCES"
SHARDS_VARIABLE = "TRAINING_SHARDS"


class TrainingLimits(TypedDict, total=False):
    """The training job's limits a run is bounded by: keywords of xgboost_hyperparameters.validate."""

    image_version: str  # xgboostVersion: whose rules apply
    instance_type: str  # trainingInstanceType
    instance_count: int  # trainingInstanceCount
    max_runtime_seconds: int  # maxRuntimeSeconds


class RunDefaults(TypedDict):
    """The stack's run defaults: its `runDefaults` output (run.py checks a run against it) and the
    validation state's `defaults` (components.settings.PipelineSettings.run_defaults makes both).

    rows            rows generated when the input names none
    hyperparameters the stack's hyperparameters; an input's are merged over them
    shards          training shards a run writes (one per training instance); its rows must cover them
    dataSources     the S3 locations an input's `data` may name (besides the run's own upload)
    volumeSizeGb    each training instance's volume, which the training CSV must fit
    qualityGate     the gate a run's evaluation must pass unless its input names one ("" none)
    training        the training job's limits (TrainingLimits)
    """

    rows: int
    hyperparameters: dict[str, str]
    shards: int
    dataSources: list[str]
    volumeSizeGb: int
    qualityGate: str
    training: TrainingLimits


class InvalidExecutionInput(ValueError):
    """The execution input or name is refused; the message names the field and the rule."""


def is_job_name(name: object) -> bool:
    """Whether SageMaker accepts `name` as a training job, model and transform job name."""
    return isinstance(name, str) and len(name) <= MAX_JOB_NAME_LENGTH and JOB_NAME_PATTERN.fullmatch(name) is not None


def _short(text: object, limit: int = ECHO_LIMIT) -> str:
    """A name the caller wrote, quoted; a longer one cut, with its length."""
    if not isinstance(text, str):
        return _json(text)
    if len(text) <= limit:
        return repr(text)
    return f"{text[:limit]!r}... ({len(text):,} characters)"


def check_prefix(prefix: str) -> str:
    if not isinstance(prefix, str) or not PREFIX_PATTERN.fullmatch(prefix) or len(prefix) > MAX_PREFIX_LENGTH:
        raise InvalidExecutionInput(
            f"jobNamePrefix: {prefix!r} must be 1-{MAX_PREFIX_LENGTH} lower-case letters, digits and "
            "single inner hyphens (it starts SageMaker job names; `--` marks its end)"
        )
    return prefix


def check_execution_name(name: object, prefix: str) -> str:
    """The name must be a SageMaker job name starting with `<prefix>--`, in lower case."""
    if not is_job_name(name):
        raise InvalidExecutionInput(
            f"execution name {_short(name, MAX_JOB_NAME_LENGTH)} is not a valid SageMaker job name: use 1-63 letters, "
            "digits and hyphens, starting and ending with a letter or digit"
        )
    if name != name.lower():  # before the prefix: 'Xgb-dev--run' is this stack's name in the wrong case
        raise InvalidExecutionInput(
            f"execution name {name!r}: upper-case letters are refused (SageMaker lower-cases names in "
            f"ARNs and compares job names case-insensitively, so it is the job {name.lower()!r}): "
            f"use {name.lower()!r}"
        )
    if not name.startswith(prefix + NAME_SEPARATOR) or len(name) == len(prefix) + len(NAME_SEPARATOR):
        raise InvalidExecutionInput(
            f"execution name {name!r} must start with '{prefix}{NAME_SEPARATOR}' and go on after it "
            "(the stack's roles are scoped to that prefix)"
        )
    return name


def _json(value: object, limit: int = 60) -> str:
    """A value as the user wrote it (JSON), shortened."""
    text = json.dumps(value, default=repr)
    return text if len(text) <= limit else text[:limit] + "..."


def _integer(value: object, field: str, minimum: int, limit: int) -> int:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if type(value) is not int or not minimum <= value < limit:
        raise InvalidExecutionInput(f"{field}: {_json(value)} is not an integer from {minimum:,} to {limit - 1:,}")
    return value


def _hyperparameter_value(name: str, value: object) -> str:
    """What SageMaker passes to the container: strings. JSON numbers and booleans are converted."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        if hyperparameter_rules.decimal_digits(value) > hyperparameter_rules.MAX_VALUE_LENGTH:
            raise InvalidExecutionInput(
                f"hyperparameters.{_short_name(name)}: {hyperparameter_rules.too_long_integer(value)}"
            )
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, str):
        return value
    raise InvalidExecutionInput(
        f"hyperparameters.{_short_name(name)}: {_json(value)} is not a string, number or boolean"
    )


def _short_name(name: str) -> str:
    return name if len(name) <= ECHO_LIMIT else f"{name[:ECHO_LIMIT]}... ({len(name):,} characters)"


def normalise_hyperparameters(values: object, field: str = "hyperparameters") -> dict[str, str]:
    if not isinstance(values, dict):
        raise InvalidExecutionInput(f'{field}: expected an object such as {{"num_round": 10}}, got {_json(values)}')
    return {str(name): _hyperparameter_value(name, value) for name, value in values.items()}


def parse_s3_uri(uri: object, field: str) -> tuple[str, str]:
    """(bucket, key) of `s3://bucket/key`, refusing what S3 or IAM could read differently."""
    if not isinstance(uri, str) or not uri.startswith("s3://"):
        raise InvalidExecutionInput(f"{field}: {_json(uri)} is not an S3 URI (s3://bucket/key-or-prefix/)")
    if not _encodable(uri):
        raise InvalidExecutionInput(f"{field}: {_json(uri)} is not valid UTF-8 text (a lone surrogate)")
    bucket, _, key = uri[len("s3://") :].partition("/")
    if not BUCKET_PATTERN.fullmatch(bucket) or ".." in bucket:
        raise InvalidExecutionInput(f"{field}: {_json(uri)} does not name a valid S3 bucket")
    segments = key.split("/")
    inner = segments[:-1] if key.endswith("/") else segments
    if (
        len(key.encode()) > 1024
        or any(ord(c) < 32 or c in "\\\x7f" for c in key)
        or (key and any(segment in ("", ".", "..") for segment in inner))
    ):
        raise InvalidExecutionInput(
            f"{field}: {_json(uri)}: keys with empty, '.' or '..' segments, backslashes or control "
            "characters are refused (S3 does not resolve them: name the object as stored)"
        )
    return bucket, key


def _encodable(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


# IAM reads these in a policy's Resource and in s3:prefix as wildcards (* ?) or variables (${...}).
_IAM_SPECIAL = set("*?${}")


def check_data_source(location: object, field: str = "dataSources") -> str:
    """A stack's data location: `s3://bucket/` or `s3://bucket/prefix/`, ending with `/` so that
    `s3://b/data/` cannot also grant `s3://b/data-private/`; no IAM wildcard or variable, so that
    the role may read exactly what the location names."""
    bucket, key = parse_s3_uri(location, field)
    if _IAM_SPECIAL & set(key):
        raise InvalidExecutionInput(
            f"{field}: {_json(location)}: '*', '?', '$', '{{' and '}}' are wildcards or "
            "variables in IAM policies and would grant more than the location names: "
            "name the prefix literally"
        )
    if key and not key.endswith("/"):
        raise InvalidExecutionInput(
            f"{field}: {_json(location)} must end with '/' (a bucket or key prefix, e.g. s3://{bucket}/{key}/)"
        )
    return f"s3://{bucket}/{key}"


def check_data_sources(sources: object, field: str = "dataSources") -> tuple[str, ...]:
    """A stack's dataSources: a list of `check_data_source` locations, each kept once, in order."""
    if not isinstance(sources, list):
        raise InvalidExecutionInput(
            f'{field}: expected a list of S3 locations, e.g. ["s3://my-bucket/datasets/"], got {_json(sources)}'
        )
    return tuple(dict.fromkeys(check_data_source(location, field) for location in sources))


def _inside(bucket: str, key: str, location: str) -> bool:
    location_bucket, location_key = parse_s3_uri(location, "dataSources")
    return bucket == location_bucket and key.startswith(location_key)


def check_sources_outside_runs(sources: tuple[str, ...], bucket: str, field: str = "dataSources") -> tuple[str, ...]:
    """No location may overlap the stack bucket's `runs/` (the bucket itself, runs/, anything in
    it): as a data source it would let any run read other runs' data and pending uploads, which
    each run may read only of its own."""
    runs = f"s3://{bucket}/{bucket_layout.RUNS}/"
    for location in sources:
        if location.startswith(runs) or runs.startswith(location):
            raise InvalidExecutionInput(
                f"{field}: {location} overlaps {runs}, where the stack keeps every run's data and uploads "
                "(a run may read only its own): name a location outside the stack's runs/"
            )
    return sources


def upload_location(bucket: str, execution_name: str) -> str:
    """Where run.py uploads a local file for one execution (read by that execution only)."""
    return f"s3://{bucket}/{bucket_layout.run_prefix(execution_name)}{bucket_layout.UPLOAD}/"


def _fraction(value: object, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise InvalidExecutionInput(f"{field}: {_json(value)} is not a fraction from 0 to below 1")
    return float(value)


def check_data(data: object, *, execution_name: str, bucket: str | None, sources: list[str]) -> dict:
    """The checked `data` object `{kind, uri, label, test, split}`: each URI inside `sources` (kind
    "s3") or inside the execution's own upload location in `bucket` (kind "file"), both of one
    kind (as run.py's --data and --test: both local files or both s3:// URIs)."""
    if not isinstance(data, dict):
        raise InvalidExecutionInput(
            f'data: expected an object such as {{"uri": "s3://bucket/data.csv"}}, got {_json(data)}'
        )
    unknown = sorted(set(data) - set(DATA_FIELDS), key=str)
    if unknown:
        raise InvalidExecutionInput(
            f"data: unknown field {_short(unknown[0])}{did_you_mean(unknown[0], DATA_FIELDS)}; "
            f"allowed: {', '.join(DATA_FIELDS)}"
        )
    own = upload_location(bucket, execution_name) if bucket else None
    kinds = []
    for field in ("uri", "test"):
        uri = data.get(field)
        if field == "test" and uri is None:
            continue
        object_bucket, key = parse_s3_uri(uri, f"data.{field}")
        if own and _inside(object_bucket, key, own):
            if key.endswith("/"):  # the function may read uploads, not list them
                raise InvalidExecutionInput(
                    f"data.{field}: {uri} is a prefix: name the uploaded object "
                    "(run.py --data FILE uploads one object per file)"
                )
            kinds.append("file")
        elif any(_inside(object_bucket, key, location) for location in sources):
            kinds.append("s3")
        else:
            allowed = ", ".join(sources) if sources else "none (the stack's dataSources setting is empty)"
            raise InvalidExecutionInput(
                f"data.{field}: {uri} is outside the stack's data sources ({allowed}) and this run's "
                f"upload location: add its location to dataSources (pulumi config) or upload the file "
                f"with run.py --data FILE"
            )
    label = data.get("label", DEFAULT_LABEL)
    if not isinstance(label, str) or not label.strip() or len(label) > 256 or not _encodable(label):
        raise InvalidExecutionInput(f"data.label: {_json(label)} is not a column name")
    split = data.get("split", {})
    if not isinstance(split, dict) or set(split) - set(SPLIT_FIELDS):
        raise InvalidExecutionInput(f'data.split: expected {{"validation": 0.1, "test": 0.2}}, got {_json(split)}')
    test_file = data.get("test") is not None
    fractions = {
        "validation": _fraction(split.get("validation", DEFAULT_SPLIT["validation"]), "data.split.validation"),
        "test": _fraction(split.get("test", 0.0 if test_file else DEFAULT_SPLIT["test"]), "data.split.test"),
    }
    if fractions["validation"] == 0:
        raise InvalidExecutionInput(
            "data.split.validation: must be above 0: training always gets a "
            "validation channel (early stopping, validation metrics)"
        )
    if test_file and fractions["test"]:
        raise InvalidExecutionInput(
            "data.split.test: a test file is given (data.test): the data is split into training and validation only"
        )
    if not test_file and fractions["test"] == 0:
        raise InvalidExecutionInput("data.split.test: must be above 0 without a test file (data.test)")
    if fractions["validation"] + fractions["test"] >= 0.95:
        raise InvalidExecutionInput(
            f"data.split: validation {fractions['validation']} + test "
            f"{fractions['test']} leave under 5 % of the rows for training"
        )
    if len(set(kinds)) > 1:  # the kind says whether the run's uploads are deleted after: one for both
        where = {"file": "an upload of this run", "s3": "in the stack's dataSources"}
        raise InvalidExecutionInput(
            f"data.test: {data['test']} is {where[kinds[1]]} but data.uri is {where[kinds[0]]}: both must be "
            "uploads of this run (run.py --data FILE --test FILE) or both in dataSources"
        )
    categorical = data.get("categorical", CATEGORICAL_CHOICES[0])
    if categorical not in CATEGORICAL_CHOICES:
        raise InvalidExecutionInput(
            f"data.categorical: {_json(categorical)} is not one of {', '.join(CATEGORICAL_CHOICES)} "
            "(auto: text feature columns are encoded; off: they are refused)"
        )
    return {
        "kind": kinds[0],
        "uri": data["uri"],
        "label": label.strip(),
        "test": data.get("test"),
        "split": fractions,
        "categorical": categorical,
    }


def instance_memory_gib(instance_type: str) -> float | None:
    parts = instance_type.split(".")
    vcpus = hyperparameter_rules.instance_vcpus(instance_type)
    if len(parts) != 3 or parts[1] not in GIB_PER_VCPU or vcpus is None:
        return None
    return GIB_PER_VCPU[parts[1]] * vcpus


def check_rows_fit(rows: int, training: TrainingLimits, volume_size_gb: int | None) -> None:
    """Generated rows must fit the training instances' memory and volumes (the rows are sharded
    across the instances), else the job fails loading after the dataset is written. (The generator
    holds out at most seed_dataset.MAX_TEST_ROWS, which the evaluation function scores.)"""
    count = training.get("instance_count", 1)
    instance_type = training.get("instance_type", hyperparameter_rules.DEFAULT_INSTANCE_TYPE)
    memory = instance_memory_gib(instance_type)
    if memory is not None and rows * TRAINING_ROW_MEMORY_BYTES > count * memory * 2**30:
        limit = int(count * memory * 2**30 // TRAINING_ROW_MEMORY_BYTES)
        raise InvalidExecutionInput(
            f"rows: {rows:,} do not fit in memory: xgboost needs about {TRAINING_ROW_MEMORY_BYTES} bytes a row and "
            f"{count} {instance_type} hold {memory:g} GiB each, so at most {limit:,} rows (or raise "
            "trainingInstanceCount or the trainingInstanceType)"
        )
    if volume_size_gb is not None and rows * TRAINING_ROW_CSV_BYTES > count * volume_size_gb * 2**30:
        limit = int(count * volume_size_gb * 2**30 // TRAINING_ROW_CSV_BYTES)
        raise InvalidExecutionInput(
            f"rows: {rows:,} do not fit on the training volumes: the training CSV takes about "
            f"{TRAINING_ROW_CSV_BYTES} bytes a row and volumeSizeGb is {volume_size_gb} on each of {count} "
            f"instances, so at most {limit:,} rows (or raise volumeSizeGb)"
        )


def merge_hyperparameters(stack: dict[str, str], overrides: dict[str, str]) -> tuple[dict[str, str], list[str]]:
    """The input's hyperparameters over the stack's, and what the merge changed beyond that.

    An override replaces the stack's value under any of its names (eta and learning_rate are one).
    The stack's eval_metric is dropped when an overridden objective cannot use it (rmse with
    multi:softmax): the objective's own metric applies, and the second value says so."""
    overridden = {hyperparameter_rules.canonical_name(name) for name in overrides}
    merged = {
        name: value for name, value in stack.items() if hyperparameter_rules.canonical_name(name) not in overridden
    }
    merged.update(overrides)
    notes = []
    metric = merged.get("eval_metric")
    if (
        "objective" in overridden
        and "eval_metric" not in overridden
        and metric is not None
        and not hyperparameter_rules.metric_fits(metric, merged["objective"])
    ):
        del merged["eval_metric"]
        notes.append(
            f"the stack's eval_metric={metric} does not fit objective {merged['objective']}: "
            "left out, so the objective's own metric is reported (pass --hp eval_metric=... to choose one)"
        )
    return merged, notes


def validate_execution(
    execution_input: object,
    *,
    execution_name: object,
    job_name_prefix: str,
    defaults: RunDefaults,
    seed_source: random.Random | None = None,
    bucket: str | None = None,
) -> dict:
    """The normalised request `{rows, seed, hyperparameters, data}`, or InvalidExecutionInput.

    `defaults` is the stack's RunDefaults (`training`: the keywords of the rules' `validate`, the
    image version among them); the input's hyperparameters are merged over the stack's, and the
    merged set must pass the rules of the stack's image. `bucket` is the stack's bucket (a run's
    upload location is in it).

    In the state machine, `defaults` are the validation state's Parameters, rendered into the same
    definition as the training state's image: the image whose rules apply is the image the
    execution trains on (the function's environment is another resource, updated apart).
    """
    check_execution_name(execution_name, check_prefix(job_name_prefix))
    if not isinstance(execution_input, dict):
        raise InvalidExecutionInput(
            f'execution input must be a JSON object such as {{"rows": 1000}}, got {_json(execution_input)}'
        )
    unknown = sorted(set(execution_input) - set(FIELDS), key=str)
    if unknown:
        raise InvalidExecutionInput(
            f"execution input: unknown field {_short(unknown[0])}"
            f"{did_you_mean(unknown[0], FIELDS)}; "
            f"allowed: {', '.join(FIELDS)}"
        )
    rows = _integer(execution_input.get("rows", defaults["rows"]), "rows", 1, MAX_ROWS + 1)
    if "seed" in execution_input:
        seed = _integer(execution_input["seed"], "seed", 0, SEED_LIMIT)
    else:
        seed = (seed_source or random.SystemRandom()).randrange(DRAWN_SEEDS)
    shards = defaults.get("shards", 1)
    if rows < shards:
        raise InvalidExecutionInput(
            f"rows: {rows} is fewer than the {shards} training shards "
            f"(one per training instance): ask for at least {shards}"
        )
    overrides = normalise_hyperparameters(execution_input.get("hyperparameters", {}))
    hyperparameters, _ = merge_hyperparameters(defaults["hyperparameters"], overrides)
    data = None
    if execution_input.get("data") is not None:
        if "rows" in execution_input:
            raise InvalidExecutionInput(
                "rows: applies to the generated dataset only; with data, every row of it is used"
            )
        data = check_data(
            execution_input["data"],
            execution_name=execution_name,
            bucket=bucket,
            sources=list(defaults.get("dataSources", [])),
        )
    if data is None:  # a user's row count is not known before it is prepared
        check_rows_fit(rows, defaults.get("training", {}), defaults.get("volumeSizeGb"))
    if "image_version" not in defaults.get("training", {}):  # outputs of a stack deployed before images were chosen
        raise InvalidExecutionInput(
            "the stack's runDefaults name no image version (training.image_version): update the stack with `pulumi up`"
        )
    try:  # a user's row count is not known before it is prepared: bounds then assume the fewest
        hyperparameter_rules.validate(
            hyperparameters, **defaults.get("training", {}), rows=rows if data is None else 1, generated=data is None
        )
    except hyperparameter_rules.HyperparameterError as error:
        raise InvalidExecutionInput(f"hyperparameters: {error}") from None
    gate = execution_input.get("qualityGate", defaults.get("qualityGate") or "")
    try:  # the gate must be one of this run's objective's metrics, or no run could pass it
        evaluation.check_gate_applies(evaluation.parse_gate(gate), hyperparameters)
    except ValueError as error:
        raise InvalidExecutionInput(str(error)) from None
    return {"rows": rows, "seed": seed, "hyperparameters": hyperparameters, "data": data, "qualityGate": gate or ""}


def handler(event: dict, context: object) -> dict:
    """The validation function's entry point (Lambda calls `handler(event, context)`)."""
    return handle(event)


def handle(event: dict) -> dict:
    """The state machine's validation step: `{executionName, input, jobNamePrefix, defaults, bucket}`.

    Whatever goes wrong while checking is a refusal (InvalidExecutionInput, the state machine's
    `Execution input refused`), its cause at most MAX_CAUSE characters."""
    try:
        return validate_execution(
            event.get("input"),
            execution_name=event.get("executionName"),
            job_name_prefix=event.get("jobNamePrefix"),
            defaults=event["defaults"],
            bucket=event.get("bucket"),
        )
    except InvalidExecutionInput as error:
        message = str(error)
    except RecursionError:
        message = (
            "execution input: nested too deeply to check: it is one object {rows, seed, "
            "hyperparameters, data} whose values are numbers, strings or shallow objects"
        )
    except (ValueError, TypeError, OverflowError, MemoryError) as error:
        message = (
            f"execution input could not be checked ({type(error).__name__}: "
            f"{str(error)[:200]}): fix the input, or report this if it is valid"
        )
    if len(message) > MAX_CAUSE:
        message = f"{message[: MAX_CAUSE - 40]}... (cut from {len(message):,} characters)"
    raise InvalidExecutionInput(message) from None
