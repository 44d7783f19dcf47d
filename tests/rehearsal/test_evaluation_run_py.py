"""run.py --local with a quality gate: the report and the record carry the gate's verdict and the
registered package, the metrics are the pipeline's, and `runs show` shows them."""

from __future__ import annotations

import json

from dev_stack import PREFIX

from runner import cli


def test_run_py_prints_the_gate_and_the_package_and_records_them(capsys, tmp_path):
    runs = tmp_path / "runs"
    name = f"{PREFIX}--gated-1"
    code = cli.main(
        [
            "--local",
            "--rows",
            "400",
            "--seed",
            "5",
            "--name",
            name,
            "--runs-dir",
            str(runs),
            "--no-progress",
            "--input",
            json.dumps({"qualityGate": "auc >= 0.5"}),
        ]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    summary = json.loads((runs / name / "summary.json").read_text())
    gate, arn = summary["quality_gate"], summary["model_package_arn"]
    assert gate["passed"] is True and gate["metric"] == "auc" and gate["value"] == summary["metrics"]["auc"]
    assert arn.endswith(f":model-package/{PREFIX}/1")
    assert summary["evaluation_uri"].endswith(f"/runs/{name}/evaluation/evaluation.json")
    assert f"  Quality gate passed: auc is {summary['metrics']['auc']:.6g}, the gate is auc >= 0.5" in out
    assert f"  registered {arn} (run.py models; run.py approve VERSION)" in out
    assert (runs / name / "plot.png").is_file()  # still drawn here, from the predictions
    functions = summary["cost"]["lambda"]  # Validate input, Generate dataset, Evaluate model
    assert functions["invocations"] == 3 and 0 < functions["evaluation_seconds"] <= functions["seconds"]
    assert cli.main(["runs", "--runs-dir", str(runs), "show", name]) == 0
    shown = capsys.readouterr().out
    assert "  Quality gate passed: auc is" in shown and f"  model package: {arn}" in shown


def test_run_py_reports_a_run_the_gate_stopped_with_its_metrics(capsys, tmp_path):
    runs = tmp_path / "runs"
    name = f"{PREFIX}--gated-2"
    code = cli.main(
        [
            "--local",
            "--rows",
            "300",
            "--seed",
            "5",
            "--name",
            name,
            "--runs-dir",
            str(runs),
            "--no-progress",
            "--input",
            json.dumps({"qualityGate": "logloss <= 0.000001"}),
        ]
    )
    out = capsys.readouterr().out
    assert code == 1
    summary = json.loads((runs / name / "summary.json").read_text())
    assert summary["failed_state"] == "Quality gate failed" and summary["error"] == "QualityGateFailed"
    assert summary["model_package_arn"] is None and summary["metrics"]["logloss"] > 0.000001
    assert f"{name} FAILED in state 'Quality gate failed'" in out
    assert "  cause: Quality gate failed: logloss is " in out
    assert "   ".join(f"{key} {value:.4f}" for key, value in summary["metrics"].items()) in out
