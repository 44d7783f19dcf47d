"""The hyperparameter rules of the SageMaker built-in XGBoost 1.7-1 container (standard library only).

A transcription of aws/sagemaker-xgboost-container, branch 1.7-1:
`src/sagemaker_xgboost_container/algorithm_mode/hyperparameter_validation.py` (names, ranges,
aliases, dependencies between parameters) and `src/sagemaker_algorithm_toolkit/
hyperparameter_validation.py` (the order of the checks and their messages). What the container
refuses, `validate` refuses with the container's message; what it accepts, `validate` accepts,
with two exceptions, both refusals of what would run code chosen by whoever starts an execution:

- any `sagemaker_*` name: `sagemaker_program` switches the container to script mode (training.py
  runs the user's module with the SageMaker role); the container would call the others extraneous;
- `monotone_constraints` that is not a literal tuple or list: the container passes it to eval().

It is one rule set for the whole project: the stack config check, run.py, the state machine's
validation step (this file ships in the Lambda package) and the rehearsal's local container.
"""

from __future__ import annotations

import ast

# CreateTrainingJob's own limits on the HyperParameters map (SageMaker API reference).
MAX_HYPERPARAMETERS, MAX_NAME_LENGTH, MAX_VALUE_LENGTH = 100, 256, 2500
SCRIPT_MODE_NAMES = ("sagemaker_program", "sagemaker_submit_directory")

# xgb_constants.XGB_MAXIMIZE_METRICS + XGB_MINIMIZE_METRICS
METRICS = (
    "accuracy", "auc", "aucpr", "balanced_accuracy", "f1", "f1_binary", "f1_macro", "map", "ndcg",
    "precision", "r2", "recall", "precision_macro", "precision_micro", "recall_macro",
    "recall_micro",
    "aft-nloglik", "cox-nloglik", "error", "gamma-deviance", "gamma-nloglik",
    "interval-regression-accuracy", "logloss", "mae", "mape", "merror", "mlogloss", "mphe", "mse",
    "poisson-nloglik", "rmse", "rmsle", "tweedie-nloglik",
)
# The container's list, "aft_loss_distribution" (a container bug) included.
OBJECTIVES = (
    "aft_loss_distribution", "binary:logistic", "binary:logitraw", "binary:hinge", "count:poisson",
    "multi:softmax", "multi:softprob", "rank:pairwise", "rank:ndcg", "rank:map", "reg:linear",
    "reg:squarederror", "reg:logistic", "reg:gamma", "reg:pseudohubererror", "reg:squaredlogerror",
    "reg:absoluteerror", "reg:tweedie", "survival:aft", "survival:cox",
)
# The container's list as it is, duplicates included (its messages quote it).
UPDATERS = ("grow_colmaker", "distcol", "grow_histmaker", "grow_skmaker", "sync", "refresh", "prune",
            "grow_colmaker", "distcol", "grow_histmaker", "grow_colmaker", "shotgun",
            "coord_descent", "refresh", "prune")
ALIASES = {"learning_rate": "eta", "min_split_loss": "gamma", "reg_lambda": "lambda",
           "reg_alpha": "alpha"}


class HyperparameterError(ValueError):
    """A hyperparameter set the container (or SageMaker's API) refuses; the message is its reason."""


class Interval:
    """sagemaker_algorithm_toolkit's Interval: membership and the way it prints."""

    def __init__(self, min_open=None, min_closed=None, max_open=None, max_closed=None):
        self.min_open, self.min_closed = min_open, min_closed
        self.max_open, self.max_closed = max_open, max_closed

    def __contains__(self, value) -> bool:  # NaN compares False everywhere: inside, as there
        return not ((self.min_open is not None and value <= self.min_open)
                    or (self.min_closed is not None and value < self.min_closed)
                    or (self.max_open is not None and value >= self.max_open)
                    or (self.max_closed is not None and value > self.max_closed))

    def __str__(self) -> str:
        low = (f"({self.min_open}, " if self.min_open is not None
               else f"[{self.min_closed}, " if self.min_closed is not None else "(-inf, ")
        high = (f"{self.max_open})" if self.max_open is not None
                else f"{self.max_closed}]" if self.max_closed is not None else "+inf)")
        return low + high


def _metric_in_range(metric: str) -> bool:
    """eval_metric_range_validator: a known metric, or error/ndcg/map with a float threshold."""
    if "<function" in metric:
        raise HyperparameterError(f"User defined evaluation metric {metric} is not supported yet.")
    if "@" in metric:
        name, threshold = metric.split("@")[0].strip(), metric.split("@")[1].strip()
        if name not in ("error", "ndcg", "map"):
            raise HyperparameterError(
                f"Metric '{metric}' is not supported. Parameter 'eval_metric' with customized threshold "
                "should be one of these options: 'error', 'ndcg', 'map'.")
        try:
            float(threshold)
        except ValueError:
            raise HyperparameterError(f"Threshold value 't' in '{name}@t' expects float input.") from None
        return True
    return metric in METRICS


class _Rule:
    """One hyperparameter: how the container parses it, its range and what it depends on."""

    def __init__(self, kind: str, range_=None, depends_on: tuple[str, ...] = (), check=None,
                 required: bool = False):
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
                        "(the container evaluates this value as Python code)") from None
                raise ValueError(value) from None
        return value  # categorical

    def validate_range(self, name: str, value) -> None:
        if self.kind == "list":
            if any(not (_metric_in_range(item) if self.range is _metric_in_range
                        else item in self.range) for item in value):
                raise HyperparameterError(
                    f"Hyperparameter {name}: value {value} not in range {self._range_text()}")
            return
        if self.kind in ("nested", "tuple"):
            try:
                outside = any(element not in self.range
                              for element in (item for outer in value for item in outer)
                              ) if self.kind == "nested" else any(element not in self.range for element in value)
            except TypeError:
                raise HyperparameterError(
                    f"Hyperparameter {name}: unexpected failure when validating {value}") from None
            if outside:
                raise HyperparameterError(
                    f"Hyperparameter {name}: value {value} not in range {self._range_text()}")
            return
        if value not in self.range:
            raise HyperparameterError(f"Hyperparameter {name}: {value} is not in {self._range_text()}")

    def _range_text(self) -> str:
        if self.range is _metric_in_range:
            return str(list(METRICS))
        return str(list(self.range)) if isinstance(self.range, tuple) else str(self.range)


def _updater(value: list[str], dependencies: dict) -> None:
    tree = ("grow_colmaker", "distcol", "grow_histmaker", "grow_skmaker", "sync", "refresh", "prune",
            "grow_quantile_histmaker")
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
                "'prune', 'shortgun', 'coord_descent'.")
        if sum(item in tree_build for item in value) > 1:
            raise HyperparameterError(
                "Only one tree grow plugin can be selected. Choose one from thefollowing: "
                "'grow_colmaker', 'distcol', 'grow_histmaker', 'grow_skmaker'")


def _objective(value: str, dependencies: dict) -> None:
    if value in ("multi:softmax", "multi:softprob") and dependencies.get("num_class") is None:
        raise HyperparameterError("Require input for parameter 'num_class' for multi-classification")


def _eval_metric(value: list[str], dependencies: dict) -> None:
    if "objective" not in dependencies:
        # The container reads dependencies["objective"] here and fails with a KeyError.
        raise HyperparameterError("Hyperparameter eval_metric: set objective too (the container "
                                  "cannot check eval_metric without it)")
    objective = dependencies["objective"]
    if "auc" in value and not objective.startswith(("binary:", "rank:")):
        raise HyperparameterError("Metric 'auc' can only be applied for classification and ranking problems.")
    if "aft-nloglik" in value and objective != "survival:aft":
        raise HyperparameterError("Metric 'aft-nloglik' can only be applied for 'survival:aft' objective.")


def _monotone_constraints(value, dependencies: dict) -> None:
    if value is not None and dependencies.get("tree_method") not in ("exact", "hist"):
        raise HyperparameterError("monotone_constraints can be used only when the tree_method parameter "
                                  "is set to either 'exact' or 'hist'.")


def _interaction_constraints(value, dependencies: dict) -> None:
    if value is not None and dependencies.get("tree_method") not in ("exact", "hist", "approx"):
        raise HyperparameterError("interaction_constraints can be used only when the tree_method "
                                  "parameter is set to either 'exact', 'hist' or 'approx'.")


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
    "monotone_constraints": _Rule("tuple", (-1, 0, 1), depends_on=("tree_method",),
                                  check=_monotone_constraints),
    "interaction_constraints": _Rule("nested", Interval(min_closed=1), depends_on=("tree_method",),
                                     check=_interaction_constraints),
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
    "seed": _Rule("int", Interval(min_open=-(2 ** 31), max_open=2 ** 31 - 1)),
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
        raise HyperparameterError(f"{len(hyperparameters)} hyperparameters: SageMaker takes at most "
                                  f"{MAX_HYPERPARAMETERS}")
    for name, value in hyperparameters.items():
        if not isinstance(name, str) or not isinstance(value, str):
            raise HyperparameterError(f"Hyperparameter {name}: value {value!r} must be a string, "
                                      "as SageMaker passes them")
        if len(name) > MAX_NAME_LENGTH or len(value) > MAX_VALUE_LENGTH:
            raise HyperparameterError(f"Hyperparameter {name[:40]}: names are at most {MAX_NAME_LENGTH} "
                                      f"and values at most {MAX_VALUE_LENGTH} characters")
        if name.startswith("sagemaker_"):
            reason = ("it switches the container to script mode, which runs user code with the "
                      "SageMaker role" if name in SCRIPT_MODE_NAMES
                      else "the container reserves sagemaker_* names")
            raise HyperparameterError(f"Hyperparameter {name} is not allowed: {reason}")


def canonical_name(name: str) -> str:
    """`eta` for `learning_rate`, and so on: the name the container validates a value under."""
    return ALIASES.get(name, name)


def validate(hyperparameters: dict[str, str]) -> None:
    """Raise HyperparameterError with the first problem, in the container's order of checks."""
    _check_api_limits(hyperparameters)
    given: dict[str, str] = {}
    for name, value in hyperparameters.items():
        if canonical_name(name) in given:
            # The container would keep one of them, depending on the order it reads them in.
            twins = sorted(other for other in hyperparameters if canonical_name(other) == canonical_name(name))
            raise HyperparameterError(f"Hyperparameter {canonical_name(name)} is given twice "
                                      f"({', '.join(twins)}): give one of them")
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
