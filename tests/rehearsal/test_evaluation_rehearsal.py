"""Evaluate, gate and register, rehearsed end to end under the stack's roles: the registered
version's metrics (its evaluation.json) equal run.py's scoring of the same predictions for each
objective family; a run below the gate ends in "Quality gate failed" with nothing registered;
run.py models / approve / reject against the rehearsal's registry."""

from __future__ import annotations

import hashlib
import json
import time

import boto3
import pytest
from emulated_execution import deployed_with, start_and_wait, states_entered

from runner import cli, metrics, results
from runner.cli import stack as cli_stack

GATE = "accuracy >= 0.5"  # the stack's: every family has accuracy or an override


@pytest.fixture(scope="module")
def stack():
    with deployed_with(qualityGate=GATE) as outputs:
        yield outputs


def _name(outputs, what: str) -> str:
    return f"{outputs['jobNamePrefix']}--{what}-{time.time_ns() % 10**9}"


def _run_scoring(s3, output: dict):
    """run.py's scoring (runner.metrics, as runner/results.py reads the objects) of the run's predictions."""
    objective = metrics.objective_of(output["run"]["hyperparameters"])
    bucket, labels_key = results.split_uri(output["dataset"]["labels_uri"])
    labels = metrics.read_numbers(
        results._chunks(s3, bucket, [labels_key]), "labels", keep=metrics.label_reader(objective, "labels")
    )
    predictions_key = f"{results.split_uri(output['transform']['outputPath'])[1]}/test.csv.out"
    predictions = metrics.read_numbers(
        metrics.without_assembly_blanks(results._chunks(s3, bucket, [predictions_key])),
        "predictions",
        expected=labels.size,
        columns=objective.classes if objective.bracketed else 1,
        bracketed=objective.bracketed,
        keep=metrics.prediction_reader(objective, labels, "predictions"),
    )
    return metrics.score(labels, predictions, objective)[0]


@pytest.mark.parametrize(
    "hyperparameters,group",
    [
        ({"objective": "binary:logistic", "eval_metric": "auc"}, "binary_classification_metrics"),
        (
            {"objective": "multi:softprob", "num_class": 2, "eval_metric": "mlogloss"},
            "multiclass_classification_metrics",
        ),
        ({"objective": "reg:squarederror", "eval_metric": "rmse"}, "regression_metrics"),
    ],
)
def test_a_run_that_passes_is_registered_with_run_py_s_metrics(stack, hyperparameters, group):
    region = stack["region"]
    gate = {} if hyperparameters["objective"] != "reg:squarederror" else {"qualityGate": "rmse <= 0.5"}
    described = start_and_wait(
        stack, _name(stack, "pass"), {"rows": 400, "seed": 3, "hyperparameters": hyperparameters, **gate}, timeout=120
    )
    assert described["status"] == "SUCCEEDED", described.get("cause")
    output = json.loads(described["output"])
    assert output["evaluation"]["gate"]["passed"] is True
    sagemaker, s3 = boto3.client("sagemaker", region_name=region), boto3.client("s3", region_name=region)
    package = sagemaker.describe_model_package(ModelPackageName=output["registration"]["modelPackageArn"])
    assert package["ModelPackageGroupName"] == stack["jobNamePrefix"]
    assert package["ModelApprovalStatus"] == "PendingManualApproval"
    container = package["InferenceSpecification"]["Containers"][0]
    assert container["ModelDataUrl"] == output["training"]["modelDataUrl"]
    assert container["Image"] == stack["trainingImage"]
    assert package["CustomerMetadataProperties"]["execution"] == described["name"]
    statistics = package["ModelMetrics"]["ModelQuality"]["Statistics"]
    assert statistics["ContentType"] == "application/json"
    bucket, key = results.split_uri(statistics["S3Uri"])
    assert key == f"runs/{described['name']}/evaluation/evaluation.json"
    registered = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    scored = _run_scoring(s3, output)
    assert {name: value["value"] for name, value in registered[group].items()} == {
        name: value for name, value in scored.items() if value is not None
    }
    assert output["evaluation"]["metrics"] == scored


def test_a_run_below_the_gate_fails_and_registers_nothing(stack):
    sagemaker = boto3.client("sagemaker", region_name=stack["region"])

    def versions():
        return sagemaker.list_model_packages(ModelPackageGroupName=stack["jobNamePrefix"])["ModelPackageSummaryList"]

    before = len(versions())
    described = start_and_wait(
        stack, _name(stack, "below"), {"rows": 200, "seed": 3, "qualityGate": "logloss <= 0.000001"}, timeout=120
    )
    assert described["status"] == "FAILED" and described["error"] == "QualityGateFailed"
    assert (
        described["cause"].startswith("Quality gate failed: logloss is ")
        and "the gate is logloss <= 1e-06" in described["cause"]
    )
    assert states_entered(stack, described["executionArn"])[-3:] == [
        "Evaluate model",
        "Quality gate",
        "Quality gate failed",
    ]
    assert len(versions()) == before


def test_a_registration_repeated_with_the_run_s_client_token_adds_no_version(stack):
    """The Register model state's ClientToken (the execution name's MD5) makes CreateModelPackage
    idempotent, as AWS documents: a retry that had reached SageMaker gets the version it created."""
    sagemaker = boto3.client("sagemaker", region_name=stack["region"])
    described = start_and_wait(stack, _name(stack, "token"), {"rows": 200, "seed": 3}, timeout=120)
    assert described["status"] == "SUCCEEDED", described.get("cause")
    arn = json.loads(described["output"])["registration"]["modelPackageArn"]
    package = sagemaker.describe_model_package(ModelPackageName=arn)
    request = {
        "ModelPackageGroupName": package["ModelPackageGroupName"],
        "InferenceSpecification": package["InferenceSpecification"],
        "ModelApprovalStatus": package["ModelApprovalStatus"],
        "CustomerMetadataProperties": package["CustomerMetadataProperties"],
    }

    def versions():
        return len(
            sagemaker.list_model_packages(ModelPackageGroupName=stack["jobNamePrefix"], MaxResults=100)[
                "ModelPackageSummaryList"
            ]
        )

    before = versions()
    token = hashlib.md5(described["name"].encode()).hexdigest()
    assert sagemaker.create_model_package(**request, ClientToken=token)["ModelPackageArn"] == arn
    assert versions() == before
    other = sagemaker.create_model_package(**request, ClientToken=f"other-{token[:20]}")["ModelPackageArn"]
    assert other != arn and versions() == before + 1


def test_a_gate_the_run_s_objective_cannot_meet_is_refused_before_anything_runs(stack):
    described = start_and_wait(stack, _name(stack, "refused"), {"qualityGate": "r2 >= 0.5"})
    assert described["status"] == "FAILED" and described["error"] == "InvalidExecutionInput"
    assert "qualityGate: r2 is not a metric of objective reg:logistic" in described["cause"]
    assert states_entered(stack, described["executionArn"])[-1] == "Execution input refused"


@pytest.fixture
def outputs_file(stack, tmp_path, monkeypatch):
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps(dict(stack)))
    monkeypatch.setattr(cli_stack, "clients", lambda outputs: cli_stack.Clients(outputs.region))
    return str(path)


def test_run_py_models_lists_versions_and_approve_changes_one(stack, outputs_file, capsys):
    described = start_and_wait(stack, _name(stack, "listed"), {"rows": 200, "seed": 5}, timeout=120)
    assert described["status"] == "SUCCEEDED", described.get("cause")
    arn = json.loads(described["output"])["registration"]["modelPackageArn"]
    version = int(arn.rsplit("/", 1)[1])
    assert cli.main(["models", "--outputs-file", outputs_file, "--json"]) == 0
    listed = {row["version"]: row for row in json.loads(capsys.readouterr().out)["models"]}
    assert listed[version]["status"] == "PendingManualApproval" and listed[version]["execution"] == described["name"]
    assert listed[version]["metrics"] == {
        key: value
        for key, value in json.loads(described["output"])["evaluation"]["metrics"].items()
        if value is not None
    }
    assert cli.main(["approve", str(version), "--outputs-file", outputs_file, "--note", "checked"]) == 0
    assert capsys.readouterr().out.strip() == f"{stack['jobNamePrefix']} version {version}: Approved"
    package = boto3.client("sagemaker", region_name=stack["region"]).describe_model_package(ModelPackageName=arn)
    assert package["ModelApprovalStatus"] == "Approved" and package["ApprovalDescription"] == "checked"
    assert package["CustomerMetadataProperties"]["execution"] == described["name"]  # kept, as on AWS
    assert cli.main(["reject", str(version), "--outputs-file", outputs_file]) == 0
    assert cli.main(["models", "--outputs-file", outputs_file]) == 0
    text = capsys.readouterr().out
    assert any(line.split()[:2] == [str(version), "Rejected"] for line in text.splitlines())


def test_approving_a_version_that_does_not_exist_is_one_line_exit_2(stack, outputs_file, capsys):
    assert cli.main(["approve", "9999", "--outputs-file", outputs_file]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"run.py: error: {stack['jobNamePrefix']} has no version 9999: run.py models lists them"
