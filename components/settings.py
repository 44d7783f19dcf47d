"""The pipeline's settings: defaults from Pulumi.yaml, values from stack config, one validation.

`Pulumi.yaml` is the single source of defaults. The Pulumi program reads values through
`pulumi.Config`; the offline rehearsal reads `Pulumi.<stack>.yaml` directly. Both go through
`PipelineSettings.from_config`, so a value either path accepts, the other accepts too.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from components import PROJECT_DIR, seed_policy
from components.images import partition, training_image
from lambda_src import evaluation, execution_input, xgboost_hyperparameters

PROJECT_FILE = PROJECT_DIR / "Pulumi.yaml"
DEFAULT_STACK = "dev"  # the stack run.py and the rehearsal use when none is named (Pulumi.dev.yaml)
LOG_LEVELS = ("ALL", "ERROR", "FATAL", "OFF")
# The retention periods CloudWatch Logs accepts (PutRetentionPolicy).
LOG_RETENTION_DAYS = (
    1,
    3,
    5,
    7,
    14,
    30,
    60,
    90,
    120,
    150,
    180,
    365,
    400,
    545,
    731,
    1096,
    1827,
    2192,
    2557,
    2922,
    3288,
    3653,
)
MAX_RUNTIME_SECONDS = 28 * 24 * 3600  # SageMaker's cap on a training job's MaxRuntimeInSeconds
# Below this a first job is likely stopped (MaxRuntimeExceeded) before it trains: on AWS the data
# and image download counts and takes minutes, where the rehearsal is done in seconds.
REALISTIC_MIN_RUNTIME_SECONDS = 600
# ResourceConfig.KeepAlivePeriodInSeconds: at most 3,600 in the SageMaker Developer Guide (train-warm-pools)
# and the API reference (ResourceConfigForUpdate), where botocore's model says 21,600; the bound both accept.
MAX_WARM_POOL_SECONDS = 3600
# The training state's TimeoutSeconds: the job's own bound plus what SageMaker spends outside it
# (provisioning, pulling the image, stopping and uploading), so that a job SageMaker already
# bounds never keeps an execution open for want of a completion Step Functions missed.
TRAINING_STATE_SLACK_SECONDS = 3600
MAX_STATE_TIMEOUT_SECONDS = 365 * 24 * 3600  # a Standard execution runs at most a year
# Below this a batch transform on AWS likely times out while starting: it takes minutes to start
# its instance and the model's container before the first record.
REALISTIC_MIN_TRANSFORM_SECONDS = 900
DEFAULT_PREFIX_STEM = "xgb-"
# What a run's model package may be registered as (CreateModelPackage's ModelApprovalStatus; a
# package registered Rejected would be pointless).
MODEL_APPROVAL_STATUSES = ("PendingManualApproval", "Approved")
# The seeding function's environment holds dataSources as JSON, and Lambda allows 4 KB for all
# its variables (names and values): this leaves room for the bucket and the prefix.
MAX_DATA_SOURCES_JSON = 3584
MAX_EXPIRE_DAYS = 2**31 - 1  # an S3 lifecycle rule's Days is a 32-bit integer


def default_job_name_prefix(stack: str, project: str) -> str:
    """`xgb-<stack>-<hash>`: the hash (6 hex digits of sha256 of `<project>/<stack>`) keeps the
    prefixes of two projects with the same stack name in one account apart, and of two stacks
    whose names read alike once made valid (capitals, `_`, `.`, `--`, length: the stack name
    is lower-cased, its other characters become single hyphens, and it is cut to fit)."""
    readable = re.sub(r"-+", "-", re.sub(r"[^a-z0-9]", "-", stack.lower())).strip("-")
    digest = hashlib.sha256(f"{project}/{stack}".encode()).hexdigest()[:6]
    room = execution_input.MAX_PREFIX_LENGTH - len(DEFAULT_PREFIX_STEM) - len(digest) - 1
    return f"{DEFAULT_PREFIX_STEM}{(readable[:room].strip('-') + '-') if readable else ''}{digest}"


class SettingsError(ValueError):
    """A setting the deployment or the container would reject; the message names the key."""


def parse_hyperparameters(pairs: list[str], source: str = "hyperparameters") -> dict[str, str]:
    """Turn ["num_round=5", ...] into {"num_round": "5", ...}."""
    result = {}
    for pair in pairs:
        name, sep, value = str(pair).partition("=")
        if not sep or not name.strip():
            raise SettingsError(f"{source}: {pair!r} is not key=value (e.g. num_round=10)")
        result[name.strip()] = value.strip()
    return result


def read_yaml(path: Path) -> Any:
    """`yaml.safe_load` of a file, with libyaml's loader when PyYAML has it (about 8x faster).
    A file it refuses is read again by PyYAML's own loader, whose messages say more (a tab
    is "found character '\\t' that cannot start any token")."""
    text = path.read_text()
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        return yaml.load(text, Loader=loader)
    except yaml.YAMLError:
        if loader is yaml.SafeLoader:
            raise
        return yaml.safe_load(text)  # raises with its own words (or reads it, as it always did)


def project_defaults(project_file: Path = PROJECT_FILE) -> dict[str, Any]:
    """The `default` of every key declared in Pulumi.yaml's `config:` block."""
    declared = read_yaml(project_file)["config"]
    return {key: spec["default"] for key, spec in declared.items()}


def project_name(project_file: Path = PROJECT_FILE) -> str:
    return read_yaml(project_file)["name"]


@dataclasses.dataclass(frozen=True)
class PipelineSettings:
    stack: str
    region: str
    xgboost_version: str
    rows: int
    hyperparameters: dict[str, str]
    training_instance_type: str
    training_instance_count: int
    transform_instance_type: str
    transform_instance_count: int
    volume_size_gb: int
    max_runtime_seconds: int
    job_name_prefix: str
    log_level: str
    tracing: bool
    force_destroy: bool
    log_retention_days: int
    # S3 locations (s3://bucket/ or s3://bucket/prefix/) executions may train on; the seeding
    # function's role may read these and nothing else outside the stack's bucket.
    data_sources: tuple[str, ...] = ()
    # Managed spot training: MaxWaitTimeInSeconds bounds the job including waits for capacity.
    spot_training: bool = False
    max_wait_seconds: int = 7200
    # ResourceConfig.KeepAlivePeriodInSeconds; 0: no warm pool.
    warm_pool_seconds: int = 0
    # Objects under runs/ expire this many days after they were written (S3 lifecycle); 0: never.
    runs_expire_days: int = 30
    # The Batch transform state's TimeoutSeconds: the job is then stopped (a transform job has no
    # time limit of its own).
    transform_timeout_seconds: int = 3600
    # A run whose held-out metric misses it is not registered ("auc >= 0.9"); "" for none.
    quality_gate: str = ""
    # The ModelApprovalStatus a run's model package is registered with.
    model_approval_status: str = "PendingManualApproval"

    @property
    def warnings(self) -> list[str]:
        """Accepted settings that are likely to cost a failed run on AWS, one line each."""
        warnings = []
        if self.max_runtime_seconds < REALISTIC_MIN_RUNTIME_SECONDS:
            warnings.append(
                f"maxRuntimeSeconds: {self.max_runtime_seconds} s is below {REALISTIC_MIN_RUNTIME_SECONDS} s: on "
                "AWS downloading the data and the image counts too and takes minutes, so the training job "
                "may stop (MaxRuntimeExceeded) where the offline rehearsal passes"
            )
        if self.transform_timeout_seconds < REALISTIC_MIN_TRANSFORM_SECONDS:
            warnings.append(
                f"transformTimeoutSeconds: {self.transform_timeout_seconds} s is below "
                f"{REALISTIC_MIN_TRANSFORM_SECONDS} s: on AWS a batch transform takes minutes to start its "
                "instance, so it may time out (States.Timeout) where the offline rehearsal passes"
            )
        return warnings

    @functools.cached_property
    def training_image(self) -> str:
        return training_image(self.region, self.xgboost_version)

    @property
    def run_defaults(self) -> execution_input.RunDefaults:
        """What an execution gets unless its input says otherwise, and what bounds it (its keys:
        execution_input.RunDefaults)."""
        return {
            "rows": self.rows,
            "hyperparameters": self.hyperparameters,
            "shards": self.shards,
            "dataSources": list(self.data_sources),
            "volumeSizeGb": self.volume_size_gb,
            "qualityGate": self.quality_gate,
            # the training job's image and limits, keywords of xgboost_hyperparameters.validate
            "training": {
                "image_version": self.xgboost_version,
                "instance_type": self.training_instance_type,
                "max_runtime_seconds": self.max_runtime_seconds,
                "instance_count": self.training_instance_count,
            },
        }

    @property
    def training_bound_seconds(self) -> int:
        """The longest SageMaker lets the training job run: MaxWaitTimeInSeconds with spot."""
        return self.max_wait_seconds if self.spot_training else self.max_runtime_seconds

    @property
    def training_state_timeout_seconds(self) -> int:
        return self.training_bound_seconds + TRAINING_STATE_SLACK_SECONDS

    @property
    def longest_run_seconds(self) -> int:
        """The longest an execution can take: every Lambda attempt at its function's timeout, then
        the training and transform states' timeouts."""
        from components import lambda_functions

        return lambda_functions.WORST_SECONDS + self.training_state_timeout_seconds + self.transform_timeout_seconds

    @property
    def shards(self) -> int:
        """Every training instance gets at least one shard under ShardedByS3Key."""
        return self.training_instance_count

    @classmethod
    def from_config(
        cls, get: Callable[[str], Any], stack: str, region: str, project: str | None = None
    ) -> PipelineSettings:
        """Build and validate settings; `get(key)` returns the configured value or None.
        `project` (the default jobNamePrefix depends on it) defaults to Pulumi.yaml's name.

        Values may come typed (YAML) or as strings (Pulumi passes config as strings).
        """
        defaults = project_defaults()

        def value(key: str) -> Any:
            raw = get(key)
            return defaults[key] if raw is None else raw

        def integer(key: str, minimum: int, maximum: int | None = None) -> int:
            raw = value(key)
            try:
                number = int(raw) if not isinstance(raw, (bool, float)) else None
            except (TypeError, ValueError):
                number = None
            if number is None or number < minimum or (maximum is not None and number > maximum):
                bounds = f"between {minimum} and {maximum}" if maximum is not None else f">= {minimum}"
                raise SettingsError(f"{key}: {raw!r} is not an integer {bounds}")
            return number

        def boolean(key: str) -> bool:
            raw = value(key)
            if isinstance(raw, bool):
                return raw
            if str(raw).lower() in ("true", "false"):
                return str(raw).lower() == "true"
            raise SettingsError(f"{key}: {raw!r} is not true or false")

        def choice(key: str, allowed: tuple[str, ...]) -> str:
            raw = str(value(key))
            if raw not in allowed:
                raise SettingsError(f"{key}: {raw!r} is not one of {', '.join(allowed)}")
            return raw

        raw_pairs = value("hyperparameters")
        if isinstance(raw_pairs, str):
            try:
                raw_pairs = json.loads(raw_pairs)
            except json.JSONDecodeError:
                raise SettingsError(
                    'hyperparameters: expected a list of key=value strings, e.g. ["num_round=5"]'
                ) from None
        if not isinstance(raw_pairs, list):
            raise SettingsError('hyperparameters: expected a list of key=value strings, e.g. ["num_round=5"]')
        hyperparameters = parse_hyperparameters(raw_pairs)

        prefix = str(value("jobNamePrefix")) or default_job_name_prefix(stack, project or project_name())
        try:
            execution_input.check_prefix(prefix)
        except execution_input.InvalidExecutionInput as error:
            raise SettingsError(str(error)) from None

        raw_sources = value("dataSources")
        if isinstance(raw_sources, str):
            try:
                raw_sources = json.loads(raw_sources)
            except json.JSONDecodeError:
                pass  # refused below as what it is: a string, not a list
        try:
            data_sources = execution_input.check_data_sources(raw_sources)
        except execution_input.InvalidExecutionInput as error:
            raise SettingsError(str(error)) from None
        if len(json.dumps(list(data_sources))) > MAX_DATA_SOURCES_JSON:
            raise SettingsError(
                f"dataSources: {len(json.dumps(list(data_sources))):,} characters as JSON, more than "
                f"the {MAX_DATA_SOURCES_JSON:,} the seeding function's environment can hold "
                "(Lambda allows 4 KB): name fewer, broader locations"
            )
        policy_size = seed_policy.longest_seed_policy_characters(partition(region)[0], region, data_sources)
        if policy_size > seed_policy.ROLE_POLICY_CHARACTERS:
            raise SettingsError(
                f"dataSources: {len(data_sources)} locations make the seeding role's policy up to "
                f"{policy_size:,} characters, more than the {seed_policy.ROLE_POLICY_CHARACTERS:,} IAM "
                "allows a role's inline policies: name fewer locations, in fewer buckets"
            )

        version = str(value("xgboostVersion"))
        try:
            xgboost_hyperparameters.image_for(version)
        except xgboost_hyperparameters.UnknownImage as error:
            raise SettingsError(str(error)) from None
        settings = cls(
            stack=stack,
            region=region,
            xgboost_version=version,
            rows=integer("rows", 1, maximum=execution_input.MAX_ROWS),
            hyperparameters=hyperparameters,
            training_instance_type=str(value("trainingInstanceType")),
            training_instance_count=integer("trainingInstanceCount", 1),
            transform_instance_type=str(value("transformInstanceType")),
            # The held-out set is one object and batch transform gives each object to one
            # instance: a second instance would sit idle, billed.
            transform_instance_count=integer("transformInstanceCount", 1, maximum=1),
            volume_size_gb=integer("volumeSizeGb", 1),
            max_runtime_seconds=integer("maxRuntimeSeconds", 1, maximum=MAX_RUNTIME_SECONDS),
            job_name_prefix=prefix,
            log_level=choice("logLevel", LOG_LEVELS),
            tracing=boolean("tracing"),
            force_destroy=boolean("forceDestroy"),
            log_retention_days=integer("logRetentionDays", 1),
            data_sources=data_sources,
            spot_training=boolean("spotTraining"),
            max_wait_seconds=integer("maxWaitSeconds", 1),
            warm_pool_seconds=integer("warmPoolSeconds", 0, maximum=MAX_WARM_POOL_SECONDS),
            runs_expire_days=integer("runsExpireDays", 0, maximum=MAX_EXPIRE_DAYS),
            transform_timeout_seconds=integer("transformTimeoutSeconds", 1, maximum=MAX_STATE_TIMEOUT_SECONDS),
            quality_gate=str(value("qualityGate") or "").strip(),
            model_approval_status=choice("modelApprovalStatus", MODEL_APPROVAL_STATUSES),
        )
        try:
            evaluation.check_gate_applies(evaluation.parse_gate(settings.quality_gate), hyperparameters)
        except ValueError as error:
            raise SettingsError(str(error)) from None
        if settings.spot_training and settings.warm_pool_seconds:
            raise SettingsError(
                f"warmPoolSeconds: {settings.warm_pool_seconds} with spotTraining true: SageMaker "
                "keeps no warm pool for spot instances; set warmPoolSeconds to 0 or spotTraining "
                "to false"
            )
        if settings.spot_training and settings.max_wait_seconds < settings.max_runtime_seconds:
            raise SettingsError(
                f"maxWaitSeconds: {settings.max_wait_seconds} is below maxRuntimeSeconds "
                f"({settings.max_runtime_seconds}); SageMaker requires MaxWaitTimeInSeconds >= "
                "MaxRuntimeInSeconds: raise maxWaitSeconds or lower maxRuntimeSeconds"
            )
        if settings.longest_run_seconds > MAX_STATE_TIMEOUT_SECONDS:
            raise SettingsError(
                f"{'maxWaitSeconds' if settings.spot_training else 'maxRuntimeSeconds'}: a run could "
                f"take {settings.longest_run_seconds} s with these settings, more than the year "
                f"({MAX_STATE_TIMEOUT_SECONDS} s) a Standard execution may run: lower it or "
                "transformTimeoutSeconds"
            )
        if settings.runs_expire_days and settings.runs_expire_days * 86400 <= settings.longest_run_seconds:
            raise SettingsError(
                f"runsExpireDays: {settings.runs_expire_days} is too short: a run can take up to "
                f"{settings.longest_run_seconds} s with these settings and its objects could "
                "expire while it runs; raise runsExpireDays, or set 0 to keep runs for good"
            )
        if settings.log_retention_days not in LOG_RETENTION_DAYS:
            raise SettingsError(
                f"logRetentionDays: {settings.log_retention_days} is not one of "
                f"{', '.join(map(str, LOG_RETENTION_DAYS))}"
            )
        for key, instance_type, shape in (
            ("trainingInstanceType", settings.training_instance_type, "TrainingInstanceType"),
            ("transformInstanceType", settings.transform_instance_type, "TransformInstanceType"),
        ):
            known = sagemaker_instance_types(shape)
            if instance_type not in known:
                import difflib

                close = difflib.get_close_matches(instance_type, known, n=1)
                raise SettingsError(
                    f"{key}: {instance_type!r} is not a SageMaker "
                    f"{shape.removesuffix('InstanceType').lower()} instance type "
                    f"({'did you mean ' + repr(close[0]) + '?' if close else 'e.g. ml.m5.xlarge'}; "
                    "the list is botocore's model of the SageMaker API)"
                )
        try:
            xgboost_hyperparameters.validate(hyperparameters, **settings.run_defaults["training"], rows=settings.rows)
        except xgboost_hyperparameters.HyperparameterError as error:
            raise SettingsError(f"hyperparameters: {error}") from None
        try:
            execution_input.check_rows_fit(settings.rows, settings.run_defaults["training"], settings.volume_size_gb)
        except execution_input.InvalidExecutionInput as error:
            raise SettingsError(str(error)) from None
        try:
            _ = settings.training_image  # resolves the image: fails for unknown versions or regions
        except ValueError as error:
            raise SettingsError(f"xgboostVersion: {error}".replace("\n", " ")) from None
        return settings


@functools.cache
def sagemaker_instance_types(shape: str) -> tuple[str, ...]:
    """The instance types SageMaker's API accepts for `shape` (TrainingInstanceType,
    TransformInstanceType): the enum of botocore's service model, which tracks the API."""
    return tuple(_botocore_service_model("sagemaker")["shapes"][shape]["enum"])


@functools.cache
def _botocore_service_model(service: str) -> dict:
    """botocore's model of `service` as its loader finds it in botocore's own data folder (the
    latest API version holding a service-2 file, plain or gzipped), read with json alone:
    importing botocore's loader takes 0.2 s (its compat module loads urllib3 and http), which
    run.py --local would pay before its first line. tests/cli/test_run_frictions.py holds both
    readings equal."""
    import gzip
    import importlib.util

    folder = Path(importlib.util.find_spec("botocore").origin).parent / "data" / service
    versions = sorted(
        version
        for version in folder.iterdir()
        if any((version / f"service-2{suffix}").is_file() for suffix in (".json", ".json.gz"))
    )
    plain = versions[-1] / "service-2.json"
    with open(plain, "rb") if plain.is_file() else gzip.open(versions[-1] / "service-2.json.gz") as model:
        return json.load(model)


def read_stack_config(stack: str = DEFAULT_STACK, project_dir: Path = PROJECT_DIR) -> dict[str, Any]:
    """The `config:` block of Pulumi.<stack>.yaml: the one reader of a stack file.

    Strict, since nothing else checks this file before a run: it must exist, parse, and hold a
    mapping; every problem is a SettingsError of one line naming the file.
    """
    stack_file = project_dir / f"Pulumi.{stack}.yaml"
    name = stack_file.name
    if not stack_file.is_file():
        present = sorted(path.name for path in project_dir.glob("Pulumi.*.yaml"))
        raise SettingsError(
            f"{name}: no such stack file in {project_dir} (stack files here: "
            f"{', '.join(present) or 'none'}; pick one with --stack, or create it "
            f"with `pulumi stack init {stack}`)"
        )
    try:
        document = read_yaml(stack_file)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise SettingsError(f"{name}: not valid YAML{where}: {problem}") from None
    except OSError as error:
        raise SettingsError(f"{name}: cannot read it: {error.strerror or error}") from None
    document = {} if document is None else document
    values = document.get("config", {}) if isinstance(document, dict) else None
    values = {} if values is None else values
    if not isinstance(values, dict):
        raise SettingsError(f"{name}: config: expected a mapping of key: value")
    return values


def load_stack_settings(stack: str = DEFAULT_STACK, project_dir: Path = PROJECT_DIR) -> PipelineSettings:
    """Settings of a stack read straight from its Pulumi.<stack>.yaml (`read_stack_config`), as
    the rehearsal uses them: only keys the project declares (other providers' namespaces aside).
    Every problem is a SettingsError of one line naming the file and the key.
    """
    import difflib

    values = read_stack_config(stack, project_dir)
    name = f"Pulumi.{stack}.yaml"
    namespace = project_name(project_dir / "Pulumi.yaml")
    declared = {f"{namespace}:{key}" for key in project_defaults(project_dir / "Pulumi.yaml")}
    for key in values:
        key = str(key)
        if key in declared or (":" in key and not key.startswith(f"{namespace}:") and key.partition(":")[0] != "aws"):
            continue
        if key.startswith("aws:") and key in _AWS_KEYS:
            continue
        known = sorted(declared) + sorted(_AWS_KEYS)
        guess = difflib.get_close_matches(key if ":" in key else f"{namespace}:{key}", known, n=1)
        raise SettingsError(
            f"{name}: {key}: unknown key"
            + (f" (did you mean {guess[0]}?)" if guess else f"; known keys: {', '.join(known)}")
        )

    region = values.get("aws:region", "us-west-2")
    if not isinstance(region, str) or not region:
        raise SettingsError(f"{name}: aws:region: {region!r} is not a region name (e.g. us-west-2)")
    try:
        training_image(region, str(project_defaults(project_dir / "Pulumi.yaml")["xgboostVersion"]))
    except ValueError:
        raise SettingsError(
            f"{name}: aws:region: {region!r} is not a region where SageMaker offers the "
            "XGBoost image (e.g. us-west-2, us-east-1, eu-west-1)"
        ) from None
    try:
        return PipelineSettings.from_config(
            lambda key: values.get(f"{namespace}:{key}"), stack, region, project=namespace
        )
    except SettingsError as error:
        raise SettingsError(f"{name}: {namespace}:{error}") from None


# The provider settings a stack file may carry besides aws:region (pulumi-aws's config keys).
_AWS_KEYS = {
    "aws:region",
    "aws:profile",
    "aws:sharedCredentialsFiles",
    "aws:sharedConfigFiles",
    "aws:assumeRole",
    "aws:allowedAccountIds",
    "aws:forbiddenAccountIds",
    "aws:defaultTags",
    "aws:skipCredentialsValidation",
    "aws:skipMetadataApiCheck",
    "aws:skipRegionValidation",
    "aws:skipRequestingAccountId",
    "aws:maxRetries",
    "aws:endpoints",
    "aws:accessKey",
    "aws:secretKey",
    "aws:token",
    "aws:ignoreTags",
    "aws:retryMode",
    "aws:s3UsePathStyle",
    "aws:stsRegion",
    "aws:useFipsEndpoint",
    "aws:insecure",
    "aws:httpProxy",
    "aws:httpsProxy",
    "aws:noProxy",
    "aws:customCaBundle",
    "aws:ec2MetadataServiceEndpoint",
    "aws:ec2MetadataServiceEndpointMode",
    "aws:tokenBucketRateLimiterCapacity",
}
