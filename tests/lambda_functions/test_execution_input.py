"""Execution input is untrusted: the rules (lambda_src/execution_input.py, xgboost_hyperparameters.py)
and the deployed state machine applying them before anything is written or started."""

from __future__ import annotations

import fnmatch
import json
import random
import re
import time

import boto3
import pytest
import yaml
from dev_stack import PREFIX

from components import PROJECT_DIR
from components.pipeline import name_pattern
from components.settings import PipelineSettings, SettingsError, default_job_name_prefix, load_stack_settings
from lambda_src import xgboost_hyperparameters as rules
from lambda_src.execution_input import (
    MAX_PREFIX_LENGTH,
    InvalidExecutionInput,
    check_execution_name,
    check_prefix,
    validate_execution,
)
from runner.execution import new_name

DEFAULTS = {
    "rows": 5000,
    "shards": 2,
    "training": {"image_version": "3.2-0"},
    "hyperparameters": {"objective": "reg:logistic", "eval_metric": "rmse", "num_round": "5", "eta": "0.2"},
}


def refusal(hyperparameters: dict) -> str:
    with pytest.raises(rules.HyperparameterError) as error:
        rules.validate_as_container(hyperparameters)
    return str(error.value)


# --- the container's rules (aws/sagemaker-xgboost-container 1.7-1 and its unit tests) -------------


@pytest.mark.parametrize(
    "objective",
    [
        "count:poisson",
        "reg:gamma",
        "reg:logistic",
        "reg:squarederror",
        "reg:tweedie",
        "multi:softmax",
        "multi:softprob",
        "survival:cox",
    ],
)
def test_auc_needs_a_classification_or_ranking_objective(objective):
    assert "Metric 'auc' can only be applied" in refusal(
        {"num_round": "1", "objective": objective, "eval_metric": "auc", "num_class": "3"}
    )


@pytest.mark.parametrize(
    "accepted, refused",
    [
        ({"verbosity": "0"}, {"verbosity": "4"}),
        ({"verbosity": "3"}, {"verbosity": "-1"}),
        ({"num_parallel_tree": "10"}, {"num_parallel_tree": "0"}),
        ({"save_model_on_termination": "true"}, {"save_model_on_termination": "incorrect"}),
        (
            {"eval_metric": "aft-nloglik", "objective": "survival:aft"},
            {"eval_metric": "aft-nloglik", "objective": "reg:squarederror"},
        ),
        ({"eta": "1"}, {"eta": "2"}),
        ({"learning_rate": "0.3"}, {"learning_rate": "1.5"}),  # an alias of eta, same range
        ({"subsample": "1"}, {"subsample": "0"}),  # (0, 1]
        ({"tweedie_variance_power": "1.5"}, {"tweedie_variance_power": "2"}),  # (1, 2)
        ({"csv_weights": "1"}, {"csv_weights": "2"}),
        ({"seed": "-2147483647"}, {"seed": "2147483647"}),  # open interval
        (
            {"eval_metric": "error@0.7", "objective": "binary:logistic"},
            {"eval_metric": "rmse@0.7", "objective": "binary:logistic"},
        ),
        (
            {"eval_metric": "rmse,logloss", "objective": "binary:logistic"},
            {"eval_metric": "rmse, logloss", "objective": "binary:logistic"},
        ),  # the container does not strip
        ({"objective": "multi:softprob", "num_class": "2"}, {"objective": "multi:softprob"}),
        ({"tree_method": "hist", "monotone_constraints": "(1,-1)"}, {"monotone_constraints": "(1,-1)"}),
        (
            {"tree_method": "approx", "interaction_constraints": "[[1, 2]]"},
            {"tree_method": "approx", "interaction_constraints": "[[0, 1]]"},
        ),
        ({"updater": "grow_colmaker,prune"}, {"updater": "grow_colmaker,grow_histmaker"}),
        ({"booster": "gblinear", "updater": "shotgun"}, {"booster": "gblinear", "updater": "grow_colmaker"}),
        ({"objective": "reg:pseudohubererror"}, {"objective": "reg:quantileerror"}),
        ({"_tuning_objective_metric": "validation:auc"}, {"_tuning_objective_metric": "train:auc"}),
    ],
)
def test_container_ranges_and_dependencies(accepted, refused):
    rules.validate_as_container({"num_round": "1", **accepted})
    refusal({"num_round": "1", **refused})


@pytest.mark.parametrize(
    "hyperparameters, message",
    [
        ({"objective": "reg:logistic"}, "Missing required hyperparameter: num_round"),
        ({"num_round": "1", "bogus": "1"}, "Extraneous hyperparameter found: bogus"),
        ({"num_round": "1.5"}, "Hyperparameter num_round: could not parse value"),
        ({"num_round": "0"}, "Hyperparameter num_round: 0 is not in [1, +inf)"),
        ({"num_round": "1", "eta": "2"}, "Hyperparameter eta: 2.0 is not in [0, 1]"),
        (
            {"num_round": "1", "booster": "forest"},
            "Hyperparameter booster: forest is not in ['gbtree', 'gblinear', 'dart']",
        ),
        (
            {"num_round": "1", "objective": "reg:logistic", "eval_metric": "auc"},
            "Metric 'auc' can only be applied for classification and ranking problems.",
        ),
        (
            {"num_round": "1", "objective": "multi:softmax"},
            "Require input for parameter 'num_class' for multi-classification",
        ),
        ({"num_round": "1", "eval_metric": "rmse"}, "Hyperparameter eval_metric: set objective too"),
    ],
)
def test_container_messages(hyperparameters, message):
    assert refusal(hyperparameters).startswith(message)


@pytest.mark.parametrize("name", ["sagemaker_program", "sagemaker_submit_directory"])
def test_script_mode_is_refused_with_its_reason(name):
    message = refusal({"num_round": "1", name: "s3://attacker/x.tar.gz"})
    assert message == (
        f"Hyperparameter {name} is not allowed: it switches the container to script mode, "
        "which runs user code with the SageMaker role"
    )
    assert "not allowed" in refusal({"num_round": "1", "sagemaker_container_log_level": "20"})


@pytest.mark.parametrize(
    "value", ["__import__('os').system('id')", "(1,) + (open('/etc/passwd').read(),)", "[x for x in (1,)]"]
)
def test_monotone_constraints_that_the_container_would_eval_are_refused(value):
    assert "must be a literal tuple" in refusal(
        {"num_round": "1", "tree_method": "exact", "monotone_constraints": value}
    )


def test_sagemaker_api_limits():
    assert "must be a string" in refusal({"num_round": 5})
    assert "at most 2500" in refusal({"num_round": "1", "eta": "0" * 2501})
    many = {"num_round": "1", **{f"k{i}": "1" for i in range(100)}}
    assert "at most 100" in refusal(many)


# --- the execution request -------------------------------------------------------------------------


def request(execution_input, name="xgb-dev--run-1", seed_source=None):
    return validate_execution(
        execution_input, execution_name=name, job_name_prefix="xgb-dev", defaults=DEFAULTS, seed_source=seed_source
    )


def test_json_numbers_and_booleans_become_the_strings_sagemaker_passes():
    result = request(
        {
            "rows": 300,
            "seed": 7,
            "hyperparameters": {"num_round": 10, "eta": 0.25, "max_depth": 4.0, "save_model_on_termination": True},
        }
    )
    assert result == {
        "rows": 300,
        "seed": 7,
        "hyperparameters": {
            "objective": "reg:logistic",
            "eval_metric": "rmse",
            "num_round": "10",
            "eta": "0.25",
            "max_depth": "4",
            "save_model_on_termination": "true",
        },
        "data": None,
        "qualityGate": "",
    }


@pytest.mark.parametrize("name, alias", sorted(rules.ALIASES.items(), key=lambda item: item[1]))
def test_an_override_replaces_the_stacks_value_under_any_of_its_names(name, alias):
    defaults = {"rows": 10, "hyperparameters": {"num_round": "5", alias: "0.2"}, "training": {"image_version": "3.2-0"}}
    result = validate_execution(
        {"hyperparameters": {name: 0.5}}, execution_name="xgb-dev--a1", job_name_prefix="xgb-dev", defaults=defaults
    )
    assert result["hyperparameters"] == {"num_round": "5", name: "0.5"}


@pytest.mark.parametrize("name, alias", sorted(rules.ALIASES.items()))
def test_one_parameter_under_two_names_is_refused(name, alias):
    """The container keeps one of the two, by an order we do not control: refuse instead."""
    for given in ({name: "0.5", alias: "0.3"}, {alias: "0.3", name: "7"}):
        assert refusal({"num_round": "1", **given}) == (
            f"Hyperparameter {alias} is given twice ({', '.join(sorted((name, alias)))}): give one of them"
        )


def test_an_absent_seed_is_drawn_and_returned():
    first, second = request({}, seed_source=random.Random(1)), request({}, seed_source=random.Random(1))
    assert first == second and 0 <= first["seed"] < 2**31 and first["rows"] == 5000
    assert request({})["seed"] != request({})["seed"]  # from the system's randomness


@pytest.mark.parametrize(
    "execution_input, message",
    [
        ({"rows": "abc"}, 'rows: "abc" is not an integer'),
        ({"rows": 1.5}, "rows: 1.5 is not an integer"),
        ({"rows": None}, "rows: null is not an integer"),
        ({"rows": True}, "rows: true is not an integer"),
        ({"rows": 0}, "rows: 0 is not an integer from 1"),
        ({"rows": 10**10}, "rows: 10000000000 is not an integer from 1 to 1,000,000,000"),
        ({"seed": -1}, "seed: -1 is not an integer from 0"),
        ({"seed": 2**53}, "seed: 9007199254740992 is not an integer from 0 to 9,007,199,254,740,991"),
        ({"rows": 1}, "rows: 1 is fewer than the 2 training shards"),
        ({"hyperparameters": "x"}, 'hyperparameters: expected an object such as {"num_round": 10}, got "x"'),
        ({"hyperparameters": {"num_round": None}}, "hyperparameters.num_round: null is not a string, number"),
        ({"hyperparameters": {"num_round": [1]}}, "hyperparameters.num_round: [1] is not a string, number"),
        ({"hyperparameters": {"sagemaker_program": "x.py"}}, "hyperparameters: Hyperparameter sagemaker_program"),
        (
            {"rowz": 5},
            "execution input: unknown field 'rowz' (did you mean 'rows'?); allowed: rows, seed, hyperparameters",
        ),
        ([], "execution input must be a JSON object"),
        ("x", "execution input must be a JSON object"),
    ],
)
def test_refusals_name_the_field(execution_input, message):
    with pytest.raises(InvalidExecutionInput) as error:
        request(execution_input)
    assert str(error.value).startswith(message), str(error.value)


@pytest.mark.parametrize(
    "name, problem",
    [
        ("xgb-dev-2-run", "must start with 'xgb-dev--'"),
        ("someone-else", "must start with 'xgb-dev--'"),
        ("xgb-dev--a_b", "not a valid SageMaker job name"),  # Step Functions allows `_`; SageMaker does not
        ("xgb-dev--" + "a" * 60, "not a valid SageMaker job name"),  # Step Functions allows 80 characters
        ("xgb-dev--run.1", "not a valid SageMaker job name"),
    ],
)
def test_whole_execution_name_is_checked(name, problem):
    with pytest.raises(InvalidExecutionInput, match=re.escape(problem)):
        check_execution_name(name, "xgb-dev")


STACKS = ["dev", "dev-2", "dev-2-x", "Dev", "dev_2", "dev.2", "d", "dev--x", "prod", "x" * 60, "x" * 61]


@pytest.mark.parametrize("prefix", ["xgb-dev\n", "\nxgb-dev"])
def test_a_prefix_with_a_newline_is_refused(prefix):
    """Prefixes are matched whole (`fullmatch`): `$` also matches before a trailing newline."""
    with pytest.raises(InvalidExecutionInput, match="jobNamePrefix"):
        check_prefix(prefix)


def test_default_prefixes_never_reach_another_stacks_jobs():
    """IAM patterns are prefix globs: `xgb-dev-*` would match the jobs of stack `dev-2`."""
    prefixes = {stack: default_job_name_prefix(stack, "training-pipeline") for stack in STACKS}
    assert prefixes["dev"] == "xgb-dev-7e1940" and prefixes["dev-2"] == "xgb-dev-2-4fa9a5"
    assert len(set(prefixes.values())) == len(STACKS)
    for stack, prefix in prefixes.items():
        assert check_prefix(prefix) == prefix and len(prefix) <= MAX_PREFIX_LENGTH
        settings = PipelineSettings.from_config(lambda key: None, stack=stack, region="us-west-2")
        assert settings.job_name_prefix == prefix
        for other, other_prefix in prefixes.items():
            names = [new_name(other_prefix), f"{other_prefix}--hand-made-1"]
            matches = [fnmatch.fnmatchcase(name, name_pattern(prefix)) for name in names]
            assert matches == [stack == other] * 2, (stack, other, names)


def test_default_prefixes_differ_between_projects_and_copied_stack_files(tmp_path):
    """Two projects with a stack `dev` in one account, or a stack made by copying Pulumi.dev.yaml
    (`cp`, `pulumi stack init --copy-config-from dev`), get prefixes of their own."""
    assert default_job_name_prefix("dev", "other-project") != default_job_name_prefix("dev", "training-pipeline")
    other = PipelineSettings.from_config(lambda key: None, stack="dev", region="us-west-2", project="other-project")
    assert other.job_name_prefix == default_job_name_prefix("dev", "other-project")
    for name in ("Pulumi.yaml", "Pulumi.dev.yaml"):
        (tmp_path / name).write_text((PROJECT_DIR / name).read_text())
    (tmp_path / "Pulumi.prod.yaml").write_text((PROJECT_DIR / "Pulumi.dev.yaml").read_text())
    dev, prod = load_stack_settings("dev", tmp_path), load_stack_settings("prod", tmp_path)
    assert dev.job_name_prefix == load_stack_settings("dev").job_name_prefix == "xgb-dev-7e1940"
    assert prod.job_name_prefix == default_job_name_prefix("prod", "training-pipeline") != dev.job_name_prefix


def test_the_documented_config_example_passes_the_container_rules():
    text = (PROJECT_DIR / "docs" / "configuration.md").read_text()
    section = text.split("\n## Setting values\n", 1)[1]
    example = yaml.safe_load(section.split("```yaml\n", 1)[1].split("```", 1)[0])["config"]
    settings = PipelineSettings.from_config(
        lambda key: example.get(f"training-pipeline:{key}"), stack="dev", region="us-west-2"
    )
    assert settings.hyperparameters["eval_metric"] == "auc"
    with pytest.raises(SettingsError, match="Metric 'auc' can only be applied"):
        PipelineSettings.from_config(
            lambda key: (
                ["objective=reg:logistic", "eval_metric=auc", "num_round=5"] if key == "hyperparameters" else None
            ),
            stack="dev",
            region="us-west-2",
        )


# --- the deployed state machine refuses before anything is written ----------------------------------


def execute(outputs, name: str, execution_input) -> dict:
    sfn = boto3.client("stepfunctions", region_name=outputs["region"])
    arn = sfn.start_execution(stateMachineArn=outputs["stateMachineArn"], name=name, input=json.dumps(execution_input))[
        "executionArn"
    ]
    deadline = time.monotonic() + 60
    while (described := sfn.describe_execution(executionArn=arn))["status"] == "RUNNING":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    return described


@pytest.mark.parametrize(
    "name, execution_input, cause",
    [
        (
            f"{PREFIX}--script-mode",
            {"hyperparameters": {"sagemaker_program": "x.py", "sagemaker_submit_directory": "s3://elsewhere/x.tar.gz"}},
            "hyperparameters: Hyperparameter sagemaker_program is not allowed",
        ),
        (
            f"{PREFIX}--unknown",
            {"hyperparameters": {"bogus": "1"}},
            "hyperparameters: Extraneous hyperparameter found: bogus",
        ),
        (f"{PREFIX}--not-object", {"hyperparameters": "x"}, "hyperparameters: expected an object"),
        (f"{PREFIX}--rows-text", {"rows": "abc"}, 'rows: "abc" is not an integer'),
        (f"{PREFIX}--rows-float", {"rows": 1.5}, "rows: 1.5 is not an integer"),
        (f"{PREFIX}--rows-null", {"rows": None}, "rows: null is not an integer"),
        (f"{PREFIX}--auc", {"hyperparameters": {"eval_metric": "auc"}}, "hyperparameters: Metric 'auc' can only"),
        (
            f"{PREFIX}--eta",
            {"hyperparameters": {"eta": 2}},
            "hyperparameters: Hyperparameter eta: 2.0 is not in [0, 1]",
        ),
        (f"{PREFIX}--array", [1, 2], "execution input must be a JSON object"),
        ("xgb-dev-2-other", {}, f"must start with '{PREFIX}--'"),
        (f"{PREFIX}--under_score", {}, "not a valid SageMaker job name"),
    ],
)
def test_refused_input_fails_first_naming_the_field(stack, name, execution_input, cause):
    described = execute(stack, name, execution_input)
    assert described["status"] == "FAILED"
    assert described["error"] == "InvalidExecutionInput"
    assert cause in described["cause"], described["cause"]
    s3 = boto3.client("s3", region_name=stack["region"])
    assert s3.list_objects_v2(Bucket=stack["bucketName"], Prefix=f"runs/{name}/")["KeyCount"] == 0
    sagemaker = boto3.client("sagemaker", region_name=stack["region"])
    assert not sagemaker.list_training_jobs(NameContains=name)["TrainingJobSummaries"]


def test_json_numbers_in_hyperparameters_succeed(stack):
    described = execute(
        stack,
        f"{PREFIX}--numbers",
        {
            "rows": 200,
            "seed": 11,
            "hyperparameters": {"num_round": 3, "eta": 0.5, "objective": "binary:logistic", "eval_metric": "auc"},
        },
    )
    assert described["status"] == "SUCCEEDED", described.get("cause")
    output = json.loads(described["output"])
    assert output["run"] == {
        "rows": 200,
        "seed": 11,
        "hyperparameters": {"objective": "binary:logistic", "eval_metric": "auc", "num_round": "3", "eta": "0.5"},
        "data": None,
        "qualityGate": "",
    }
    assert output["dataset"]["seed"] == 11
    job = boto3.client("sagemaker", region_name=stack["region"]).describe_training_job(
        TrainingJobName=f"{PREFIX}--numbers"
    )
    assert job["HyperParameters"] == output["run"]["hyperparameters"]


def test_run_defaults_have_exactly_the_documented_keys():
    """A stack's run defaults (its runDefaults output, the validation state's defaults) carry
    every key execution_input.RunDefaults documents, and no other, with their types."""
    from typing import get_type_hints

    from lambda_src.execution_input import RunDefaults, TrainingLimits

    defaults = load_stack_settings("dev").run_defaults
    assert set(defaults) == set(RunDefaults.__annotations__)
    assert set(defaults["training"]) == set(TrainingLimits.__annotations__)
    for key, kind in get_type_hints(RunDefaults).items():
        assert isinstance(defaults[key], getattr(kind, "__origin__", kind) if key != "training" else dict), key
