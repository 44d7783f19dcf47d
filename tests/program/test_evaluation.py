"""The Evaluate model, Quality gate and Register model states, without the rehearsal: the gate's
rules (settings, execution input), evaluation.json's form, the definition with and without a gate
(statelint, botocore's model of CreateModelPackage), and the evaluation function on moto's S3."""

from __future__ import annotations

import json

import boto3
import pytest
from definition_target import BUCKET, EVALUATION_ARN, EXECUTION, TARGET
from dev_stack import PREFIX
from moto import mock_aws

from components.definition import (
    EVALUATE_STATE,
    GATE_FAILED_ERROR,
    GATE_FAILED_STATE,
    GATE_STATE,
    REGISTER_STATE,
    build_definition,
    render_definition,
)
from components.settings import PipelineSettings, SettingsError
from lambda_src import evaluation, execution_input, row_sizes


def settings_with(**config) -> PipelineSettings:
    return PipelineSettings.from_config(config.get, stack="dev", region="us-west-2")


# -- the gate's rules -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text,gate",
    [("auc >= 0.9", ("auc", ">=", 0.9)), (" rmse<0.25 ", ("rmse", "<", 0.25)), ("r2 > -1e-3", ("r2", ">", -0.001))],
)
def test_a_gate_is_a_metric_a_comparison_and_a_number(text, gate):
    parsed = evaluation.parse_gate(text)
    assert (parsed.metric, parsed.comparison, parsed.threshold) == gate


@pytest.mark.parametrize(
    "text,problem",
    [
        ("auc", "is not `metric comparison number`"),
        ("auc = 0.9", "is not `metric comparison number`"),
        ("speed >= 2", "'speed' is not a metric"),
        ("auc >= nan", "is not `metric comparison number`"),
    ],
)
def test_a_malformed_gate_is_refused_naming_the_fix(text, problem):
    with pytest.raises(ValueError, match="qualityGate: ") as refused:
        evaluation.parse_gate(text)
    assert problem in str(refused.value)


def test_the_verdict_names_the_metric_its_value_and_the_gate():
    gate = evaluation.parse_gate("auc >= 0.9")
    assert gate.verdict({"auc": 0.95})["passed"] is True
    failed = gate.verdict({"auc": 0.85123})
    assert failed["passed"] is False and failed["value"] == 0.85123 and failed["threshold"] == 0.9
    assert failed["message"] == "Quality gate failed: auc is 0.85123, the gate is auc >= 0.9"
    assert gate.verdict({"auc": None})["passed"] is False  # undefined (one class only) never passes


def test_pulumi_up_refuses_a_gate_the_objective_has_no_metric_for():
    assert settings_with(qualityGate="auc >= 0.9").quality_gate == "auc >= 0.9"  # reg:logistic: binary
    with pytest.raises(SettingsError, match="qualityGate: r2 is not a metric of objective reg:logistic"):
        settings_with(qualityGate="r2 >= 0.9")
    with pytest.raises(SettingsError, match="modelApprovalStatus: 'Rejected' is not one of"):
        settings_with(modelApprovalStatus="Rejected")


def test_an_execution_may_set_its_own_gate_checked_against_its_objective():
    defaults = settings_with(qualityGate="auc >= 0.9").run_defaults
    check = dict(execution_name=f"{PREFIX}--gate", job_name_prefix=PREFIX, defaults=defaults)
    assert execution_input.validate_execution({}, **check)["qualityGate"] == "auc >= 0.9"
    assert execution_input.validate_execution({"qualityGate": ""}, **check)["qualityGate"] == ""
    regression = {"hyperparameters": {"objective": "reg:squarederror"}}
    with pytest.raises(execution_input.InvalidExecutionInput, match="auc is not a metric of objective reg:squared"):
        execution_input.validate_execution(regression, **check)  # the stack's gate, the run's objective
    assert (
        execution_input.validate_execution({**regression, "qualityGate": "rmse <= 0.5"}, **check)["qualityGate"]
        == "rmse <= 0.5"
    )


# -- evaluation.json and the registration's metadata ---------------------------------------------


@pytest.mark.parametrize(
    "hyperparameters,group",
    [
        ({"objective": "binary:logistic"}, "binary_classification_metrics"),
        ({"objective": "multi:softprob", "num_class": "3"}, "multiclass_classification_metrics"),
        ({"objective": "reg:squarederror"}, "regression_metrics"),
    ],
)
def test_evaluation_json_is_sagemakers_model_quality_form(hyperparameters, group):
    objective = evaluation.objective_of(hyperparameters)
    statistics = evaluation.model_quality_statistics(objective, {"accuracy": 0.5, "auc": None})
    assert statistics == {"version": 0.0, group: {"accuracy": {"value": 0.5}}}  # undefined: left out


def test_registration_metadata_fits_create_model_package():
    import botocore.session
    from botocore.validate import ParamValidator

    hyperparameters = {
        "objective": "binary:logistic",
        "eval_metric": "auc,error",
        "num_round": "5",
        **{f"x{index}": str(index) for index in range(60)},
    }
    description, metadata = evaluation.registration(
        EXECUTION,
        hyperparameters,
        {"train": 9, "test": 3},
        {"kind": "s3", "uri": "s3://b/k.csv"},
        "binary:logistic",
        {"auc": 0.5, "f1": None},
    )
    assert len(metadata) == evaluation.MAX_METADATA and metadata["execution"] == EXECUTION
    assert metadata["metric.auc"] == "0.5" and "metric.f1" not in metadata
    assert "hyperparameter.eval_metric" not in metadata  # a comma: only in the description
    assert len(description) <= evaluation.MAX_DESCRIPTION and description.startswith('{"data":{"kind":"s3"')
    model = botocore.session.get_session().get_service_model("sagemaker").operation_model("CreateModelPackage")
    request = {
        "ModelPackageGroupName": "g",
        "ModelPackageDescription": description,
        "CustomerMetadataProperties": metadata,
    }
    report = ParamValidator().validate(request, model.input_shape)
    assert not report.has_errors(), report.generate_report()


# -- the definition -------------------------------------------------------------------------------


@pytest.mark.parametrize("gate", ["", "auc >= 0.9"])
def test_the_definition_with_and_without_a_gate_passes_statelint(gate):
    from statelint.config import Config
    from statelint.linter import Linter

    text = render_definition(settings_with(qualityGate=gate), **TARGET)
    assert Linter.validate(text, Config([], False, False)) == []


def test_evaluation_gates_then_registers():
    states = build_definition(settings_with(), **TARGET)["States"]
    assert states["Batch transform"]["Next"] == EVALUATE_STATE
    evaluate = states[EVALUATE_STATE]
    assert evaluate["Resource"] == EVALUATION_ARN and evaluate["Next"] == GATE_STATE
    # The function gets the checked run and the dataset record, never the caller's input.
    assert evaluate["Parameters"] == {
        "executionName.$": "$$.Execution.Name",
        "hyperparameters.$": "$.run.hyperparameters",
        "qualityGate.$": "$.run.qualityGate",
        "rows.$": "$.dataset.rows",
        "source.$": "$.dataset.source",
    }
    gate = states[GATE_STATE]
    assert (
        gate["Choices"] == [{"Variable": "$.evaluation.gate.passed", "BooleanEquals": False, "Next": GATE_FAILED_STATE}]
        and gate["Default"] == REGISTER_STATE
    )
    assert states[GATE_FAILED_STATE] == {
        "Type": "Fail",
        "Error": GATE_FAILED_ERROR,
        "CausePath": "$.evaluation.gate.message",
    }
    assert states[REGISTER_STATE]["End"] is True


SAMPLES = {
    "ModelPackageDescription": '{"run":"x"}',
    "ModelDataUrl": f"s3://{BUCKET}/runs/{EXECUTION}/model/{EXECUTION}/output/model.tar.gz",
    "S3Uri": f"s3://{BUCKET}/runs/{EXECUTION}/evaluation/evaluation.json",
    "CustomerMetadataProperties": {"execution": EXECUTION, "metric.auc": "0.99"},
    "Value": EXECUTION,
    "ClientToken": "0123456789abcdef0123456789abcdef",  # States.Hash(..., 'MD5'): 32 hex digits
}


def _substitute(value):
    if isinstance(value, list):
        return [_substitute(item) for item in value]
    if not isinstance(value, dict):
        return value
    return {
        key[:-2] if key.endswith(".$") else key: SAMPLES[key[:-2]] if key.endswith(".$") else _substitute(child)
        for key, child in value.items()
    }


@pytest.mark.parametrize("status", ["PendingManualApproval", "Approved"])
def test_register_model_parameters_match_create_model_package(status):
    import botocore.session
    from botocore.validate import ParamValidator

    settings = settings_with(modelApprovalStatus=status)
    register = build_definition(settings, **TARGET)["States"][REGISTER_STATE]
    # Not among SageMaker's optimized integrations: the AWS SDK integration, in the stack's partition.
    assert register["Resource"] == "arn:aws:states:::aws-sdk:sagemaker:createModelPackage"
    parameters = register["Parameters"]
    assert parameters["ModelPackageGroupName"] == settings.job_name_prefix
    assert parameters["ModelApprovalStatus"] == status
    assert parameters["InferenceSpecification"]["Containers"][0]["Image"] == settings.training_image
    assert parameters["ModelMetrics"]["ModelQuality"]["Statistics"] == {
        "ContentType": "application/json",
        "S3Uri.$": "$.evaluation.evaluationUri",
    }
    model = botocore.session.get_session().get_service_model("sagemaker").operation_model("CreateModelPackage")
    report = ParamValidator().validate(_substitute(parameters), model.input_shape)
    assert not report.has_errors(), report.generate_report()
    assert register["Retry"][0]["ErrorEquals"] == ["SageMaker.SageMakerException"]


def test_the_gate_failed_state_is_reached_only_through_the_gate():
    states = build_definition(settings_with(), **TARGET)["States"]
    sources = [
        name
        for name, state in states.items()
        if GATE_FAILED_STATE in json.dumps({k: v for k, v in state.items() if k != "Type"})
    ]
    assert sources == [GATE_STATE]


# -- the evaluation function on moto's S3 --------------------------------------------------------


@pytest.fixture
def s3(monkeypatch):
    with mock_aws():
        client = boto3.client("s3", region_name="us-west-2")
        client.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
        monkeypatch.setenv(execution_input.BUCKET_VARIABLE, BUCKET)
        monkeypatch.setenv(execution_input.JOB_NAME_PREFIX_VARIABLE, PREFIX)
        monkeypatch.setenv("AWS_DEFAULT_REGION", "us-west-2")
        yield client


def _run_objects(s3, name, labels: bytes, predictions: bytes):
    keys = evaluation.run_keys(name)
    s3.put_object(Bucket=BUCKET, Key=keys["labels"], Body=labels)
    s3.put_object(Bucket=BUCKET, Key=keys["predictions"], Body=predictions)
    return keys


def test_the_function_scores_writes_evaluation_json_and_judges_the_gate(s3):
    name = f"{PREFIX}--eval-1"
    keys = _run_objects(s3, name, b"0\n1\n1\n0\n", b"0.1\n0.8\n0.4\n0.3\n")
    result = evaluation.handler(
        {
            "executionName": name,
            "hyperparameters": {"objective": "binary:logistic"},
            "qualityGate": "accuracy >= 0.9",
            "rows": {"train": 8, "test": 4},
            "source": {"kind": "generated"},
        },
        None,
    )
    assert result["metrics"]["accuracy"] == 0.75 and result["metrics"]["auc"] == 1.0
    assert result["gate"]["passed"] is False
    assert result["gate"]["message"] == "Quality gate failed: accuracy is 0.75, the gate is accuracy >= 0.9"
    written = json.loads(s3.get_object(Bucket=BUCKET, Key=keys["evaluation"])["Body"].read())
    assert written["binary_classification_metrics"]["auc"] == {"value": 1.0}
    assert result["evaluationUri"] == f"s3://{BUCKET}/{keys['evaluation']}"


def test_the_function_takes_no_run_of_another_stack(s3):
    with pytest.raises(execution_input.InvalidExecutionInput):
        evaluation.handler({"executionName": "xgb-other-123456--eval-1", "hyperparameters": {}}, None)


def test_predictions_no_metric_reads_are_evaluated_as_missing_and_fail_a_gate(s3):
    name = f"{PREFIX}--eval-2"
    _run_objects(s3, name, b"0\n1\n", b"0.5\n0.7\n")
    unscored = {"executionName": name, "hyperparameters": {"objective": "rank:pairwise"}, "rows": {"test": 2}}
    result = evaluation.handler(unscored, None)
    assert result["metrics"] is None and "rank:pairwise is not scored" in result["missing"]
    assert result["gate"]["passed"] is True  # no gate: registered, without metrics
    name = f"{PREFIX}--eval-3"
    _run_objects(s3, name, b"0\n1\n", b"0.5\n")  # a prediction short
    result = evaluation.handler(
        {
            "executionName": name,
            "hyperparameters": {"objective": "binary:logistic"},
            "qualityGate": "auc >= 0.5",
            "rows": {"test": 2},
        },
        None,
    )
    assert result["gate"]["passed"] is False
    assert result["gate"]["message"].startswith(
        "Quality gate failed: auc >= 0.5 cannot be checked, cannot score: "
        "the batch transform output has 1 lines, expected 2"
    )


def test_generated_runs_keep_the_training_range_and_prepared_data_beyond_the_bound_is_refused(s3):
    """The generator caps its held-out set, so generated rows are bounded by the training instance
    again (132 M on an ml.m5.xlarge), not by the evaluation; prepared data beyond the bound is
    refused while it is read (data_preparation), and the function itself fails before reading."""
    bound = evaluation.MAX_HELD_OUT_ROWS
    xlarge = 16 * 2**30 // row_sizes.TRAINING_ROW_MEMORY_BYTES
    assert xlarge > 6 * bound
    execution_input.check_rows_fit(xlarge, {"instance_type": "ml.m5.xlarge", "instance_count": 1}, 1000)
    assert settings_with(rows=xlarge, volumeSizeGb=1000).rows == xlarge
    with pytest.raises(execution_input.InvalidExecutionInput, match="do not fit in memory"):
        execution_input.check_rows_fit(xlarge + 1, {"instance_type": "ml.m5.xlarge", "instance_count": 1}, 1000)
    with pytest.raises(evaluation.TooManyRows, match="hold out fewer rows"):
        evaluation.handler(
            {"executionName": f"{PREFIX}--big", "hyperparameters": {}, "rows": {"test": bound + 1}}, None
        )


def test_the_blank_line_sagemaker_s_assembly_leaves_after_a_mini_batch_is_not_a_prediction(s3):
    name = f"{PREFIX}--eval-4"
    _run_objects(s3, name, b"0\n1\n1\n", b"0.1\n0.8\n\n0.7\n\n")  # two mini-batches, each followed by a blank
    result = evaluation.handler(
        {"executionName": name, "hyperparameters": {"objective": "binary:logistic"}, "rows": {"test": 3}}, None
    )
    assert result["missing"] is None and result["metrics"]["accuracy"] == 1.0
    name = f"{PREFIX}--eval-5"
    _run_objects(s3, name, b"0\n1\n", b"\n0.1\n0.8\n")  # a blank line first is no assembly's: refused
    assert evaluation.handler(
        {"executionName": name, "hyperparameters": {"objective": "binary:logistic"}, "rows": {"test": 2}}, None
    )["missing"].startswith("cannot score: ")
