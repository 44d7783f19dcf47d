"""What the SageMaker built-in XGBoost container accepts, checked before anything runs.

The rules follow the container's own hyperparameter validation
(aws/sagemaker-xgboost-container, algorithm_mode/hyperparameter_validation.py): values
arrive as strings, `num_round` is required, unknown names are refused and categorical
values must come from fixed lists. The offline rehearsal's local SageMaker fails a
training job with these same messages, and the stack's config is checked with them too.
"""

from __future__ import annotations

OBJECTIVES = (
    "binary:logistic", "binary:logitraw", "binary:hinge", "count:poisson",
    "multi:softmax", "multi:softprob", "rank:pairwise", "rank:ndcg", "rank:map",
    "reg:linear", "reg:squarederror", "reg:logistic", "reg:gamma",
    "reg:pseudohubererror", "reg:squaredlogerror", "reg:tweedie",
    "reg:absoluteerror", "reg:quantileerror", "survival:aft", "survival:cox",
)
EVAL_METRICS = (
    "rmse", "rmsle", "mae", "mape", "mphe", "logloss", "error", "merror", "mlogloss",
    "auc", "aucpr", "ndcg", "map", "poisson-nloglik", "gamma-nloglik", "cox-nloglik",
    "gamma-deviance", "tweedie-nloglik", "aft-nloglik", "interval-regression-accuracy",
    "accuracy", "f1", "mse", "r2", "balanced_accuracy", "precision", "recall",
)

# name -> (kind, minimum); kinds: int, float, or a tuple of allowed strings.
_INT, _FLOAT = "int", "float"
_RULES: dict[str, tuple[object, float | None]] = {
    "num_round": (_INT, 1), "csv_weights": (_INT, 0), "early_stopping_rounds": (_INT, 1),
    "booster": (("gbtree", "gblinear", "dart"), None), "verbosity": (_INT, 0),
    "nthread": (_INT, 1), "eta": (_FLOAT, 0), "learning_rate": (_FLOAT, 0),
    "gamma": (_FLOAT, 0), "min_split_loss": (_FLOAT, 0), "max_depth": (_INT, 0),
    "min_child_weight": (_FLOAT, 0), "max_delta_step": (_FLOAT, 0), "subsample": (_FLOAT, 0),
    "colsample_bytree": (_FLOAT, 0), "colsample_bylevel": (_FLOAT, 0),
    "colsample_bynode": (_FLOAT, 0), "lambda": (_FLOAT, 0), "reg_lambda": (_FLOAT, 0),
    "alpha": (_FLOAT, 0), "reg_alpha": (_FLOAT, 0),
    "tree_method": (("auto", "exact", "approx", "hist", "gpu_hist"), None),
    "sketch_eps": (_FLOAT, 0), "scale_pos_weight": (_FLOAT, 0), "updater": (None, None),
    "dsplit": (("row", "col"), None), "refresh_leaf": (_INT, 0),
    "process_type": (("default", "update"), None),
    "grow_policy": (("depthwise", "lossguide"), None), "max_leaves": (_INT, 0),
    "max_bin": (_INT, 0), "predictor": (("auto", "cpu_predictor", "gpu_predictor"), None),
    "monotone_constraints": (None, None), "interaction_constraints": (None, None),
    "sample_type": (("uniform", "weighted"), None), "normalize_type": (("tree", "forest"), None),
    "rate_drop": (_FLOAT, 0), "one_drop": (_INT, 0), "skip_drop": (_FLOAT, 0),
    "lambda_bias": (_FLOAT, 0), "tweedie_variance_power": (_FLOAT, 1),
    "objective": (OBJECTIVES, None), "num_class": (_INT, 2), "base_score": (_FLOAT, 0),
    "_kfold": (_INT, 2), "_num_cv_round": (_INT, 1), "_tuning_objective_metric": (None, None),
    "eval_metric": (None, None), "seed": (_INT, None), "num_parallel_tree": (_INT, 1),
    "save_model_on_termination": (("true", "false"), None),
    "aft_loss_distribution": (("normal", "logistic", "extreme"), None),
    "aft_loss_distribution_scale": (_FLOAT, 0),
    "single_precision_histogram": (("true", "false"), None),
    "deterministic_histogram": (("true", "false"), None),
    "sampling_method": (("uniform", "gradient_based"), None), "prob_buffer_row": (_FLOAT, 1),
    "use_dask_gpu_training": (("true", "false"), None),
}


class HyperparameterError(ValueError):
    """A hyperparameter set the container would refuse; the message is the container's kind of reason."""


def validate_hyperparameters(hyperparameters: dict[str, str]) -> None:
    """Raise HyperparameterError with the first problem the container would report."""
    for name, value in hyperparameters.items():
        if name not in _RULES:
            raise HyperparameterError(f"Extraneous hyperparameter found: {name}")
        if not isinstance(value, str):
            raise HyperparameterError(
                f"Hyperparameter {name}: value {value!r} must be a string, as SageMaker passes them")
        kind, minimum = _RULES[name]
        if isinstance(kind, tuple):
            if value not in kind:
                raise HyperparameterError(
                    f"Hyperparameter {name}: value {value} not in range [{', '.join(kind)}]")
        elif kind in (_INT, _FLOAT):
            try:
                number = int(value) if kind == _INT else float(value)
            except ValueError:
                raise HyperparameterError(
                    f"Hyperparameter {name}: could not convert {value!r} to {kind}") from None
            if minimum is not None and number < minimum:
                raise HyperparameterError(
                    f"Hyperparameter {name}: value {value} not in range [{minimum}, inf)")
    if "num_round" not in hyperparameters:
        raise HyperparameterError("Missing required hyperparameter: num_round")
    for metric in filter(None, hyperparameters.get("eval_metric", "").split(",")):
        if metric.split("@")[0].strip() not in EVAL_METRICS:
            raise HyperparameterError(
                f"Hyperparameter eval_metric: value {metric} not in range [{', '.join(EVAL_METRICS)}]")
    if hyperparameters.get("objective") in ("multi:softmax", "multi:softprob") \
            and "num_class" not in hyperparameters:
        raise HyperparameterError("Require input for parameter 'num_class' for multi-classification")
