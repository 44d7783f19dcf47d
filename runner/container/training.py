"""One host's training job, as the container's `algorithm_mode/train.py` runs it.

The hyperparameters go to `xgb.train` with the container's callbacks (the evaluation line every
round, 5 decimals; the checkpoint; `EarlyStopping(save_best=...)` on the last eval_metric when
there is a validation channel: `callback.py`) and its own metrics; the master saves
`xgboost-model` with `booster.save_model`, in the format the image's library writes without an
extension. The library's defaults are the image's (images.py says where they differ).
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import xgboost as xgb

from lambda_src import xgboost_hyperparameters
from runner.container import checkpoints, data, distributed, metrics
from runner.container.failures import algorithm_error, client_error

MODEL_FILE = "xgboost-model"
LOG_FILE, ROWS_FILE = "evaluation.json", "rows.json"  # what a host reports beside output/failure
# Hyperparameters the container consumes itself instead of passing them to xgboost.train.
_CONTAINER_ONLY = (
    "num_round",
    "early_stopping_rounds",
    "csv_weights",
    "save_model_on_termination",
    "_kfold",
    "_num_cv_round",
    "_tuning_objective_metric",
    "use_dask_gpu_training",
)
# xgb_constants.CUSTOMER_ERRORS: xgboost messages the container reports as the user's fault.
CUSTOMER_ERRORS = (
    "label must be in [0,1] for logistic regression",
    "label must be in [0, num_class)",
    "Target is multiclass but average='binary'",
    "feature_names mismatch",
    "Check failed: preds.size() == info.labels_.size()",
    "Check failed: !auc_error AUC: the dataset only contains pos or neg samples",
    "Check failed: base_score > 0.0f && base_score < 1.0f base_score must be in (0,1) for logistic loss",
    "Check failed: label_correct PoissonRegression: label must be nonnegative",
    "Check failed: label_correct TweedieRegression: label must be nonnegative",
    "Parameter reg_lambda should be greater equal to 0",
)


def training_params(hyperparameters: dict[str, str]) -> tuple[dict[str, object], int, list[str]]:
    """xgboost.train params as the container passes them (parsed by its validation), the number of
    rounds, and eval_metric as the user listed it (the last one drives early stopping)."""
    config = xgboost_hyperparameters.validate_as_container(hyperparameters)
    params = {key: value for key, value in config.items() if key not in _CONTAINER_ONLY}
    eval_metric = config.get("eval_metric", [])
    native = [metric for metric in eval_metric if metric not in metrics.CUSTOM_METRICS]
    params.pop("eval_metric", None)
    if native:  # the container computes the others itself
        params["eval_metric"] = native
    return params, config["num_round"], eval_metric


class EvaluationLog(xgb.callback.TrainingCallback):
    """xgb.callback.EvaluationMonitor's line for every round (what SageMaker's metric regexes read),
    printed to stdout by rank 0 and kept for output/evaluation.json."""

    def __init__(self):
        super().__init__()
        self.lines: list[str] = []

    def after_iteration(self, model, epoch, evals_log) -> bool:
        if evals_log and xgb.collective.get_rank() == 0:
            line = f"[{epoch}]"
            for name, scores_by_metric in evals_log.items():
                for metric, scores in scores_by_metric.items():
                    score = scores[-1][0] if isinstance(scores[-1], tuple) else scores[-1]
                    line += f"\t{name + '-' + metric}:{score:.5f}"
            self.lines.append(line)
            print(line, flush=True)
        return False


def train_job(
    image, hyperparameters: dict[str, str], train, validation, *, is_master: bool, checkpoint_dir: Path | None
):
    """algorithm_mode/train.py train_job: xgb.train with the container's callbacks and metrics.
    Returns the booster and the evaluation lines."""
    params, num_round, eval_metric = training_params(hyperparameters)
    xgb_model, iteration = checkpoints.load_checkpoint(checkpoint_dir)
    log = EvaluationLog()
    callbacks: list[xgb.callback.TrainingCallback] = [log]
    on_this_host = is_master or not image.master_only_callbacks
    if checkpoint_dir and on_this_host:
        callbacks.append(checkpoints.checkpoint_callback(image, checkpoint_dir, iteration))
    early_stopping_rounds = hyperparameters.get("early_stopping_rounds")
    if early_stopping_rounds and validation is not None and eval_metric:
        callbacks.append(
            xgb.callback.EarlyStopping(
                rounds=int(early_stopping_rounds),
                data_name="validation",
                metric_name=eval_metric[-1],
                maximize=eval_metric[-1] in xgboost_hyperparameters.MAXIMIZE_METRICS,
                save_best=on_this_host,
            )
        )
    custom = [metric for metric in eval_metric if metric in metrics.CUSTOM_METRICS]
    watchlist = [(train, "train")] + ([(validation, "validation")] if validation is not None else [])
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="`feval` is deprecated", category=UserWarning)
            booster = xgb.train(
                params,
                train,
                num_boost_round=num_round - iteration,
                evals=watchlist,
                callbacks=callbacks,
                xgb_model=xgb_model,
                verbose_eval=False,
                **({image.metric_keyword: metrics.feval(custom)} if custom else {}),
            )
    except Exception as error:
        message = str(error)
        if any(text in message for text in CUSTOMER_ERRORS):
            raise client_error(message) from None
        raise algorithm_error(f"XGB train call failed with exception:\n {message}") from None
    return booster, log.lines


def run_host(image, ml: Path) -> None:
    """One host's job, as `sagemaker_train` runs it on SM_CURRENT_HOST: /opt/ml in, /opt/ml out.

    Several hosts: each loads its data before the first collective round (as the container does:
    xgboost reads a file in distributed mode only in part), the hosts without data leave (exit 0),
    the others train together; the round's master alone writes model/xgboost-model.
    """
    config_dir = ml / "input" / "config"
    resources = json.loads((config_dir / "resourceconfig.json").read_text())
    hyperparameters = json.loads((config_dir / "hyperparameters.json").read_text())
    data_config = json.loads((config_dir / "inputdataconfig.json").read_text())
    checkpoint_config = (
        json.loads((config_dir / "checkpointconfig.json").read_text())
        if (config_dir / "checkpointconfig.json").exists()
        else {}
    )
    hosts, current = sorted(resources["hosts"]), resources["current_host"]
    scratch = ml / "scratch"
    scratch.mkdir(exist_ok=True)
    train, validation = data.read_channels(ml, data_config, hyperparameters, image, scratch)
    include = train is not None and (validation is not None or "validation" not in data_config)
    with_data = [current] if include else []
    if len(hosts) > 1:
        with distributed.Round(image, ml, "hosts", hosts, current) as first_round:
            records = first_round.synchronize({"host": current, "include_in_training": include})
        with_data = sorted(record["host"] for record in records if record["include_in_training"])
    if not include:
        if len(hosts) == 1:
            channel = "train" if train is None else "validation"
            raise client_error(f"No data in {channel} channel path {ml / 'input' / 'data' / channel}")
        print(f"Host {current} not being used for distributed training.", flush=True)
        return
    checkpoint_dir = Path(checkpoint_config["LocalPath"]) if checkpoint_config.get("LocalPath") else None
    if len(with_data) > 1:
        with distributed.Round(image, ml, "training", with_data, current) as cluster:
            booster, log = train_job(
                image, hyperparameters, train, validation, is_master=cluster.is_master, checkpoint_dir=checkpoint_dir
            )
            is_master = cluster.is_master
    else:
        booster, log = train_job(
            image, hyperparameters, train, validation, is_master=True, checkpoint_dir=checkpoint_dir
        )
        is_master = True
    rows = {"train": train.num_row(), **({"validation": validation.num_row()} if validation is not None else {})}
    (ml / "output" / ROWS_FILE).write_text(json.dumps(rows))
    if is_master:
        (ml / "output" / LOG_FILE).write_text(json.dumps(log))
        booster.save_model(os.fspath(ml / "model" / MODEL_FILE))  # train.py: bst.save_model(model_location)
