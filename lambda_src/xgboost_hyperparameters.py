"""The hyperparameter rules of the SageMaker built-in XGBoost containers (standard library only).

A transcription of aws/sagemaker-xgboost-container, branch 1.7-1 (the same list, word for word, on
branches release-3.0.5 and master, the code of images 3.0-5 and 3.2-0):
`src/sagemaker_xgboost_container/algorithm_mode/hyperparameter_validation.py` (names, ranges,
aliases, dependencies between parameters) and `src/sagemaker_algorithm_toolkit/
hyperparameter_validation.py` (the order of the checks and their messages). What the container
refuses, `validate` refuses with the container's message; what it accepts, `validate` accepts,
with two exceptions, both refusals of what would run code chosen by whoever starts an execution:

- any `sagemaker_*` name: `sagemaker_program` switches the container to script mode (training.py
  runs the user's module with the SageMaker role); the container would call the others extraneous;
- `monotone_constraints` that is not a literal tuple or list: the container passes it to eval().

Beyond the container's checks, `validate` holds what this pipeline's jobs can train: the
container accepts many values that fail only in training, after the dataset is written (GPU
options on CPU instances, updaters the library does not have, integers past 32 bits, `num_class` with a
binary objective, ...), or that run up a bill (`num_round: 1e300`, hundreds of `eval_metric`
entries). `pipeline_refusal` lists them; tests/container/test_hyperparameter_property.py checks, on each
image's xgboost, that whatever `validate` accepts trains and transforms.

What the library then does differs between the images (`IMAGES`: one record per image, the only
place that says how they differ; docs: the sources): 3.x builds with hist where 1.7.4 builds with
exact, 3.2.0 has no gpu_hist, 3.x ignores `predictor`, ...

It is one rule set for the whole project: the stack config check, run.py and the state machine's
validation step (this file ships in the Lambda package) call `validate`; the rehearsal's local
container calls `validate_as_container`, the container's own checks, as the image does.
"""

from __future__ import annotations

import ast
import dataclasses
import math
import re
import struct

from .suggestions import did_you_mean

# CreateTrainingJob's own limits on the HyperParameters map (SageMaker API reference).
MAX_HYPERPARAMETERS, MAX_NAME_LENGTH, MAX_VALUE_LENGTH = 100, 256, 2500
SCRIPT_MODE_NAMES = ("sagemaker_program", "sagemaker_submit_directory")

# xgb_constants.XGB_MAXIMIZE_METRICS (early stopping maximises these) and XGB_MINIMIZE_METRICS
MAXIMIZE_METRICS = (
    "accuracy",
    "auc",
    "aucpr",
    "balanced_accuracy",
    "f1",
    "f1_binary",
    "f1_macro",
    "map",
    "ndcg",
    "precision",
    "r2",
    "recall",
    "precision_macro",
    "precision_micro",
    "recall_macro",
    "recall_micro",
)
MINIMIZE_METRICS = (
    "aft-nloglik",
    "cox-nloglik",
    "error",
    "gamma-deviance",
    "gamma-nloglik",
    "interval-regression-accuracy",
    "logloss",
    "mae",
    "mape",
    "merror",
    "mlogloss",
    "mphe",
    "mse",
    "poisson-nloglik",
    "rmse",
    "rmsle",
    "tweedie-nloglik",
)
METRICS = MAXIMIZE_METRICS + MINIMIZE_METRICS
# The container's list, "aft_loss_distribution" (a container bug) included.
OBJECTIVES = (
    "aft_loss_distribution",
    "binary:logistic",
    "binary:logitraw",
    "binary:hinge",
    "count:poisson",
    "multi:softmax",
    "multi:softprob",
    "rank:pairwise",
    "rank:ndcg",
    "rank:map",
    "reg:linear",
    "reg:squarederror",
    "reg:logistic",
    "reg:gamma",
    "reg:pseudohubererror",
    "reg:squaredlogerror",
    "reg:absoluteerror",
    "reg:tweedie",
    "survival:aft",
    "survival:cox",
)
# The container's list as it is, duplicates included (its messages quote it).
UPDATERS = (
    "grow_colmaker",
    "distcol",
    "grow_histmaker",
    "grow_skmaker",
    "sync",
    "refresh",
    "prune",
    "grow_colmaker",
    "distcol",
    "grow_histmaker",
    "grow_colmaker",
    "shotgun",
    "coord_descent",
    "refresh",
    "prune",
)
ALIASES = {"learning_rate": "eta", "min_split_loss": "gamma", "reg_lambda": "lambda", "reg_alpha": "alpha"}


class HyperparameterError(ValueError):
    """A hyperparameter set the container (or SageMaker's API) refuses; the message is its reason."""


class Interval:
    """sagemaker_algorithm_toolkit's Interval: membership and the way it prints."""

    def __init__(self, min_open=None, min_closed=None, max_open=None, max_closed=None):
        self.min_open, self.min_closed = min_open, min_closed
        self.max_open, self.max_closed = max_open, max_closed

    def __contains__(self, value) -> bool:  # NaN compares False everywhere: inside, as there
        return not (
            (self.min_open is not None and value <= self.min_open)
            or (self.min_closed is not None and value < self.min_closed)
            or (self.max_open is not None and value >= self.max_open)
            or (self.max_closed is not None and value > self.max_closed)
        )

    def __str__(self) -> str:
        low = (
            f"({self.min_open}, "
            if self.min_open is not None
            else f"[{self.min_closed}, "
            if self.min_closed is not None
            else "(-inf, "
        )
        high = (
            f"{self.max_open})"
            if self.max_open is not None
            else f"{self.max_closed}]"
            if self.max_closed is not None
            else "+inf)"
        )
        return low + high


@dataclasses.dataclass(frozen=True)
class Image:
    """What differs between the SageMaker XGBoost images for these rules: the library an image pins
    and what it does with values the containers' validation (the same on all of them) accepts."""

    version: str  # the container version (the stack's xgboostVersion)
    library: str  # the xgboost the image pins
    auto_tree_method: str  # what tree_method auto builds with on one instance (below 2^22 rows)
    has_gpu_hist: bool  # tree_method gpu_hist exists (and needs a GPU instance)
    reads_predictor: bool  # `predictor` is read (gpu_predictor needs a GPU), not ignored
    cpu_gradient_sampling: tuple[str, ...]  # tree methods that sample gradient_based on a CPU
    logistic_base_score: Interval  # the base_score a logistic objective trains with (else it fails)
    estimates_base_score: bool  # base_score not given: estimated from the training labels (else 0.5)


# Newest first. Each fact was read in the image's source and checked on its library (docs/incoming/i24-rules.md).
# 3.2.0 takes base_score 0 and 1 with a logistic objective, for labels all 0 or all 1 (dmlc/xgboost#11499).
IMAGES = {
    image.version: image
    for image in (
        Image(
            "3.2-0",
            "3.2.0",
            auto_tree_method="hist",
            has_gpu_hist=False,
            reads_predictor=False,
            cpu_gradient_sampling=("hist", "approx"),
            logistic_base_score=Interval(min_closed=0, max_closed=1),
            estimates_base_score=True,
        ),
        Image(
            "3.0-5",
            "3.0.5",
            auto_tree_method="hist",
            has_gpu_hist=True,
            reads_predictor=False,
            cpu_gradient_sampling=(),
            logistic_base_score=Interval(min_open=0, max_open=1),
            estimates_base_score=True,
        ),
        Image(
            "1.7-1",
            "1.7.4",
            auto_tree_method="exact",
            has_gpu_hist=True,
            reads_predictor=True,
            cpu_gradient_sampling=(),
            logistic_base_score=Interval(min_open=0, max_open=1),
            estimates_base_score=False,
        ),
    )
}


class UnknownImage(ValueError):
    """An image version none of IMAGES is; the message lists them."""


def image_for(version: object) -> Image:
    """The image record of container `version`, or UnknownImage naming the ones there are."""
    if version not in IMAGES:
        raise UnknownImage(
            f"xgboostVersion: {str(version)[:40]!r} is not one of {', '.join(IMAGES)} "
            "(the SageMaker XGBoost images AWS ships)"
        )
    return IMAGES[version]


def _metric_in_range(metric: str) -> bool:
    """eval_metric_range_validator: a known metric, or error/ndcg/map with a float threshold."""
    if "<function" in metric:
        raise HyperparameterError(f"User defined evaluation metric {metric} is not supported yet.")
    if "@" in metric:
        name, threshold = metric.split("@")[0].strip(), metric.split("@")[1].strip()
        if name not in ("error", "ndcg", "map"):
            raise HyperparameterError(
                f"Metric '{metric}' is not supported. Parameter 'eval_metric' with customized threshold "
                "should be one of these options: 'error', 'ndcg', 'map'."
            )
        try:
            float(threshold)
        except ValueError:
            raise HyperparameterError(f"Threshold value 't' in '{name}@t' expects float input.") from None
        return True
    return metric in METRICS


class _Rule:
    """One hyperparameter: how the container parses it, its range and what it depends on."""

    def __init__(self, kind: str, range_=None, depends_on: tuple[str, ...] = (), check=None, required: bool = False):
        self.kind, self.range, self.depends_on, self.check = kind, range_, depends_on, check
        self.required = required

    def parse(self, name: str, value: str):
        if self.kind == "int":
            return int(value)
        if self.kind == "float":
            return float(value)
        if self.kind == "list":
            return value.split(",")
        if self.kind in ("nested", "tuple"):
            try:
                return ast.literal_eval(value)
            except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
                if self.kind == "tuple":  # the container would eval() it: refuse anything else
                    raise HyperparameterError(
                        f"Hyperparameter {name}: {value!r} must be a literal tuple such as (1,-1) "
                        "(the container evaluates this value as Python code)"
                    ) from None
                raise ValueError(value) from None
        return value  # categorical

    def validate_range(self, name: str, value) -> None:
        if self.kind == "list":
            if any(
                not (_metric_in_range(item) if self.range is _metric_in_range else item in self.range) for item in value
            ):
                raise HyperparameterError(f"Hyperparameter {name}: value {value} not in range {self._range_text()}")
            return
        if self.kind in ("nested", "tuple"):
            try:
                outside = (
                    any(element not in self.range for element in (item for outer in value for item in outer))
                    if self.kind == "nested"
                    else any(element not in self.range for element in value)
                )
            except TypeError:
                raise HyperparameterError(
                    f"Hyperparameter {name}: unexpected failure when validating {value}"
                ) from None
            if outside:
                raise HyperparameterError(f"Hyperparameter {name}: value {value} not in range {self._range_text()}")
            return
        if value not in self.range:
            raise HyperparameterError(f"Hyperparameter {name}: {value} is not in {self._range_text()}")

    def _range_text(self) -> str:
        if self.range is _metric_in_range:
            return str(list(METRICS))
        return str(list(self.range)) if isinstance(self.range, tuple) else str(self.range)


def _updater(value: list[str], dependencies: dict) -> None:
    tree = (
        "grow_colmaker",
        "distcol",
        "grow_histmaker",
        "grow_skmaker",
        "sync",
        "refresh",
        "prune",
        "grow_quantile_histmaker",
    )
    tree_build = ("grow_colmaker", "distcol", "grow_histmaker", "grow_colmaker", "grow_quantile_histmaker")
    if dependencies.get("booster") == "gblinear":
        if not (len(value) == 1 and value[0] in ("shotgun", "coord_descent")):
            raise HyperparameterError("Linear updater should be one of these options: 'shotgun', 'coord_descent'.")
    elif dependencies.get("process_type") == "update":
        if not all(item in ("refresh", "prune") for item in value):
            raise HyperparameterError("process_type 'update' can only be used with updater 'refresh' and 'prune'")
    else:
        if not all(item in tree for item in value):
            raise HyperparameterError(
                "Tree updater should be selected from these options: 'grow_colmaker', 'distcol', "
                "'grow_histmaker', 'grow_skmaker', 'grow_quantile_histmaker', 'sync', 'refresh', "
                "'prune', 'shortgun', 'coord_descent'."
            )
        if sum(item in tree_build for item in value) > 1:
            raise HyperparameterError(
                "Only one tree grow plugin can be selected. Choose one from thefollowing: "
                "'grow_colmaker', 'distcol', 'grow_histmaker', 'grow_skmaker'"
            )


def _objective(value: str, dependencies: dict) -> None:
    if value in ("multi:softmax", "multi:softprob") and dependencies.get("num_class") is None:
        raise HyperparameterError("Require input for parameter 'num_class' for multi-classification")


def _eval_metric(value: list[str], dependencies: dict) -> None:
    if "objective" not in dependencies:
        # The container reads dependencies["objective"] here and fails with a KeyError.
        raise HyperparameterError(
            "Hyperparameter eval_metric: set objective too (the container cannot check eval_metric without it)"
        )
    objective = dependencies["objective"]
    if "auc" in value and not objective.startswith(("binary:", "rank:")):
        raise HyperparameterError("Metric 'auc' can only be applied for classification and ranking problems.")
    if "aft-nloglik" in value and objective != "survival:aft":
        raise HyperparameterError("Metric 'aft-nloglik' can only be applied for 'survival:aft' objective.")


def _monotone_constraints(value, dependencies: dict) -> None:
    if value is not None and dependencies.get("tree_method") not in ("exact", "hist"):
        raise HyperparameterError(
            "monotone_constraints can be used only when the tree_method parameter is set to either 'exact' or 'hist'."
        )


def _interaction_constraints(value, dependencies: dict) -> None:
    if value is not None and dependencies.get("tree_method") not in ("exact", "hist", "approx"):
        raise HyperparameterError(
            "interaction_constraints can be used only when the tree_method "
            "parameter is set to either 'exact', 'hist' or 'approx'."
        )


_TRUE_FALSE = ("true", "false")
_UNIT = Interval(min_closed=0, max_closed=1)
_OPEN_UNIT = Interval(min_open=0, max_closed=1)
_NON_NEGATIVE = Interval(min_closed=0)
RULES: dict[str, _Rule] = {
    "num_round": _Rule("int", Interval(min_closed=1), required=True),
    "csv_weights": _Rule("int", _UNIT),
    "early_stopping_rounds": _Rule("int", Interval(min_closed=1)),
    "booster": _Rule("str", ("gbtree", "gblinear", "dart")),
    "verbosity": _Rule("int", Interval(min_closed=0, max_closed=3)),
    "nthread": _Rule("int", Interval(min_closed=1)),
    "eta": _Rule("float", _UNIT),
    "gamma": _Rule("float", _NON_NEGATIVE),
    "max_depth": _Rule("int", _NON_NEGATIVE),
    "min_child_weight": _Rule("float", _NON_NEGATIVE),
    "max_delta_step": _Rule("float", _NON_NEGATIVE),
    "subsample": _Rule("float", _OPEN_UNIT),
    "colsample_bytree": _Rule("float", _OPEN_UNIT),
    "colsample_bylevel": _Rule("float", _OPEN_UNIT),
    "colsample_bynode": _Rule("float", _OPEN_UNIT),
    "lambda": _Rule("float", _NON_NEGATIVE),
    "alpha": _Rule("float", _NON_NEGATIVE),
    "tree_method": _Rule("str", ("auto", "exact", "approx", "hist", "gpu_hist")),
    "sketch_eps": _Rule("float", Interval(min_open=0, max_open=1)),
    "scale_pos_weight": _Rule("float", Interval(min_open=0)),
    "updater": _Rule("list", UPDATERS, depends_on=("booster", "process_type"), check=_updater),
    "dsplit": _Rule("str", ("row", "col")),
    "refresh_leaf": _Rule("int", _UNIT),
    "process_type": _Rule("str", ("default", "update")),
    "grow_policy": _Rule("str", ("depthwise", "lossguide")),
    "max_leaves": _Rule("int", _NON_NEGATIVE),
    "max_bin": _Rule("int", _NON_NEGATIVE),
    "predictor": _Rule("str", ("auto", "cpu_predictor", "gpu_predictor")),
    "monotone_constraints": _Rule("tuple", (-1, 0, 1), depends_on=("tree_method",), check=_monotone_constraints),
    "interaction_constraints": _Rule(
        "nested", Interval(min_closed=1), depends_on=("tree_method",), check=_interaction_constraints
    ),
    "sample_type": _Rule("str", ("uniform", "weighted")),
    "normalize_type": _Rule("str", ("tree", "forest")),
    "rate_drop": _Rule("float", _UNIT),
    "one_drop": _Rule("int", _UNIT),
    "skip_drop": _Rule("float", _UNIT),
    "lambda_bias": _Rule("float", _UNIT),
    "tweedie_variance_power": _Rule("float", Interval(min_open=1, max_open=2)),
    "objective": _Rule("str", OBJECTIVES, depends_on=("num_class",), check=_objective),
    "num_class": _Rule("int", Interval(min_closed=2)),
    "base_score": _Rule("float", _NON_NEGATIVE),
    "_kfold": _Rule("int", Interval(min_closed=2)),
    "_num_cv_round": _Rule("int", Interval(min_closed=1)),
    "_tuning_objective_metric": _Rule("str", tuple(f"validation:{metric}" for metric in METRICS)),
    "eval_metric": _Rule("list", _metric_in_range, depends_on=("objective",), check=_eval_metric),
    "seed": _Rule("int", Interval(min_open=-(2**31), max_open=2**31 - 1)),
    "num_parallel_tree": _Rule("int", Interval(min_closed=1)),
    "save_model_on_termination": _Rule("str", _TRUE_FALSE),
    "aft_loss_distribution": _Rule("str", ("normal", "logistic", "extreme")),
    "aft_loss_distribution_scale": _Rule("float", _NON_NEGATIVE),
    "deterministic_histogram": _Rule("str", _TRUE_FALSE),
    "sampling_method": _Rule("str", ("uniform", "gradient_based")),
    "prob_buffer_row": _Rule("int", Interval(min_open=1.0)),
    "use_dask_gpu_training": _Rule("str", _TRUE_FALSE),
}


def _check_api_limits(hyperparameters: dict) -> None:
    if len(hyperparameters) > MAX_HYPERPARAMETERS:
        raise HyperparameterError(
            f"{len(hyperparameters)} hyperparameters: SageMaker takes at most {MAX_HYPERPARAMETERS}"
        )
    for name, value in hyperparameters.items():
        if isinstance(value, int) and not isinstance(value, bool) and decimal_digits(value) > MAX_VALUE_LENGTH:
            # repr() of it would raise ValueError past Python's int-string limit (4,300 digits)
            raise HyperparameterError(f"Hyperparameter {name}: {too_long_integer(value)}")
        if not isinstance(name, str) or not isinstance(value, str):
            raise HyperparameterError(
                f"Hyperparameter {name}: value {value!r} must be a string, as SageMaker passes them"
            )
        if len(name) > MAX_NAME_LENGTH or len(value) > MAX_VALUE_LENGTH:
            raise HyperparameterError(
                f"Hyperparameter {name[:40]}: names are at most {MAX_NAME_LENGTH} "
                f"and values at most {MAX_VALUE_LENGTH} characters"
            )
        if name.startswith("sagemaker_"):
            reason = (
                "it switches the container to script mode, which runs user code with the SageMaker role"
                if name in SCRIPT_MODE_NAMES
                else "the container reserves sagemaker_* names"
            )
            raise HyperparameterError(f"Hyperparameter {name} is not allowed: {reason}")


def decimal_digits(number: int) -> int:
    """The digits of `number` written in decimal, without converting it (which Python refuses past
    4,300 digits)."""
    magnitude = abs(number)
    digits = int(magnitude.bit_length() * 0.30102999566398120) + 1  # log10(2): exact or one too many
    return digits - 1 if digits > 1 and magnitude < 10 ** (digits - 1) else digits


def too_long_integer(number: int) -> str:
    return (
        f"an integer of {decimal_digits(number):,} digits; SageMaker takes values as strings of at most "
        f"{MAX_VALUE_LENGTH} characters"
    )


def canonical_name(name: str) -> str:
    """`eta` for `learning_rate`, and so on: the name the container validates a value under."""
    return ALIASES.get(name, name)


def validate_as_container(hyperparameters: dict[str, str]) -> dict[str, object]:
    """The container's own checks: raise HyperparameterError with the first problem, in its order,
    or return the values as it hands them to xgboost.train (parsed, under their canonical names)."""
    _check_api_limits(hyperparameters)
    given: dict[str, str] = {}
    for name, value in hyperparameters.items():
        if canonical_name(name) in given:
            # The container would keep one of them, depending on the order it reads them in.
            twins = sorted(other for other in hyperparameters if canonical_name(other) == canonical_name(name))
            raise HyperparameterError(
                f"Hyperparameter {canonical_name(name)} is given twice ({', '.join(twins)}): give one of them"
            )
        given[canonical_name(name)] = value
    for name, rule in RULES.items():
        if rule.required and name not in given:
            raise HyperparameterError(f"Missing required hyperparameter: {name}")
    parsed = {}
    for name, value in given.items():
        rule = RULES.get(name)
        if rule is None:
            raise HyperparameterError(f"Extraneous hyperparameter found: {name}")
        try:
            parsed[name] = rule.parse(name, value)
        except ValueError as error:
            if isinstance(error, HyperparameterError):
                raise
            raise HyperparameterError(f"Hyperparameter {name}: could not parse value") from None
    for name, value in parsed.items():
        RULES[name].validate_range(name, value)
    # Dependencies see only what was given (the container fills no defaults here); a parameter's
    # dependencies are validated before it, as the container's topological order does.
    for name in _dependency_order(parsed):
        rule = RULES[name]
        if rule.check is not None:
            rule.check(parsed[name], {dep: parsed[dep] for dep in rule.depends_on if dep in parsed})
    if "updater" in parsed:  # train.py joins the list again before xgboost.train
        parsed["updater"] = ",".join(parsed["updater"])
    return parsed


# -- what this pipeline can train (our refusals, on top of the container's) ----------------------

DEFAULT_INSTANCE_TYPE = "ml.m5.xlarge"
DEFAULT_MAX_RUNTIME_SECONDS = 3600
# The training CSV's feature columns (x, y): the only features a constraint can name.
FEATURES = 2
MAX_FEATURES = 10_000  # a user's data: data_preparation.MAX_COLUMNS
# XGBoost 1.7.4 keeps these parameters in C++ `int` and `float` fields: a value past them fails.
INT32 = (-(2**31), 2**31 - 1)
# Magnitudes inside float32's normal range (1.18e-38 to 3.40e+38), with a margin: dmlc's own
# parser is not exact at the ends (it read 1.1754943508222875e-38, float32's least normal value,
# as 1.17549421e-38 and failed it as out of range).
FLOAT32_MIN, FLOAT32_MAX = 1e-37, 1e38
# The fastest boosting round 1.7.4 runs, as the container runs it (its evaluation included): 297
# microseconds here (1 row, max_depth 1, approx; 2.8 GHz Xeon), rounded down to 100 for faster
# hosts. A round also reads every row of the instance's shard: 64 ns a row on 2 threads here
# (1 M rows, max_depth 1, hist, the fastest tree method; exact 209, approx 304, gblinear 141),
# 128 ns of CPU, divided by 3 and by all the instance's vCPUs as if threads scaled perfectly.
# A job asking for more trees than maxRuntimeSeconds allows at this pace is sure to be stopped
# at MaxRuntimeInSeconds, billed for all of it, with no model.
MIN_SECONDS_PER_TREE = 1e-4
MIN_CPU_SECONDS_PER_TREE_ROW = 4e-8
# dart drops and re-weights earlier trees every round, so a round costs in proportion to the rounds
# before it: 2,000 rounds on 1 row took 264 s here (gbtree: 1.3 s), 6.6e-5 s x rounds^2, divided by 3.
MIN_SECONDS_PER_DART_ROUND_SQUARED = 2.2e-5
# 2147483647 exhausted memory on 200 rows (std::bad_alloc); XGBoost's own default is 256.
MAX_BIN = 1 << 16
# Above 1, xgboost's C++ code logs a line per tree and more (verbosity 3: 11 MB for 100,000 trees),
# all of it ingested into CloudWatch Logs at the account's cost.
MAX_VERBOSITY = 1
# The spellings of a metric's parameter xgboost 1.7.4 parses as the container hands them on:
# error@<threshold>, and ndcg@/map@/pre@<positions> with an optional "-".
_METRIC_PARAMETER = {
    "error": re.compile(r"[0-9]*\.?[0-9]+"),
    "ndcg": re.compile(r"[0-9]+-?"),
    "map": re.compile(r"[0-9]+-?"),
    "pre": re.compile(r"[0-9]+-?"),
}
MAX_EVAL_METRICS = 8  # each entry is a column of the log line the container prints every round
# CloudWatch Logs bills every byte a training job prints. Every round, xgboost's EvaluationMonitor
# prints a line on the first instance (rank 0): "[<round>]", then for each channel (train,
# validation) and each metric "\t<channel>-<metric>:<score>". An entry is at most LOG_ENTRY_BYTES:
# "\tvalidation-", a metric's name, and a float32 score printed with 5 decimals (up to 45
# characters). A line is counted with CloudWatch's 26 bytes of each event. Runs whose lines would
# exceed MAX_TRAINING_LOG_BYTES are refused: with one eval_metric entry, more than 486,296 rounds.
MAX_TRAINING_LOG_BYTES = 256 << 20
LOG_ENTRY_BYTES = 128
LOG_LINE_BYTES = 40
LOGGED_CHANNELS = 2
MAX_NUM_CLASS = 100  # each class is one more tree a round
# Objectives this pipeline's labels (0 and 1 in column 0, nothing else) cannot train.
UNTRAINABLE_OBJECTIVES = {
    "aft_loss_distribution": "it is not an objective (the container lists a parameter's name); "
    "for survival models use survival:cox",
    "survival:aft": "it needs label bounds (label_lower_bound/label_upper_bound), which CSV training data cannot give",
}
# What the generator's labels (0 and 1) cannot train; a user's data is checked against its
# objective when it is prepared (data_preparation.check_labels: reg:gamma needs labels > 0).
UNTRAINABLE_ON_GENERATED = {
    "reg:gamma": "it needs labels above 0, and the generated dataset's labels are 0 and 1 (train it on "
    "your own data: run.py --data)",
}
LOGISTIC_OBJECTIVES = ("binary:logistic", "reg:logistic")
# Metrics xgboost 1.7.4 (or the container's own, on margins of one column per class) computes for
# multi:softmax and multi:softprob; the others fail on the first round.
MULTICLASS_METRICS = (
    "merror",
    "mlogloss",
    "accuracy",
    "balanced_accuracy",
    "f1",
    "f1_macro",
    "precision_macro",
    "precision_micro",
    "recall_macro",
    "recall_micro",
)
UNUSABLE_METRICS = {
    "tweedie-nloglik": "xgboost needs it as tweedie-nloglik@rho, and the container refuses that spelling",
    "interval-regression-accuracy": "it needs label bounds, which CSV training data cannot give",
}  # aft-nloglik too, but the container allows it with survival:aft only, refused above
# aucpr fails (nan) on data of one label. 15.5 % of this dataset's rows are labelled 1: 200 rows
# hold none with probability 0.845^200 = 2e-15.
MIN_ROWS_FOR_BOTH_LABELS = MIN_ROWS_FOR_AUCPR = 200
GPU_FAMILIES = ("p", "g")  # ml.p3, ml.p4d, ml.g4dn, ml.g5, ...
_INT_TEXT = re.compile(r"-?[0-9]+")
_FLOAT_TEXT = re.compile(r"-?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?")


def instance_vcpus(instance_type: str) -> int | None:
    """vCPUs of a SageMaker instance type from its size (large 2, xlarge 4, Nxlarge 4N)."""
    size = instance_type.rsplit(".", 1)[-1]
    if size in ("medium", "large"):
        return 2
    match = re.fullmatch(r"([0-9]*)xlarge", size)
    return 4 * int(match.group(1) or 1) if match else None


def is_gpu_instance(instance_type: str) -> bool:
    parts = instance_type.split(".")
    return len(parts) == 3 and parts[1].startswith(GPU_FAMILIES)


def _float32(value: float) -> float | None:
    """The float32 XGBoost reads `value` as, or None where its parser fails (out of range)."""
    if value != 0 and not FLOAT32_MIN <= abs(value) <= FLOAT32_MAX:
        return None
    return struct.unpack("f", struct.pack("f", value))[0]


def tree_builder(parsed: dict[str, object], image: Image) -> str:
    """The tree method that builds the trees: the updater's (grow_colmaker is exact, grow_histmaker
    approx) when one is given, which overrides tree_method, else tree_method, auto the image's."""
    updaters = str(parsed.get("updater", "")).split(",")
    if "grow_colmaker" in updaters:
        return "exact"
    if "grow_histmaker" in updaters:
        return "approx"
    tree_method = str(parsed.get("tree_method", "auto"))
    return image.auto_tree_method if tree_method == "auto" else tree_method


def pipeline_refusal(
    given: dict[str, str],
    parsed: dict[str, object],
    *,
    image: Image,
    instance_type: str,
    instance_count: int,
    max_runtime_seconds: int,
    held_out_weights: bool,
    rows: int,
    generated: bool = True,
) -> str | None:
    """Why this pipeline cannot train `parsed` (what the container accepted) on `image`, or None."""
    gpu = is_gpu_instance(instance_type)
    builder = tree_builder(parsed, image)
    for name, value in parsed.items():
        kind = RULES[name].kind
        if kind == "int" and not _INT_TEXT.fullmatch(given[name]):
            return f"Hyperparameter {name}: {given[name]!r} must be written as plain digits, e.g. 6"
        if kind == "float":
            if not _FLOAT_TEXT.fullmatch(given[name]) or not math.isfinite(value):
                return f"Hyperparameter {name}: {given[name]!r} must be a finite number written plainly, e.g. 0.3"
            if _float32(value) is None:
                return (
                    f"Hyperparameter {name}: {given[name]} is outside XGBoost's 32-bit float range "
                    f"(0, or {FLOAT32_MIN:g} to {FLOAT32_MAX:g} in magnitude)"
                )
            # The container checks the double; xgboost keeps the float32, which can round onto an
            # open bound (tweedie_variance_power 1.9999999 is 2.0, then fails in training).
            if _float32(value) not in RULES[name].range:
                return (
                    f"Hyperparameter {name}: {given[name]} becomes {_float32(value)!r} as XGBoost's 32-bit "
                    f"float, which is not in {RULES[name].range}: give a value further inside"
                )
        if kind == "int" and name != "num_round" and not INT32[0] <= value <= INT32[1]:
            return f"Hyperparameter {name}: {value} is not in [{INT32[0]}, {INT32[1]}] (XGBoost's 32-bit integers)"
    objective = parsed.get("objective", "reg:squarederror")
    # reg:tweedie's default metric is named tweedie-nloglik@<power> with the power printed at C++'s
    # default 6 significant digits: 1.999999 (1.99999905 as a float32) is tweedie-nloglik@2, and
    # 1.7.4 fails it on the first round ("tweedie variance power must be in interval [1, 2)").
    if objective == "reg:tweedie" and "tweedie_variance_power" in parsed:
        printed = f"{_float32(parsed['tweedie_variance_power']):g}"
        if float(printed) >= 2:
            return (
                f"Hyperparameter tweedie_variance_power: {given['tweedie_variance_power']} is printed as {printed} "
                f"in xgboost's default reg:tweedie metric (tweedie-nloglik@{printed}, 6 significant digits), "
                "which must be below 2: give at most 1.99999"
            )
    if objective in UNTRAINABLE_OBJECTIVES:
        return f"Hyperparameter objective: {objective} is not allowed: {UNTRAINABLE_OBJECTIVES[objective]}"
    if generated and objective in UNTRAINABLE_ON_GENERATED:
        return f"Hyperparameter objective: {objective} is not allowed: {UNTRAINABLE_ON_GENERATED[objective]}"
    multiclass = objective.startswith("multi:")
    for name, reason in (
        (
            "interaction_constraints",
            "the container hands xgboost a list, which it reads as feature names, and CSV training data has none",
        ),
        ("_kfold", "cross-validation is not a step of this pipeline"),
        ("_num_cv_round", "cross-validation is not a step of this pipeline"),
        ("_tuning_objective_metric", "it is set by SageMaker's tuning jobs, and this pipeline runs none"),
        ("process_type", "this pipeline trains new trees; 'update' needs a model to update"),
    ):
        if name in parsed and not (name == "process_type" and parsed[name] == "default"):
            return f"Hyperparameter {name} is not allowed: {reason}"
    if parsed.get("tree_method") == "gpu_hist" and not image.has_gpu_hist:
        return (
            f"Hyperparameter tree_method: gpu_hist is not in xgboost {image.library} (image {image.version}), "
            "which fails it ('Invalid Input'): use hist"
        )
    if not gpu:
        for name, value in (
            ("tree_method", "gpu_hist"),
            ("predictor", "gpu_predictor" if image.reads_predictor else None),
            ("use_dask_gpu_training", "true"),
        ):
            if value is not None and parsed.get(name) == value:
                return (
                    f"Hyperparameter {name}: {value} needs a GPU instance and trainingInstanceType is {instance_type}"
                )
    if (
        parsed.get("sampling_method") == "gradient_based"
        and builder != "gpu_hist"
        and (builder not in image.cpu_gradient_sampling or parsed.get("booster") == "gblinear")
    ):
        methods = " or ".join(("gpu_hist",) * image.has_gpu_hist + image.cpu_gradient_sampling)
        return (
            f"Hyperparameter sampling_method: gradient_based needs tree_method {methods} (xgboost "
            f"{image.library}'s other tree methods sample uniformly only)"
        )
    if parsed.get("use_dask_gpu_training") == "true" and (
        parsed.get("tree_method") != "gpu_hist" or instance_count != 1
    ):
        return (
            "Hyperparameter use_dask_gpu_training: true needs tree_method gpu_hist and, with this "
            "pipeline's sharded training data, one training instance"
        )
    if "updater" in parsed:
        updaters = parsed["updater"].split(",")
        if parsed.get("booster") != "gblinear":
            if updaters[0] not in ("grow_colmaker", "grow_histmaker") or any(
                item not in ("grow_colmaker", "grow_histmaker", "prune") for item in updaters
            ):
                return (
                    f"Hyperparameter updater: {parsed['updater']} is not allowed: start with grow_colmaker "
                    f"or grow_histmaker, optionally followed by prune (xgboost {image.library} has no "
                    "grow_skmaker or distcol; sync and refresh do not grow trees)"
                )
    tree_method = parsed.get("tree_method", "auto")
    # exact is grow_colmaker, which refuses distributed training on every image (updater_colmaker.cc)
    # while auto builds with approx (1.7.4) or hist (3.x) there.
    if instance_count > 1 and (tree_method == "exact" or "grow_colmaker" in str(parsed.get("updater", ""))):
        name, value = ("updater", "grow_colmaker") if tree_method != "exact" else ("tree_method", "exact")
        return (
            f"Hyperparameter {name}: {value} cannot train on {instance_count} instances "
            "(distributed training): use approx or hist, or trainingInstanceCount 1"
        )
    if parsed.get("max_depth") == 0 and parsed.get("booster") != "gblinear" and builder not in ("approx", "hist"):
        how = (
            "updater grow_colmaker"
            if "grow_colmaker" in str(parsed.get("updater", ""))
            else f"tree_method {tree_method}"
        )
        return (
            f"Hyperparameter max_depth: 0 (no limit) needs tree_method approx or hist; {how} builds with "
            f"{builder} on xgboost {image.library}"
        )
    if parsed.get("max_bin") is not None and not 2 <= parsed["max_bin"] <= MAX_BIN:
        return f"Hyperparameter max_bin: {parsed['max_bin']} is not in [2, {MAX_BIN}]"
    if parsed.get("verbosity", 1) > MAX_VERBOSITY:
        return (
            f"Hyperparameter verbosity: {parsed['verbosity']} is not in [0, {MAX_VERBOSITY}]: above 1 "
            "xgboost logs a line per tree and more, all of it billed by CloudWatch Logs"
        )
    if "monotone_constraints" in parsed:
        constraints = parsed["monotone_constraints"]
        most = FEATURES if generated else MAX_FEATURES
        if (
            not isinstance(constraints, tuple)
            or len(constraints) > most
            or any(type(item) is not int for item in constraints)
        ):
            return (
                f"Hyperparameter monotone_constraints: {given['monotone_constraints']!r} must be a tuple "
                f"of at most {most} integers -1, 0 or 1 (one per feature"
                f"{': x, y' if generated else ''}), e.g. (1,-1)"
            )
    if "num_class" in parsed:
        if not multiclass:
            return f"Hyperparameter num_class: set only with objective multi:softmax or multi:softprob, not {objective}"
        if parsed["num_class"] > MAX_NUM_CLASS:
            return (
                f"Hyperparameter num_class: {parsed['num_class']} is not in [2, {MAX_NUM_CLASS}] "
                "(each class is one more tree a round)"
            )
    if (
        "base_score" in parsed
        and objective in LOGISTIC_OBJECTIVES
        and _float32(parsed["base_score"]) not in image.logistic_base_score
    ):
        return (
            f"Hyperparameter base_score: {given['base_score']} is not in {image.logistic_base_score}, as "
            f"{objective} needs on xgboost {image.library}"
        )
    # Estimated from training labels all 0 (or all 1), base_score is 0 (or 1), which the check above
    # then fails in training (the estimate is global in distributed training).
    if (
        generated
        and "base_score" not in parsed
        and objective in LOGISTIC_OBJECTIVES
        and image.estimates_base_score
        and (0 not in image.logistic_base_score or 1 not in image.logistic_base_score)
        and rows < MIN_ROWS_FOR_BOTH_LABELS
    ):
        return (
            f"Hyperparameter objective: {objective} on image {image.version} needs both labels among the training "
            f"rows (xgboost {image.library} estimates base_score from them, and fails 0 or 1): ask for at least "
            f"{MIN_ROWS_FOR_BOTH_LABELS} rows, not {rows}, or set base_score (e.g. 0.5)"
        )
    metrics = parsed.get("eval_metric", [])
    if len(metrics) > MAX_EVAL_METRICS or len(set(metrics)) < len(metrics):
        return (
            f"Hyperparameter eval_metric: {len(metrics)} entries; give at most {MAX_EVAL_METRICS}, "
            "each once (the container logs every one of them every round)"
        )
    for metric in metrics:
        name, at, parameter = metric.partition("@")
        if not metric.isascii() or any(character.isspace() for character in metric):
            return f"Metric {metric!r} is not allowed: write it without spaces, in ASCII (e.g. error@0.7)"
        if at and not (name in _METRIC_PARAMETER and _METRIC_PARAMETER[name].fullmatch(parameter)):
            return (
                f"Metric '{metric}' is not allowed: xgboost reads only error@<threshold> "
                "(e.g. error@0.7) and ndcg@, map@, pre@<positions> (e.g. ndcg@5 or ndcg@5-)"
            )
        if name in UNUSABLE_METRICS:
            return f"Metric '{metric}' is not allowed: {UNUSABLE_METRICS[name]}"
        if multiclass and name not in MULTICLASS_METRICS:
            return (
                f"Metric '{metric}' cannot be applied with objective {objective}: use {', '.join(MULTICLASS_METRICS)}"
            )
        if name in ("mlogloss", "merror") and not multiclass:
            return f"Metric '{metric}' can only be applied with objective multi:softmax or multi:softprob"
        if generated and name == "aucpr" and rows // instance_count < MIN_ROWS_FOR_AUCPR:
            return (
                f"Metric 'aucpr' needs both labels on every training instance: ask for at least "
                f"{MIN_ROWS_FOR_AUCPR * instance_count} rows ({MIN_ROWS_FOR_AUCPR} an instance), not {rows}"
            )
    if metrics and "early_stopping_rounds" in parsed:
        last, _, threshold = metrics[-1].partition("@")
        # The container stops on the last metric by the name it was given; xgboost names it by its
        # own spelling of the threshold (a float printed as C++ prints it): error@0.70 is error@0.7.
        if last == "error" and threshold and metrics[-1] != f"error@{_float32(float(threshold)):g}":
            return (
                f"Metric '{metrics[-1]}': with early_stopping_rounds, spell the last metric as xgboost "
                f"names it, error@{_float32(float(threshold)):g}"
            )
    if parsed.get("csv_weights") == 1 and not held_out_weights:
        return (
            "Hyperparameter csv_weights: 1 reads column 1 (x) as weights, and the held-out set has no "
            "weight column, so batch transform would fail: leave csv_weights 0"
        )
    vcpus = instance_vcpus(instance_type) or 192  # 192: the most vCPUs of any SageMaker instance
    if parsed.get("nthread", 1) > vcpus:
        return f"Hyperparameter nthread: {parsed['nthread']} is not in [1, {vcpus}] (the vCPUs of {instance_type})"
    shard_rows = max(1, rows // instance_count)
    seconds_per_tree = max(MIN_SECONDS_PER_TREE, shard_rows * MIN_CPU_SECONDS_PER_TREE_ROW / vcpus)
    max_trees = int(max_runtime_seconds / seconds_per_tree)
    if parsed.get("booster") == "dart":
        max_dart_rounds = int((max_runtime_seconds / MIN_SECONDS_PER_DART_ROUND_SQUARED) ** 0.5)
        if parsed["num_round"] > max_dart_rounds:
            return (
                f"Hyperparameter num_round: {_short(given['num_round'])} rounds of booster dart cannot "
                f"finish within maxRuntimeSeconds {max_runtime_seconds}: at most {max_dart_rounds:,} (each "
                "dart round revisits the trees before it)"
            )
    trees_per_round = parsed.get("num_parallel_tree", 1) * (parsed["num_class"] if multiclass else 1)
    if parsed["num_round"] * trees_per_round > max_trees:
        return (
            f"Hyperparameter num_round: {_short(given['num_round'])} rounds of {trees_per_round} tree(s) "
            f"cannot finish within maxRuntimeSeconds {max_runtime_seconds}: at most {max_trees:,} trees "
            f"(a tree takes at least {_duration(seconds_per_tree)} on {shard_rows:,} row(s) an instance)"
        )
    # A metric the container computes itself can leave xgboost printing its default one too: one more.
    line_bytes = LOG_LINE_BYTES + LOGGED_CHANNELS * (len(metrics) + 1) * LOG_ENTRY_BYTES
    max_logged_rounds = MAX_TRAINING_LOG_BYTES // line_bytes
    if parsed["num_round"] > max_logged_rounds:
        return (
            f"Hyperparameter num_round: {_short(given['num_round'])} rounds could print more than the "
            f"{MAX_TRAINING_LOG_BYTES >> 20} MiB of evaluation lines a job may send CloudWatch Logs (billed by the byte): "
            f"at most {max_logged_rounds:,} rounds with {len(metrics)} eval_metric entr"
            f"{'y' if len(metrics) == 1 else 'ies'}"
        )
    return None


def _duration(seconds: float) -> str:
    return f"{seconds * 1e6:.0f} microseconds" if seconds < 0.01 else f"{seconds:.3g} s"


def _short(text: str, limit: int = 20) -> str:
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} digits)"


def validate(
    hyperparameters: dict[str, str],
    *,
    image_version: str,
    instance_type: str = DEFAULT_INSTANCE_TYPE,
    instance_count: int = 1,
    max_runtime_seconds: int = DEFAULT_MAX_RUNTIME_SECONDS,
    held_out_weights: bool = False,
    rows: int = 1,
    generated: bool = True,
) -> None:
    """Raise HyperparameterError unless this pipeline's training job can train `hyperparameters`
    on image `image_version` (a key of IMAGES): first the container's checks (its message), then
    ours (naming the field and the limit, and the image's library where it is the reason).
    The keywords are the stack's: xgboostVersion, trainingInstanceType and Count, maxRuntimeSeconds, whether the
    held-out set carries a weight column (it does not), and the training rows (1: the fewest).
    `generated`: the rows are the generator's (labels 0 and 1); a user's data (False) is checked
    against its objective when it is prepared, and its row count is not known here."""
    try:
        image = image_for(image_version)
    except UnknownImage as error:
        raise HyperparameterError(str(error)) from None
    try:
        parsed = validate_as_container(hyperparameters)
    except HyperparameterError as error:
        raise HyperparameterError(f"{error}{_guess(hyperparameters)}") from None
    given = {canonical_name(name): value for name, value in hyperparameters.items()}
    refusal = pipeline_refusal(
        given,
        parsed,
        image=image,
        instance_type=instance_type,
        instance_count=instance_count,
        max_runtime_seconds=max_runtime_seconds,
        held_out_weights=held_out_weights,
        rows=rows,
        generated=generated,
    )
    if refusal is not None:
        raise HyperparameterError(refusal)


def metric_fits(metric: str, objective: str) -> bool:
    """Whether the rules accept eval_metric `metric` (as given: comma-separated) with `objective`."""
    trial = {"objective": objective, "eval_metric": metric, "num_round": "1"}
    if objective.startswith("multi:"):
        trial["num_class"] = "3"
    try:
        validate(trial, image_version=next(iter(IMAGES)), generated=False)  # these rules are every image's
    except HyperparameterError:
        return False
    return True


def _guess(hyperparameters: dict[str, str]) -> str:
    """' (did you mean 'max_depth'?)' when the container's refusal is of a mistyped name."""
    unknown = [name for name in hyperparameters if canonical_name(name) not in RULES]
    return did_you_mean(unknown[0], [*RULES, *ALIASES]) if unknown else ""


def _dependency_order(names) -> list[str]:
    order: list[str] = []

    def visit(name: str) -> None:
        if name in order:
            return
        for dependency in RULES[name].depends_on:
            if dependency in names:
                visit(dependency)
        order.append(name)

    for name in names:
        visit(name)
    return order
