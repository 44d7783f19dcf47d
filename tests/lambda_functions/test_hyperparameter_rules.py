"""Our hyperparameter refusals (lambda_src/xgboost_hyperparameters.py, issue 18 findings 2 and 4):
values the 1.7-1 container's own validation accepts but that fail in training on xgboost 1.7.4
after the dataset is written, or that run up a bill. Each case here was accepted before and is
shown failing in the local container (tests/container/test_hyperparameter_property.py checks the rest).
These are the rules of image 1.7-1 (IMAGE); where the 3.x images differ, tests/lambda_functions/test_image_rules.py."""

from __future__ import annotations

import json
import time

import boto3
import pytest
from dev_stack import PREFIX

from components.settings import PipelineSettings, SettingsError, load_stack_settings
from lambda_src import xgboost_hyperparameters as rules
from lambda_src.execution_input import InvalidExecutionInput, validate_execution

BASE = {"num_round": "5", "objective": "reg:logistic", "eval_metric": "rmse"}
IMAGE = "1.7-1"


def validate(hyperparameters: dict, **context) -> None:
    """The rules of IMAGE (these cases were found and shown failing on its library)."""
    return rules.validate(hyperparameters, **{"image_version": IMAGE, **context})


def refusal(overrides: dict, **context) -> str:
    hyperparameters = {**BASE, **overrides}
    rules.validate_as_container(hyperparameters)  # the container itself accepts every case
    with pytest.raises(rules.HyperparameterError) as error:
        validate(hyperparameters, **context)
    return str(error.value)


@pytest.mark.parametrize(
    "overrides, message",
    [
        # finding 2, as the issue lists them
        ({"tree_method": "exact", "monotone_constraints": "[1,-1]"}, "monotone_constraints: '[1,-1]' must be a tuple"),
        ({"tree_method": "exact", "monotone_constraints": "{1: 0}"}, "monotone_constraints: '{1: 0}' must be a tuple"),
        ({"tree_method": "exact", "monotone_constraints": "set()"}, "must be a tuple of at most 2 integers"),
        (
            {"tree_method": "exact", "monotone_constraints": "(True,)"},
            "must be a tuple of at most 2 integers -1, 0 or 1",
        ),
        ({"tree_method": "exact", "monotone_constraints": "(1,0,-1)"}, "one per feature: x, y"),
        (
            {"tree_method": "exact", "interaction_constraints": "[[1]]"},
            "Hyperparameter interaction_constraints is not allowed: the container hands xgboost a list",
        ),
        (
            {"tree_method": "gpu_hist"},
            "Hyperparameter tree_method: gpu_hist needs a GPU instance and trainingInstanceType is ml.m5.xlarge",
        ),
        ({"predictor": "gpu_predictor"}, "Hyperparameter predictor: gpu_predictor needs a GPU instance"),
        ({"use_dask_gpu_training": "true"}, "Hyperparameter use_dask_gpu_training: true needs a GPU instance"),
        ({"objective": "aft_loss_distribution"}, "Hyperparameter objective: aft_loss_distribution is not allowed"),
        ({"objective": "survival:aft", "eval_metric": "cox-nloglik"}, "needs label bounds"),
        ({"objective": "reg:gamma", "eval_metric": "gamma-nloglik"}, "the generated dataset's labels are 0 and 1"),
        ({"updater": "grow_skmaker"}, "Hyperparameter updater: grow_skmaker is not allowed: start with grow_colmaker"),
        ({"updater": "distcol"}, "Hyperparameter updater: distcol is not allowed"),
        ({"updater": "sync"}, "Hyperparameter updater: sync is not allowed"),
        ({"updater": "refresh"}, "Hyperparameter updater: refresh is not allowed"),
        ({"updater": "prune"}, "Hyperparameter updater: prune is not allowed"),
        ({"process_type": "update", "updater": "refresh"}, "Hyperparameter process_type is not allowed"),
        (
            {"tree_method": "exact", "max_depth": "0"},
            "Hyperparameter max_depth: 0 (no limit) needs tree_method approx or hist",
        ),
        ({"max_depth": "0"}, "tree_method auto builds with exact"),
        ({"max_bin": "0"}, "Hyperparameter max_bin: 0 is not in [2, 65536]"),
        ({"max_bin": "1"}, "Hyperparameter max_bin: 1 is not in [2, 65536]"),
        (
            {"num_class": "2"},
            "Hyperparameter num_class: set only with objective multi:softmax or multi:softprob, not reg:logistic",
        ),
        (
            {"objective": "multi:softmax", "eval_metric": "merror", "num_class": "1000000000"},
            "Hyperparameter num_class: 1000000000 is not in [2, 100]",
        ),
        ({"nthread": "100000"}, "Hyperparameter nthread: 100000 is not in [1, 4] (the vCPUs of ml.m5.xlarge)"),
        ({"max_depth": str(2**31)}, "Hyperparameter max_depth: 2147483648 is not in [-2147483648, 2147483647]"),
        ({"nthread": str(2**31)}, "Hyperparameter nthread: 2147483648 is not in"),
        ({"num_parallel_tree": str(2**31)}, "Hyperparameter num_parallel_tree: 2147483648 is not in"),
        ({"max_leaves": str(2**31)}, "Hyperparameter max_leaves: 2147483648 is not in"),
        ({"subsample": "1e-300"}, "Hyperparameter subsample: 1e-300 is outside XGBoost's 32-bit float range"),
        ({"max_delta_step": "1e300"}, "Hyperparameter max_delta_step: 1e300 is outside XGBoost's 32-bit float range"),
        ({"base_score": "0"}, "Hyperparameter base_score: 0 is not in (0, 1), as reg:logistic needs"),
        ({"base_score": "2"}, "Hyperparameter base_score: 2 is not in (0, 1)"),
        ({"base_score": "0.99999999"}, "base_score: 0.99999999 is not in (0, 1)"),  # 1.0 as a float32
        ({"_kfold": "2"}, "Hyperparameter _kfold is not allowed: cross-validation is not a step of this pipeline"),
        ({"_kfold": "1000"}, "Hyperparameter _kfold is not allowed"),
        ({"eval_metric": "mlogloss"}, "Metric 'mlogloss' can only be applied with objective multi:softmax"),
        ({"eval_metric": "merror"}, "Metric 'merror' can only be applied with objective multi:softmax"),
        (
            {"csv_weights": "1"},
            "Hyperparameter csv_weights: 1 reads column 1 (x) as weights, and the held-out set has no weight column",
        ),
        # found by the property test and the metric sweep
        (
            {"objective": "multi:softmax", "num_class": "2"},
            "Metric 'rmse' cannot be applied with objective multi:softmax",
        ),
        ({"objective": "reg:tweedie", "eval_metric": "tweedie-nloglik"}, "Metric 'tweedie-nloglik' is not allowed"),
        ({"eval_metric": "interval-regression-accuracy"}, "Metric 'interval-regression-accuracy' is not allowed"),
        ({"eval_metric": "aucpr", "objective": "binary:logistic"}, "Metric 'aucpr' needs both labels"),
        (
            {"sampling_method": "gradient_based", "subsample": "0.5"},
            "Hyperparameter sampling_method: gradient_based needs tree_method gpu_hist",
        ),
        ({"eta": "nan"}, "Hyperparameter eta: 'nan' must be a finite number"),
        ({"gamma": "inf"}, "Hyperparameter gamma: 'inf' must be a finite number"),
        ({"max_depth": "1_0"}, "Hyperparameter max_depth: '1_0' must be written as plain digits"),
        ({"eta": "1_0e-1"}, "Hyperparameter eta: '1_0e-1' must be a finite number written plainly"),
        ({"max_depth": "\u0661\u0662"}, "must be written as plain digits"),
        # finding 4: a bill
        (
            {"num_round": "1" + "0" * 300},
            "Hyperparameter num_round: 10000000000000000000... (301 digits) rounds of "
            "1 tree(s) cannot finish within maxRuntimeSeconds 3600: at most 36,000,000 trees",
        ),
        (
            {
                "eval_metric": ",".join(
                    ["rmse", "mae", "logloss", "error", "error@0.1", "error@0.2", "error@0.3", "error@0.4", "error@0.5"]
                )
            },
            "Hyperparameter eval_metric: 9 entries; give at most 8",
        ),
        ({"eval_metric": "rmse,rmse"}, "Hyperparameter eval_metric: 2 entries; give at most 8, each once"),
    ],
)
def test_refused_with_the_field_and_the_limit(overrides, message):
    assert message in refusal(overrides)


def test_float_limits_keep_a_margin_for_xgboosts_parser():
    """The property test found float32's least normal value accepted and failing: dmlc's parser
    read 1.1754943508222875e-38 as 1.17549421e-38, out of range."""
    assert "alpha: 1.1754943508222875e-38 is outside XGBoost's 32-bit float range (0, or 1e-37 to 1e+38" in refusal(
        {"alpha": "1.1754943508222875e-38"}
    )
    assert "outside XGBoost's 32-bit float range" in refusal({"lambda": "1.0000000000000001e+38"})
    validate({**BASE, "alpha": "1e-37", "lambda": "1e38", "gamma": "0"})


def test_the_container_hands_xgboost_parsed_values():
    """As its validate() returns them: train.py passes these to xgboost.train."""
    assert rules.validate_as_container(
        {
            "num_round": "5",
            "learning_rate": "0.5",
            "updater": "grow_colmaker,prune",
            "monotone_constraints": "(1,-1)",
            "tree_method": "exact",
            "eval_metric": "rmse,mae",
            "interaction_constraints": "[[1]]",
            "objective": "reg:logistic",
        }
    ) == {
        "num_round": 5,
        "eta": 0.5,
        "objective": "reg:logistic",
        "updater": "grow_colmaker,prune",
        "monotone_constraints": (1, -1),
        "tree_method": "exact",
        "eval_metric": ["rmse", "mae"],
        "interaction_constraints": [[1]],
    }


@pytest.mark.parametrize("version", list(rules.IMAGES))
def test_the_local_container_fails_interaction_constraints_as_the_image_does(tmp_path, version):
    """Every image's xgboost reads the container's parsed list as feature names; CSV data has none."""
    from runner.container.failures import ContainerError
    from runner.emulator.sagemaker import hosts as sagemaker_hosts

    (tmp_path / "part-00000.csv").write_text(
        "".join(f"{int(y >= 3 * x + 5)},{x},{y}\n" for x in range(0, 100, 9) for y in range(0, 100, 9))
    )
    with pytest.raises(ContainerError, match="Constrained features are not a subset"):
        sagemaker_hosts.train(
            version,
            [sagemaker_hosts.Channel("train", "text/csv", tmp_path)],
            [],
            1,
            {**BASE, "tree_method": "exact", "interaction_constraints": "[[1]]"},
        )


def test_the_issues_208_metrics_are_refused():
    assert "208 entries" in refusal({"eval_metric": ",".join(["rmse"] * 208)})


@pytest.mark.parametrize(
    "accepted",
    [
        {},
        {"tree_method": "exact", "monotone_constraints": "(1,-1)"},
        {"tree_method": "hist", "monotone_constraints": "(0,)"},
        {"tree_method": "hist", "max_depth": "0"},
        {"tree_method": "approx", "max_depth": "0", "grow_policy": "lossguide"},
        {"updater": "grow_colmaker,prune"},
        {"updater": "grow_histmaker"},
        {"booster": "gblinear", "updater": "coord_descent"},
        {"max_bin": "2", "tree_method": "hist"},
        {"max_depth": str(2**31 - 1)},
        {"objective": "multi:softprob", "num_class": "100", "eval_metric": "mlogloss,accuracy"},
        {"base_score": "0.5"},
        {"objective": "reg:squarederror", "base_score": "2"},
        {"nthread": "4"},
        {"eta": "1e-05", "subsample": "1e-37", "alpha": "1e38"},
        {"num_round": "360000", "num_parallel_tree": "100"},  # 36,000,000 trees: the defaults' bound
        {"eval_metric": "rmse,mae,logloss,error,error@0.1,error@0.2,error@0.3,error@0.4"},
        {"csv_weights": "0"},
        {"use_dask_gpu_training": "false", "process_type": "default"},
    ],
)
def test_what_trains_is_accepted(accepted):
    validate({**BASE, **accepted})


def test_bounds_come_from_the_training_job():
    assert validate({**BASE, "nthread": "96"}, instance_type="ml.m5.24xlarge") is None
    assert "[1, 2] (the vCPUs of ml.m5.large)" in refusal({"nthread": "3"}, instance_type="ml.m5.large")
    validate(
        {
            **BASE,
            "tree_method": "gpu_hist",
            "predictor": "gpu_predictor",
            "sampling_method": "gradient_based",
            "subsample": "0.5",
        },
        instance_type="ml.g4dn.xlarge",
    )
    validate({**BASE, "tree_method": "gpu_hist", "use_dask_gpu_training": "true"}, instance_type="ml.p3.2xlarge")
    assert "use_dask_gpu_training: true needs tree_method gpu_hist" in refusal(
        {"use_dask_gpu_training": "true"}, instance_type="ml.g5.xlarge"
    )
    assert "one training instance" in refusal(
        {"tree_method": "gpu_hist", "use_dask_gpu_training": "true"}, instance_type="ml.g5.xlarge", instance_count=2
    )
    # Distributed training: exact is a fatal error in 1.7.4 (updater_colmaker.cc).
    assert "tree_method: exact cannot train on 2 instances" in refusal({"tree_method": "exact"}, instance_count=2)
    validate({**BASE, "tree_method": "hist", "monotone_constraints": "(1,)"}, instance_count=3)
    # Held-out weights would make csv_weights usable.
    validate({**BASE, "csv_weights": "1"}, held_out_weights=True)
    # aucpr: 200 rows an instance.
    validate({**BASE, "objective": "binary:logistic", "eval_metric": "aucpr"}, rows=400, instance_count=2)
    assert "at least 400 rows (200 an instance), not 399" in refusal(
        {"objective": "binary:logistic", "eval_metric": "aucpr"}, rows=399, instance_count=2
    )


def test_num_round_is_bounded_by_max_runtime_and_the_trees_a_round_builds():
    """A tree takes at least MIN_SECONDS_PER_TREE, and MIN_CPU_SECONDS_PER_TREE_ROW for each row
    of an instance's shard over its vCPUs: more trees than maxRuntimeSeconds allows at that pace
    are sure to hit MaxRuntimeInSeconds, billed in full, with no model."""
    assert (rules.MIN_SECONDS_PER_TREE, rules.MIN_CPU_SECONDS_PER_TREE_ROW) == (1e-4, 4e-8)
    # 100 M rows on one ml.m5.xlarge: a tree reads them all, at least 1 s on 4 vCPUs.
    validate({**BASE, "num_round": "3600"}, rows=100_000_000)
    assert "at most 3,600 trees (a tree takes at least 1 s on 100,000,000 row(s) an instance)" in refusal(
        {"num_round": "3601"}, rows=100_000_000
    )
    # Four instances share the rows; ml.m5.4xlarge has 16 vCPUs.
    validate({**BASE, "num_round": "57600"}, rows=100_000_000, instance_count=4, instance_type="ml.m5.4xlarge")
    assert "at most 57,600 trees" in refusal(
        {"num_round": "57601"}, rows=100_000_000, instance_count=4, instance_type="ml.m5.4xlarge"
    )
    validate({**BASE, "num_round": "300000"}, max_runtime_seconds=30)
    assert "maxRuntimeSeconds 30: at most 300,000 trees" in refusal({"num_round": "300001"}, max_runtime_seconds=30)
    # num_parallel_tree and the classes of multi:* multiply the trees of a round.
    assert "rounds of 10 tree(s)" in refusal({"num_round": "60001", "num_parallel_tree": "10"}, max_runtime_seconds=60)
    assert "rounds of 30 tree(s)" in refusal(
        {
            "num_round": "20001",
            "num_parallel_tree": "10",
            "num_class": "3",
            "objective": "multi:softmax",
            "eval_metric": "merror",
        },
        max_runtime_seconds=60,
    )


def test_num_round_is_bounded_by_the_evaluation_lines_cloudwatch_would_ingest():
    """Every round prints a line with an entry per channel and metric, which CloudWatch Logs bills
    by the byte: at most 256 MiB of them, counted at 128 bytes an entry (a default metric too)."""
    assert (rules.MAX_TRAINING_LOG_BYTES, rules.LOG_ENTRY_BYTES, rules.LOG_LINE_BYTES) == (256 << 20, 128, 40)
    one_metric = {"eval_metric": "rmse"}
    validate({**BASE, **one_metric, "num_round": "486296"}, rows=1)
    assert (
        "Hyperparameter num_round: 486297 rounds could print more than the 256 MiB of evaluation lines a job "
        "may send CloudWatch Logs (billed by the byte): at most 486,296 rounds with 1 eval_metric entry"
    ) == refusal({**one_metric, "num_round": "486297"}, rows=1)
    eight = {"eval_metric": "rmse,mae,logloss,error,error@0.1,error@0.2,error@0.3,error@0.4"}
    validate({**BASE, **eight, "num_round": "114520"}, rows=1)
    assert "at most 114,520 rounds with 8 eval_metric entries" in refusal({**eight, "num_round": "114521"}, rows=1)
    # Where maxRuntimeSeconds allows fewer trees, that bound is the one named.
    assert "cannot finish within maxRuntimeSeconds 30" in refusal(
        {**eight, "num_round": "300001"}, max_runtime_seconds=30
    )


@pytest.mark.parametrize(
    "instance_type, vcpus, gpu",
    [
        ("ml.m5.large", 2, False),
        ("ml.m5.xlarge", 4, False),
        ("ml.c5.9xlarge", 36, False),
        ("ml.m5.24xlarge", 96, False),
        ("ml.t3.medium", 2, False),
        ("ml.g4dn.xlarge", 4, True),
        ("ml.p3.16xlarge", 64, True),
        ("ml.p4d.24xlarge", 96, True),
        ("ml.c5.metal", None, False),
    ],
)
def test_instance_types(instance_type, vcpus, gpu):
    assert rules.instance_vcpus(instance_type) == vcpus
    assert rules.is_gpu_instance(instance_type) is gpu


def test_execution_input_numbers_go_through_the_same_rules():
    """JSON numbers become strings before the rules: 1e300 is a 301-digit num_round."""
    defaults = {
        "rows": 5000,
        "hyperparameters": dict(BASE),
        "shards": 1,
        "training": {
            "image_version": IMAGE,
            "instance_type": "ml.m5.xlarge",
            "instance_count": 1,
            "max_runtime_seconds": 3600,
        },
    }
    for hyperparameters, message in (
        ({"num_round": 1e300}, "(301 digits) rounds"),
        ({"max_depth": 2.0**31}, "max_depth: 2147483648 is not in"),
        ({"nthread": 5}, "the vCPUs of ml.m5.xlarge"),
        ({"subsample": 1e-300}, "32-bit float range"),
    ):
        with pytest.raises(InvalidExecutionInput, match=r"^hyperparameters: ") as error:
            validate_execution(
                {"hyperparameters": hyperparameters},
                execution_name="xgb-dev--a",
                job_name_prefix="xgb-dev",
                defaults=defaults,
            )
        assert message in str(error.value)
    # The stack's limits travel in the defaults: a larger instance takes more threads.
    defaults["training"]["instance_type"] = "ml.m5.4xlarge"
    validate_execution(
        {"hyperparameters": {"nthread": 16}}, execution_name="xgb-dev--a", job_name_prefix="xgb-dev", defaults=defaults
    )


def test_a_stack_whose_own_defaults_break_the_rules_fails_with_one_line():
    def config(values):
        return lambda key: values.get(key)

    with pytest.raises(SettingsError) as error:
        PipelineSettings.from_config(
            config({"hyperparameters": ["num_round=400000"], "maxRuntimeSeconds": 30}), stack="dev", region="us-west-2"
        )
    assert str(error.value) == (
        "hyperparameters: Hyperparameter num_round: 400000 rounds of 1 tree(s) cannot finish within "
        "maxRuntimeSeconds 30: at most 300,000 trees (a tree takes at least 100 microseconds on 5,000 row(s) "
        "an instance)"
    )
    with pytest.raises(SettingsError, match=r"^hyperparameters: Hyperparameter nthread: 8 is not in \[1, 4\]"):
        PipelineSettings.from_config(
            config({"hyperparameters": ["num_round=5", "nthread=8"]}), stack="dev", region="us-west-2"
        )
    with pytest.raises(SettingsError, match="tree_method: exact cannot train on 2 instances"):
        PipelineSettings.from_config(
            config({"hyperparameters": ["num_round=5", "tree_method=exact"], "trainingInstanceCount": 2}),
            stack="dev",
            region="us-west-2",
        )
    settings = PipelineSettings.from_config(
        config({"hyperparameters": ["num_round=5", "nthread=8"], "trainingInstanceType": "ml.m5.2xlarge"}),
        stack="dev",
        region="us-west-2",
    )
    assert settings.run_defaults["training"] == {
        "image_version": "3.2-0",
        "instance_type": "ml.m5.2xlarge",
        "instance_count": 1,
        "max_runtime_seconds": 3600,
    }


# --- through the deployed state machine, started directly -------------------------------------------


@pytest.mark.parametrize(
    "name, hyperparameters, cause",
    [
        (f"{PREFIX}--kfold", {"_kfold": 2}, "Hyperparameter _kfold is not allowed"),
        (
            f"{PREFIX}--interaction",
            {"tree_method": "exact", "interaction_constraints": "[[1]]"},
            "Hyperparameter interaction_constraints is not allowed",
        ),
        (f"{PREFIX}--dask", {"use_dask_gpu_training": True}, "use_dask_gpu_training: true needs a GPU instance"),
        (f"{PREFIX}--rounds", {"num_round": 1e300}, "(301 digits) rounds of 1 tree(s) cannot finish"),
        (f"{PREFIX}--metrics", {"eval_metric": ",".join(["rmse"] * 208)}, "eval_metric: 208 entries"),
    ],
)
def test_the_state_machine_refuses_before_anything_is_written(stack, name, hyperparameters, cause):
    """The three the issue saw succeed in the rehearsal, and finding 4's bills."""
    sfn = boto3.client("stepfunctions", region_name=stack["region"])
    arn = sfn.start_execution(
        stateMachineArn=stack["stateMachineArn"],
        name=name,
        input=json.dumps({"rows": 200, "hyperparameters": hyperparameters}),
    )["executionArn"]
    deadline = time.monotonic() + 60
    while (described := sfn.describe_execution(executionArn=arn))["status"] == "RUNNING":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert described["status"] == "FAILED" and described["error"] == "InvalidExecutionInput"
    assert cause in described["cause"], described["cause"]
    s3 = boto3.client("s3", region_name=stack["region"])
    assert s3.list_objects_v2(Bucket=stack["bucketName"], Prefix=f"runs/{name}/")["KeyCount"] == 0
    sagemaker = boto3.client("sagemaker", region_name=stack["region"])
    assert not sagemaker.list_training_jobs(NameContains=name)["TrainingJobSummaries"]


@pytest.mark.parametrize(
    "overrides, message",
    [
        # Found by a second attack: accepted before, then each failed in the container on 1.7.4 (or ran up a bill).
        (
            {"objective": "binary:logistic", "eval_metric": "error@0.70", "early_stopping_rounds": "2"},
            "with early_stopping_rounds, spell the last metric as xgboost names it, error@0.7",
        ),
        ({"eval_metric": "error @0.7"}, "write it without spaces"),
        ({"objective": "rank:pairwise", "eval_metric": "ndcg@ 3"}, "write it without spaces"),
        ({"eval_metric": "error@\u0661"}, "write it without spaces, in ASCII"),
        (
            {"updater": "grow_colmaker", "tree_method": "hist", "max_depth": "0"},
            "needs tree_method approx or hist; updater grow_colmaker builds with exact",
        ),
        ({"tree_method": "approx", "max_bin": "2147483647"}, "Hyperparameter max_bin: 2147483647 is not in [2, 65536]"),
        ({"verbosity": "3"}, "Hyperparameter verbosity: 3 is not in [0, 1]"),
        (
            {"booster": "dart", "num_round": "20000"},
            "rounds of booster dart cannot finish within maxRuntimeSeconds 3600: at most 12,792",
        ),
    ],
)
def test_second_attack_refusals(overrides, message):
    assert message in refusal(overrides)


def test_what_the_second_attack_refusals_leave_trainable():
    for accepted in (
        {"objective": "binary:logistic", "eval_metric": "error@0.7", "early_stopping_rounds": "2"},
        {"objective": "rank:pairwise", "eval_metric": "ndcg@3"},
        {"verbosity": "1"},
        {"booster": "dart", "num_round": "2000"},
        {"tree_method": "hist", "max_bin": "1024"},
    ):
        validate({**BASE, **accepted})


@pytest.mark.parametrize("version", list(rules.IMAGES))
def test_the_container_fails_what_the_second_attack_found(tmp_path, version):
    """Why the refusals above: each image's local container fails these after loading."""
    from runner.container.failures import ContainerError
    from runner.emulator.sagemaker import hosts as sagemaker_hosts

    rows = "".join(f"{int(y >= 3 * x + 5)},{x},{y}\n" for x in range(0, 100, 9) for y in range(0, 100, 9))
    for channel in ("train", "validation"):
        (tmp_path / channel).mkdir()
        (tmp_path / channel / "part.csv").write_text(rows)
    channels = [sagemaker_hosts.Channel(name, "text/csv", tmp_path / name) for name in ("train", "validation")]
    for hyperparameters in (
        {**BASE, "objective": "binary:logistic", "eval_metric": "error@0.70", "early_stopping_rounds": "2"},
        {**BASE, "updater": "grow_colmaker", "tree_method": "hist", "max_depth": "0"},
    ):
        with pytest.raises(ContainerError, match="AlgorithmError"):
            sagemaker_hosts.train(version, channels, [], 1, hyperparameters)


# --- float32 bounds and Python's int-string limit (issue 18) -------------------------------------


@pytest.mark.parametrize(
    "overrides, message",
    [
        # 1.99999999 < 2 as a double, 2.0 as the float32 xgboost keeps
        (
            {"objective": "reg:tweedie", "eval_metric": "rmse", "tweedie_variance_power": "1.99999999"},
            "Hyperparameter tweedie_variance_power: 1.99999999 becomes 2.0 as XGBoost's 32-bit float, which is not "
            "in (1, 2): give a value further inside",
        ),
        # 1.9999999 is 1.99999988 as a float32, inside, but its default metric is tweedie-nloglik@2:
        # "tweedie variance power must be in interval [1, 2)" on the first round.
        (
            {"objective": "reg:tweedie", "eval_metric": "rmse", "tweedie_variance_power": "1.9999999"},
            "Hyperparameter tweedie_variance_power: 1.9999999 is printed as 2 in xgboost's default reg:tweedie metric "
            "(tweedie-nloglik@2, 6 significant digits), which must be below 2: give at most 1.99999",
        ),
        (
            {"objective": "reg:tweedie", "eval_metric": "rmse", "tweedie_variance_power": "1.999999"},
            "Hyperparameter tweedie_variance_power: 1.999999 is printed as 2 in xgboost's default reg:tweedie metric",
        ),
        (
            {"objective": "reg:tweedie", "eval_metric": "rmse", "tweedie_variance_power": "1.00000001"},
            "Hyperparameter tweedie_variance_power: 1.00000001 becomes 1.0 as XGBoost's 32-bit float, which is not in (1, 2)",
        ),
        (
            {"tree_method": "approx", "sketch_eps": "0.99999999"},
            "Hyperparameter sketch_eps: 0.99999999 becomes 1.0 as XGBoost's 32-bit float, which is not in (0, 1)",
        ),
    ],
)
def test_open_bounds_hold_for_the_float32_value_xgboost_keeps(overrides, message):
    assert refusal(overrides).startswith(message)


def test_float32_boundaries_inside_the_range_are_accepted():
    import struct

    below_two = struct.unpack("f", struct.pack("I", struct.unpack("I", struct.pack("f", 2.0))[0] - 1))[0]
    validate({**BASE, "objective": "binary:logistic", "sketch_eps": repr(below_two - 1)})  # float32 < 1
    validate({**BASE, "objective": "reg:tweedie", "tweedie_variance_power": "1.99999"})
    validate({**BASE, "objective": "reg:tweedie", "tweedie_variance_power": "1.999994"})  # prints 1.99999
    validate({**BASE, "eta": "0.99999999", "subsample": "1e-37"})  # closed bound, and float32 > 0


@pytest.mark.parametrize("version", list(rules.IMAGES))
def test_the_tweedie_refusal_is_what_fails_xgboost(tmp_path, version):
    """Each image's local container fails 1.9999999 and 1.999999 after loading, trains 1.99999 and 1.999994."""
    from runner.container.failures import ContainerError
    from runner.emulator.sagemaker import hosts as sagemaker_hosts

    (tmp_path / "part.csv").write_text("".join(f"{1 + (x * y) % 7},{x},{y}\n" for x in range(20) for y in range(20)))
    channels = [sagemaker_hosts.Channel("train", "text/csv", tmp_path)]
    tweedie = {"num_round": "2", "objective": "reg:tweedie", "eval_metric": "rmse"}
    for refused in ("1.9999999", "1.999999"):
        with pytest.raises(ContainerError, match="tweedie variance power must be in interval"):
            sagemaker_hosts.train(version, channels, [], 1, {**tweedie, "tweedie_variance_power": refused})
    for accepted in ("1.99999", "1.999994"):
        sagemaker_hosts.train(version, channels, [], 1, {**tweedie, "tweedie_variance_power": accepted})


def test_an_integer_past_pythons_string_conversion_limit_is_a_refusal_naming_the_field():
    huge = 10**4399  # 4,400 digits: str() of it raises ValueError (Python's 4,300-digit limit)
    with pytest.raises(rules.HyperparameterError) as error:
        validate({**BASE, "num_round": huge})
    assert str(error.value) == (
        "Hyperparameter num_round: an integer of 4,400 digits; SageMaker takes values "
        "as strings of at most 2500 characters"
    )
    with pytest.raises(InvalidExecutionInput) as refused:
        validate_execution(
            {"hyperparameters": {"num_round": huge}},
            execution_name=f"{PREFIX}--huge",
            job_name_prefix=PREFIX,
            defaults=load_stack_settings("dev").run_defaults,
            bucket="bucket",
        )
    assert str(refused.value) == (
        "hyperparameters.num_round: an integer of 4,400 digits; SageMaker takes values "
        "as strings of at most 2500 characters"
    )
