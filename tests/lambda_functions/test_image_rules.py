"""Each SageMaker XGBoost image's rules (lambda_src/xgboost_hyperparameters.IMAGES): the stack picks
one of the images AWS ships (3.2-0 by default, 3.0-5, 1.7-1), and `pulumi up` (the settings) and the
first state check hyperparameters against that image's: the containers' validation is the same list
on all three, what their xgboost then does with it is not. Each difference below fails on the
library of the image that refuses it and trains on the others' (test_the_differences_are_the_libraries').
"""

from __future__ import annotations

import json
import subprocess
import textwrap

import pytest

from components.definition import VALIDATE_STATE, build_definition
from components.settings import PROJECT_FILE, PipelineSettings, SettingsError, load_stack_settings, project_defaults
from lambda_src import execution_input
from lambda_src import xgboost_hyperparameters as rules

VERSIONS = ("3.2-0", "3.0-5", "1.7-1")
BASE = {"num_round": "2", "objective": "reg:logistic", "eval_metric": "rmse"}
ACCEPTED = None
# (hyperparameters over BASE, training instance type, {image: what its refusal says, or ACCEPTED})
DIFFERENCES = [
    # 1.7.4's tree_method auto builds with exact below 2^22 rows, which has no unlimited depth; 3.x's is hist.
    (
        {"max_depth": "0"},
        "ml.m5.xlarge",
        {"3.2-0": ACCEPTED, "3.0-5": ACCEPTED, "1.7-1": "tree_method auto builds with exact on xgboost 1.7.4"},
    ),
    # xgboost 3.2.0 has no gpu_hist ("Invalid Input: 'gpu_hist'"), even on a GPU instance.
    (
        {"tree_method": "gpu_hist"},
        "ml.g4dn.xlarge",
        {"3.2-0": "gpu_hist is not in xgboost 3.2.0", "3.0-5": ACCEPTED, "1.7-1": ACCEPTED},
    ),
    # 3.x ignores `predictor` ("Parameters: { predictor } are not used"); 1.7.4 needs a GPU for it.
    (
        {"predictor": "gpu_predictor"},
        "ml.m5.xlarge",
        {"3.2-0": ACCEPTED, "3.0-5": ACCEPTED, "1.7-1": "predictor: gpu_predictor needs a GPU instance"},
    ),
    # 3.2.0's CPU hist and approx sample gradient_based; 3.0.5 and 1.7.4 only on gpu_hist.
    (
        {"sampling_method": "gradient_based", "subsample": "0.5"},
        "ml.m5.xlarge",
        {
            "3.2-0": ACCEPTED,
            "3.0-5": "gradient_based needs tree_method gpu_hist (xgboost 3.0.5's",
            "1.7-1": "gradient_based needs tree_method gpu_hist (xgboost 1.7.4's",
        },
    ),
    (
        {"sampling_method": "gradient_based", "subsample": "0.5", "tree_method": "exact"},
        "ml.m5.xlarge",
        {
            "3.2-0": "gradient_based needs tree_method hist or approx (xgboost 3.2.0's",
            "3.0-5": "gradient_based needs tree_method gpu_hist",
            "1.7-1": "gradient_based needs tree_method gpu_hist",
        },
    ),
    # 3.2.0 takes a logistic objective's base_score in [0, 1], the others in (0, 1) (dmlc/xgboost#11499).
    (
        {"base_score": "1"},
        "ml.m5.xlarge",
        {
            "3.2-0": ACCEPTED,
            "3.0-5": "base_score: 1 is not in (0, 1), as reg:logistic needs on xgboost 3.0.5",
            "1.7-1": "base_score: 1 is not in (0, 1), as reg:logistic needs on xgboost 1.7.4",
        },
    ),
    (
        {"base_score": "1.00001"},
        "ml.m5.xlarge",
        {
            "3.2-0": "base_score: 1.00001 is not in [0, 1], as reg:logistic needs on xgboost 3.2.0",
            "3.0-5": "base_score: 1.00001 is not in (0, 1)",
            "1.7-1": "base_score: 1.00001 is not in (0, 1)",
        },
    ),
]


def settings_of(
    version: str, hyperparameters: dict[str, str], instance_type: str = "ml.m5.xlarge", **config
) -> PipelineSettings:
    values = {
        "xgboostVersion": version,
        "trainingInstanceType": instance_type,
        "hyperparameters": [f"{name}={value}" for name, value in hyperparameters.items()],
        **config,
    }
    return PipelineSettings.from_config(values.get, stack="dev", region="us-west-2")


def test_the_images_are_the_three_aws_ships_and_the_default_is_the_one_still_in_patch_support():
    assert {version: image.library for version, image in rules.IMAGES.items()} == {
        "3.2-0": "3.2.0",
        "3.0-5": "3.0.5",
        "1.7-1": "1.7.4",
    }
    assert project_defaults()["xgboostVersion"] == "3.2-0"
    assert (
        PipelineSettings.from_config(lambda key: None, stack="dev", region="us-west-2").training_image
        == "246618743249.dkr.ecr.us-west-2.amazonaws.com/sagemaker-xgboost:3.2-0"
    )


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize(
    "region, registry",
    [
        ("us-east-1", "683313688378.dkr.ecr.us-east-1.amazonaws.com"),
        ("cn-north-1", "450853457545.dkr.ecr.cn-north-1.amazonaws.com.cn"),
    ],
)
def test_each_image_resolves_to_its_regions_image(version, region, registry):
    """From sagemaker-core's own table, which lists all three (test_images.py holds both readings equal)."""
    settings = PipelineSettings.from_config({"xgboostVersion": version}.get, stack="dev", region=region)
    assert settings.training_image == f"{registry}/sagemaker-xgboost:{version}"
    assert settings.run_defaults["training"]["image_version"] == version


@pytest.mark.parametrize("version", ["1.5-1", "1.2-2", "latest", "1", "3.2", "3.1-0", ""])
def test_any_other_version_is_refused_in_one_line_listing_the_images(version):
    with pytest.raises(SettingsError) as error:
        PipelineSettings.from_config({"xgboostVersion": version}.get, stack="dev", region="us-west-2")
    assert str(error.value) == (
        f"xgboostVersion: {version!r} is not one of 3.2-0, 3.0-5, 1.7-1 (the SageMaker XGBoost images AWS ships)"
    )


def test_a_stack_pinning_1_7_1_keeps_its_image_and_its_rules(tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    (project / "Pulumi.yaml").write_text(PROJECT_FILE.read_text())
    (project / "Pulumi.old.yaml").write_text(
        'config:\n  aws:region: us-west-2\n  training-pipeline:xgboostVersion: "1.7-1"\n'
    )
    settings = load_stack_settings("old", project)
    assert settings.training_image == "246618743249.dkr.ecr.us-west-2.amazonaws.com/sagemaker-xgboost:1.7-1"
    assert settings.run_defaults["training"]["image_version"] == "1.7-1"
    (project / "Pulumi.old.yaml").write_text(
        'config:\n  training-pipeline:xgboostVersion: "1.7-1"\n'
        '  training-pipeline:hyperparameters: ["num_round=5", "max_depth=0"]\n'
    )
    with pytest.raises(SettingsError) as error:
        load_stack_settings("old", project)
    assert str(error.value) == (
        "Pulumi.old.yaml: training-pipeline:hyperparameters: Hyperparameter max_depth: 0 "
        "(no limit) needs tree_method approx or hist; tree_method auto builds with exact "
        "on xgboost 1.7.4"
    )


@pytest.mark.parametrize(
    "overrides, instance_type, outcomes", DIFFERENCES, ids=[",".join(case[0]) for case in DIFFERENCES]
)
def test_pulumi_up_checks_the_hyperparameters_against_the_chosen_images_rules(overrides, instance_type, outcomes):
    for version, refusal in outcomes.items():
        if refusal is ACCEPTED:
            settings_of(version, {**BASE, **overrides}, instance_type)
            continue
        with pytest.raises(SettingsError) as error:
            settings_of(version, {**BASE, **overrides}, instance_type)
        assert str(error.value).startswith("hyperparameters: Hyperparameter ") and refusal in str(error.value), version
        assert "\n" not in str(error.value)


@pytest.mark.parametrize(
    "overrides, instance_type, outcomes", DIFFERENCES, ids=[",".join(case[0]) for case in DIFFERENCES]
)
def test_the_first_state_checks_an_executions_hyperparameters_against_the_stacks_image(
    overrides, instance_type, outcomes
):
    """The validation function's event carries the stack's runDefaults, the image version among them."""
    for version, refusal in outcomes.items():
        defaults = settings_of(version, BASE, instance_type).run_defaults
        event = {
            "executionName": "xgb-dev--a",
            "input": {"hyperparameters": overrides},
            "jobNamePrefix": "xgb-dev",
            "defaults": defaults,
            "bucket": "bucket",
        }
        if refusal is ACCEPTED:
            assert execution_input.handle(event)["hyperparameters"] == {**BASE, **overrides}
            continue
        with pytest.raises(execution_input.InvalidExecutionInput) as error:
            execution_input.handle(event)
        assert str(error.value).startswith("hyperparameters: Hyperparameter ") and refusal in str(error.value), version


def test_the_rules_the_first_state_applies_are_those_of_the_image_the_execution_trains_on():
    """Both come from one document, the definition: its validation state's defaults name the image
    version whose tag its training state runs (the function's environment is another resource,
    updated apart from the state machine)."""
    for version in VERSIONS:
        definition = build_definition(
            settings_of(version, BASE),
            partition="aws",
            bucket="bucket",
            sagemaker_role_arn="arn:aws:iam::111122223333:role/m",
            validation_function_arn="arn:aws:lambda:us-west-2:111122223333:function:v",
            seed_function_arn="arn:aws:lambda:us-west-2:111122223333:function:s",
            evaluation_function_arn="arn:aws:lambda:us-west-2:111122223333:function:e",
        )
        image = definition["States"]["Train model (XGBoost)"]["Parameters"]["AlgorithmSpecification"]["TrainingImage"]
        checked = definition["States"][VALIDATE_STATE]["Parameters"]["defaults"]["training"]["image_version"]
        assert image.endswith(f":{version}") and checked == version


def test_defaults_naming_no_image_are_refused_in_one_line():
    """runDefaults of a stack deployed before the image was chosen (run.py reads them from its outputs)."""
    with pytest.raises(execution_input.InvalidExecutionInput) as error:
        execution_input.validate_execution(
            {}, execution_name="xgb-dev--a", job_name_prefix="xgb-dev", defaults={"rows": 5, "hyperparameters": BASE}
        )
    assert str(error.value) == (
        "the stack's runDefaults name no image version (training.image_version): update the stack with `pulumi up`"
    )
    with pytest.raises(rules.HyperparameterError, match=r"^xgboostVersion: '0.90-2' is not one of 3.2-0, 3.0-5, 1.7-1"):
        rules.validate(BASE, image_version="0.90-2")


def test_distributed_training_refuses_the_exact_updater_on_every_image():
    """grow_colmaker is exact, which every image's xgboost fails in distributed training
    (updater_colmaker.cc: "Updater `grow_colmaker` or `exact` tree method doesn't support distributed training")."""
    for version in VERSIONS:
        with pytest.raises(SettingsError, match="Hyperparameter updater: grow_colmaker cannot train on 2 instances"):
            settings_of(version, {**BASE, "updater": "grow_colmaker"}, trainingInstanceCount=2)
        settings_of(version, {**BASE, "updater": "grow_histmaker"}, trainingInstanceCount=2)


@pytest.mark.parametrize("version, refused", [("3.2-0", False), ("3.0-5", True), ("1.7-1", False)])
def test_few_generated_rows_with_a_logistic_objective_are_refused_where_base_score_is_estimated_and_checked(
    version, refused
):
    """3.x estimates base_score from the training labels; on one label it is 0 or 1, which 3.0.5's
    logistic loss then fails (3.2.0 no longer checks it; 1.7.4 starts from 0.5)."""
    defaults = settings_of(version, BASE).run_defaults
    for objective in ("reg:logistic", "binary:logistic"):
        run = {"rows": 199, "hyperparameters": {"objective": objective}}
        if refused:
            with pytest.raises(execution_input.InvalidExecutionInput) as error:
                execution_input.validate_execution(
                    run, execution_name="xgb-dev--a", job_name_prefix="xgb-dev", defaults=defaults
                )
            assert str(error.value) == (
                f"hyperparameters: Hyperparameter objective: {objective} on image 3.0-5 needs both labels among the "
                "training rows (xgboost 3.0.5 estimates base_score from them, and fails 0 or 1): ask for at least "
                "200 rows, not 199, or set base_score (e.g. 0.5)"
            )
        else:
            execution_input.validate_execution(
                run, execution_name="xgb-dev--a", job_name_prefix="xgb-dev", defaults=defaults
            )
        for enough in (
            {"rows": 200},
            {"rows": 1, "hyperparameters": {"objective": objective, "base_score": "0.5"}},
            {"rows": 1, "hyperparameters": {"objective": "binary:hinge"}},
        ):
            execution_input.validate_execution(
                enough, execution_name="xgb-dev--a", job_name_prefix="xgb-dev", defaults=defaults
            )


# What the container hands xgb.train for each difference, trained on each image's own library in its
# environment (runner/emulator/image_environments.py): the image that refuses it fails, the others train.
_TRAIN = textwrap.dedent("""
    import json, sys, warnings
    import numpy as np, xgboost as xgb
    warnings.simplefilter("ignore")
    x = np.array([[i % 101, (i * 37) % 101] for i in range(200)], dtype=float)
    labels = (x[:, 1] >= 3 * x[:, 0] + 5).astype(float) if sys.argv[2] == "both" else np.zeros(200)
    matrix = xgb.DMatrix(x, label=labels)
    outcomes = []
    for params in json.loads(sys.argv[1]):
        try:
            xgb.train(params, matrix, 2, evals=[(matrix, "train")], verbose_eval=False).predict(matrix)
            outcomes.append(None)
        except xgb.core.XGBoostError as error:
            outcomes.append(str(error).splitlines()[0])
    print(json.dumps(outcomes))
""")


@pytest.mark.parametrize("version", VERSIONS)
def test_the_differences_are_the_libraries(version):
    from runner.emulator.image_environments import python_for

    cases = [overrides for overrides, instance_type, _ in DIFFERENCES if not instance_type.startswith("ml.g")]
    params = [rules.validate_as_container({**BASE, **overrides}) for overrides in cases]
    params = [{key: value for key, value in config.items() if key != "num_round"} for config in params]

    def train(params: list[dict], labels: str = "both") -> list[str | None]:
        done = subprocess.run(
            [str(python_for(version)), "-c", _TRAIN, json.dumps(params), labels],
            capture_output=True,
            text=True,
            check=True,
            env={"CUDA_VISIBLE_DEVICES": ""},
        )
        return json.loads(done.stdout.splitlines()[-1])  # after what the library logs to stdout

    for overrides, outcome in zip(cases, train(params), strict=True):
        expected = next(case[2][version] for case in DIFFERENCES if case[0] == overrides)
        assert (outcome is None) == (expected is ACCEPTED), (version, overrides, outcome)
    # The GPU case: 3.2.0 no longer knows gpu_hist at all; the others fail it only for want of a GPU.
    failure = train([{"tree_method": "gpu_hist"}])[0]
    assert ("Invalid Input: 'gpu_hist'" in failure) == (version == "3.2-0"), failure
    # One label, a logistic objective, no base_score: 3.0.5 estimates 0 and fails it.
    failure = train([{"objective": "reg:logistic"}, {"objective": "reg:logistic", "base_score": 0.5}], labels="zeros")
    assert failure[1] is None and (failure[0] is not None) == (version == "3.0-5"), failure
    assert version != "3.0-5" or "base_score must be in (0,1) for logistic loss, got: 0" in failure[0]
