"""Spot training and warm pools in the settings and the definition, against botocore's model."""

from __future__ import annotations

import botocore.session
import pytest
from botocore.validate import ParamValidator
from definition_target import BUCKET, EXECUTION, TARGET, substitute

from components import settings as settings_module
from components.definition import TRAIN_STATE as TRAIN
from components.definition import build_definition
from components.pipeline import _Scope, sagemaker_statements
from components.settings import PipelineSettings, SettingsError, load_stack_settings
from runner.emulator.iam import statement_applies


def settings_with(**config) -> PipelineSettings:
    return PipelineSettings.from_config(config.get, stack="dev", region="us-west-2")


def training_parameters(**config) -> dict:
    return build_definition(settings_with(**config), **TARGET)["States"][TRAIN]["Parameters"]


def create_training_job_errors(parameters: dict) -> str:
    model = botocore.session.get_session().get_service_model("sagemaker")
    values = substitute(parameters)
    if "CheckpointConfig" in values:  # the sample S3Uri is the train channel's; this one is the run's
        values["CheckpointConfig"]["S3Uri"] = f"s3://{BUCKET}/runs/{EXECUTION}/checkpoints/"
    report = ParamValidator().validate(values, model.operation_model("CreateTrainingJob").input_shape)
    return report.generate_report() if report.has_errors() else ""


def test_spot_off_by_default_leaves_the_training_job_on_demand():
    parameters = training_parameters()
    assert "EnableManagedSpotTraining" not in parameters and "CheckpointConfig" not in parameters
    assert parameters["StoppingCondition"] == {"MaxRuntimeInSeconds": 3600}
    assert "KeepAlivePeriodInSeconds" not in parameters["ResourceConfig"]
    assert create_training_job_errors(parameters) == ""


def test_spot_training_sets_the_wait_and_the_run_scoped_checkpoints():
    parameters = training_parameters(spotTraining="true", maxWaitSeconds="5400")
    assert parameters["EnableManagedSpotTraining"] is True
    assert parameters["StoppingCondition"] == {"MaxRuntimeInSeconds": 3600, "MaxWaitTimeInSeconds": 5400}
    assert parameters["CheckpointConfig"] == {
        "S3Uri.$": f"States.Format('s3://{BUCKET}/runs/{{}}/checkpoints/', $$.Execution.Name)"
    }
    assert create_training_job_errors(parameters) == ""


def test_warm_pool_sets_the_keep_alive_period():
    parameters = training_parameters(warmPoolSeconds=1800)
    assert parameters["ResourceConfig"]["KeepAlivePeriodInSeconds"] == 1800
    assert "EnableManagedSpotTraining" not in parameters
    assert create_training_job_errors(parameters) == ""


def test_the_warm_pool_range_is_the_developer_guides_within_the_api_models():
    """The Developer Guide (train-warm-pools) and the API reference say at most 3,600 s; botocore's
    model allows 21,600: the settings take what both accept."""
    model = botocore.session.get_session().get_service_model("sagemaker")
    shape = model.operation_model("CreateTrainingJob").input_shape.members["ResourceConfig"]
    keep_alive = shape.members["KeepAlivePeriodInSeconds"].metadata
    assert keep_alive["min"] == 0 and settings_module.MAX_WARM_POOL_SECONDS <= keep_alive["max"]
    assert settings_with(warmPoolSeconds=3600).warm_pool_seconds == 3600
    with pytest.raises(SettingsError, match="^warmPoolSeconds: '3601' is not an integer between 0 and 3600$"):
        settings_with(warmPoolSeconds="3601")


@pytest.mark.parametrize(
    "config,message",
    [
        (
            {"spotTraining": "true", "warmPoolSeconds": "60"},
            "warmPoolSeconds: 60 with spotTraining true: SageMaker keeps no warm pool for spot instances",
        ),
        (
            {"spotTraining": "true", "maxWaitSeconds": "1800"},
            "maxWaitSeconds: 1800 is below maxRuntimeSeconds (3600); SageMaker requires MaxWaitTimeInSeconds >= "
            "MaxRuntimeInSeconds",
        ),
        ({"warmPoolSeconds": "21600"}, "warmPoolSeconds: '21600' is not an integer between 0 and 3600"),
        ({"warmPoolSeconds": "-1"}, "warmPoolSeconds: '-1' is not an integer between 0 and 3600"),
        ({"maxWaitSeconds": "0"}, "maxWaitSeconds: '0' is not an integer >= 1"),
        ({"spotTraining": "yes"}, "spotTraining: 'yes' is not true or false"),
    ],
)
def test_settings_refuse_what_sagemaker_refuses(config, message):
    with pytest.raises(SettingsError) as error:
        settings_with(**config)
    assert str(error.value).startswith(message) and "\n" not in str(error.value)


def test_max_wait_is_only_checked_for_spot_jobs():
    assert settings_with(maxWaitSeconds="60").max_wait_seconds == 60  # unused on demand
    assert settings_with(spotTraining="true", maxWaitSeconds="3600").max_wait_seconds == 3600


def test_a_stack_file_error_names_the_file_and_the_key(tmp_path):
    project = tmp_path
    (project / "Pulumi.yaml").write_text(settings_module.PROJECT_FILE.read_text())
    (project / "Pulumi.spot.yaml").write_text(
        "config:\n  training-pipeline:spotTraining: true\n  training-pipeline:warmPoolSeconds: 30\n"
    )
    with pytest.raises(SettingsError, match=r"^Pulumi\.spot\.yaml: training-pipeline:warmPoolSeconds: 30 with"):
        load_stack_settings("spot", project)


# -- the SageMaker role and the checkpoint prefix ----------------------------------------------------


def _sagemaker_allows(action: str, resource: str, context: dict | None = None) -> bool:
    scope = _Scope(partition="aws", region="us-west-2", account="111122223333")
    statements = sagemaker_statements(scope, f"arn:aws:s3:::{BUCKET}", settings_with().training_image)
    documents = [
        {
            "Effect": s.effect,
            "Action": s.actions,
            "Resource": s.resources,
            **({"Condition": {c.test: {c.variable: c.values} for c in s.conditions}} if s.conditions else {}),
        }
        for s in statements
    ]
    return any(statement_applies(document, action, resource, context or {}) for document in documents)


def test_the_sagemaker_role_syncs_the_checkpoints_of_a_run_and_nothing_outside_runs():
    checkpoint = f"arn:aws:s3:::{BUCKET}/runs/{EXECUTION}/checkpoints/xgboost-checkpoint_0.json"
    assert _sagemaker_allows("s3:PutObject", checkpoint)
    assert _sagemaker_allows("s3:GetObject", checkpoint)
    assert _sagemaker_allows("s3:ListBucket", f"arn:aws:s3:::{BUCKET}", {"s3:prefix": f"runs/{EXECUTION}/checkpoints/"})
    assert not _sagemaker_allows("s3:PutObject", f"arn:aws:s3:::{BUCKET}/checkpoints/xgboost-checkpoint_0.json")
    assert not _sagemaker_allows("s3:ListBucket", f"arn:aws:s3:::{BUCKET}", {"s3:prefix": "checkpoints/"})
    assert not _sagemaker_allows("s3:DeleteObject", checkpoint)
