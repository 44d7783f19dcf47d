"""`run.py runs`: list, show and compare past runs, local and AWS alike, from runs/."""

import copy
import json
import os
import re
import subprocess
import sys

import pytest
from dev_stack import PREFIX

from components import PROJECT_DIR
from runner import cli


@pytest.fixture(scope="module")
def runs_dir(tmp_path_factory):
    """A real local run's folder, an AWS-shaped run made from it, a failed one and two broken folders."""
    runs = tmp_path_factory.mktemp("runs")
    code = cli.main(
        ["--local", "--json", "--rows", "600", "--seed", "5", "--name", f"{PREFIX}--local-1", "--runs-dir", str(runs)]
    )
    assert code == 0
    local = json.loads((runs / f"{PREFIX}--local-1" / "summary.json").read_text())

    aws = copy.deepcopy(local)
    aws.update(
        execution_name="xgb-prod--20260101-120000-abcdef",
        started="2026-01-01T12:00:00+00:00",
        hyperparameters={**local["hyperparameters"], "num_round": "50"},
        where={
            "local": False,
            "partition": "aws",
            "account": "111122223333",
            "region": "eu-west-1",
            "stack": "prod",
            "stack_file": "Pulumi.prod.yaml",
            "state_machine_arn": "arn:aws:states:eu-west-1:111122223333:stateMachine:m",
        },
    )
    aws["training"].update(instance_type="ml.m5.2xlarge", instance_count=2, billable_seconds=62)
    aws["metrics"] = {**local["metrics"], "auc": 0.91}
    aws["quality_gate"] = {
        "passed": True,
        "metric": "auc",
        "value": 0.91,
        "comparison": ">=",
        "threshold": 0.9,
        "message": "Quality gate passed: auc is 0.91, the gate is auc >= 0.9",
    }
    aws["model_package_arn"] = "arn:aws:sagemaker:eu-west-1:111122223333:model-package/xgb-prod-0a1b2c/7"
    (runs / aws["execution_name"]).mkdir()
    (runs / aws["execution_name"] / "summary.json").write_text(json.dumps(aws))

    failed = copy.deepcopy(aws)
    failed.update(
        execution_name="xgb-prod--20260102-120000-fedcba",
        started="2026-01-02T12:00:00+00:00",
        status="FAILED",
        metrics=None,
        failed_state="Train model (XGBoost)",
        error="SageMaker.AmazonSageMakerException",
        cause="ResourceLimitExceeded",
        quality_gate=None,
        model_package_arn=None,
    )
    failed["training"]["billable_seconds"] = None
    (runs / failed["execution_name"]).mkdir()
    (runs / failed["execution_name"] / "summary.json").write_text(json.dumps(failed))

    wine = copy.deepcopy(aws)  # an S3 data source on the 3.0-5 image, imageVersion recorded
    wine.update(
        execution_name="xgb-prod--20260103-120000-aaaaaa",
        started="2026-01-03T12:00:00+00:00",
        imageVersion="3.0-5",
        hyperparameters={**aws["hyperparameters"], "objective": "multi:softprob"},
        data={"kind": "s3", "uri": "s3://team-data/wine/wine.csv", "label": "cultivar"},
    )
    wine["training"].update(
        image="246618743249.dkr.ecr.us-west-2.amazonaws.com/sagemaker-xgboost:3.0-5",
        final_metrics={"validation:mlogloss": 0.25, "train:mlogloss": 0.1},
        model_file={"rounds": 9, "best_iteration": 8, "trees": 27, "format": "xgboost UBJSON"},
    )
    wine["cost"] = {"total_usd": 0.0123}
    wine["quality_gate"] = {
        **aws["quality_gate"],
        "passed": False,
        "metric": "accuracy",
        "value": 0.8,
        "threshold": 0.95,
        "message": "Quality gate failed: accuracy is 0.8, the gate is accuracy >= 0.95",
    }
    wine.update(status="FAILED", failed_state="Quality gate failed", model_package_arn=None)
    (runs / wine["execution_name"]).mkdir()
    (runs / wine["execution_name"] / "summary.json").write_text(json.dumps(wine))
    cancer = copy.deepcopy(local)  # a local file, the image known only from its URI
    cancer.update(
        execution_name=f"{PREFIX}--cancer",
        data={"kind": "file", "label": "diagnosis", "uri": f"s3://b/runs/{PREFIX}--cancer/upload/data.csv"},
    )
    cancer["where"]["data_file"] = "/home/me/breast_cancer.csv"
    (runs / f"{PREFIX}--cancer").mkdir()
    (runs / f"{PREFIX}--cancer" / "summary.json").write_text(json.dumps(cancer))

    (runs / f"{PREFIX}--interrupted").mkdir()
    (runs / f"{PREFIX}--garbled").mkdir()
    (runs / f"{PREFIX}--garbled" / "summary.json").write_text("{not json")
    return runs


def workbench(capsys, runs_dir, *argv):
    code = cli.main(["runs", "--runs-dir", str(runs_dir), *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.rehearsal  # deploys the dev stack
def test_the_list_shows_every_folder_newest_first_with_where_status_rows_metrics_and_cost(capsys, runs_dir):
    code, out, err = workbench(capsys, runs_dir)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == f"7 run(s) in {runs_dir}/"
    body = {line.split()[0]: line for line in lines[2:]}
    assert "local (dev)" in body[f"{PREFIX}--local-1"] and "none (local)" in body[f"{PREFIX}--local-1"]
    assert " 600 " in body[f"{PREFIX}--local-1"]
    aws = body["xgb-prod--20260101-120000-abcdef"]
    assert "AWS eu-west-1 (prod)" in aws and "0.9100" in aws and "2 x ml.m5.2xlarge, 62 billable s" in aws
    assert (
        "FAILED" in body["xgb-prod--20260102-120000-fedcba"] and "unknown" in body["xgb-prod--20260102-120000-fedcba"]
    )
    assert "no summary.json" in body[f"{PREFIX}--interrupted"]
    assert "summary.json unreadable" in body[f"{PREFIX}--garbled"]
    # Runs told apart: data source, label, objective, image, rounds, SageMaker's validation metric.
    local = body[f"{PREFIX}--local-1"]
    assert " generated " in local and " label " in local and " reg:logistic " in local and " 3.2-0 " in local
    assert re.search(
        r" 600 +5 +rmse ", local
    )  # 5 rounds, read from the local run's own model file (3.x: no best without early stopping)
    wine = body["xgb-prod--20260103-120000-aaaaaa"]
    assert "s3://team-data/wine/wine.csv" in wine and " cultivar " in wine and " multi:softprob " in wine
    assert " 3.0-5 " in wine and " 9 (best 8) " in wine and "mlogloss 0.2500" in wine and "$0.0123" in wine
    assert " breast_cancer.csv " in body[f"{PREFIX}--cancer"] and " diagnosis " in body[f"{PREFIX}--cancer"]
    # The quality gate's verdict and the registered version, in compact columns.
    header = re.split(r"\s{2,}", lines[1])

    def gate_and_model(line):
        cells = dict(zip(header, re.split(r"\s{2,}", line), strict=True))
        return cells["GATE"], cells["MODEL"]

    assert gate_and_model(local) == ("none", "v1")  # the dev stack sets no gate; the rehearsal registered v1
    assert gate_and_model(aws) == ("auc>=0.9 pass", "v7")
    assert gate_and_model(wine) == ("accuracy>=0.95 FAIL", "-")
    assert gate_and_model(body["xgb-prod--20260102-120000-fedcba"]) == ("-", "-")  # ended before Evaluate model
    names = [line.split()[0] for line in lines[2:]]
    assert (
        names.index(f"{PREFIX}--local-1")
        < names.index("xgb-prod--20260102-120000-fedcba")
        < names.index("xgb-prod--20260101-120000-abcdef")
    )

    code, out, _ = workbench(capsys, runs_dir, "--json")
    record = {run["name"]: run for run in json.loads(out)["runs"]}
    assert record["xgb-prod--20260101-120000-abcdef"]["metrics"]["auc"] == 0.91
    assert record[f"{PREFIX}--local-1"]["rows"] == 600
    assert record["xgb-prod--20260103-120000-aaaaaa"]["image_version"] == "3.0-5"
    assert record[f"{PREFIX}--local-1"]["rounds"] == 5
    assert record["xgb-prod--20260101-120000-abcdef"]["quality_gate"] == {
        "gate": "auc >= 0.9",
        "passed": True,
        "value": 0.91,
    }
    assert record["xgb-prod--20260101-120000-abcdef"]["model_package_arn"].endswith(":model-package/xgb-prod-0a1b2c/7")
    assert record["xgb-prod--20260103-120000-aaaaaa"]["quality_gate"]["passed"] is False
    assert record[f"{PREFIX}--local-1"]["quality_gate"] == {"gate": None, "passed": True, "value": None}
    assert record["xgb-prod--20260102-120000-fedcba"]["quality_gate"] is None
    assert record["xgb-prod--20260102-120000-fedcba"]["model_package_arn"] is None


@pytest.mark.rehearsal  # deploys the dev stack
def test_show_prints_one_run_by_name_or_unique_prefix(capsys, runs_dir):
    code, out, err = workbench(capsys, runs_dir, "show", f"{PREFIX}--loc")
    assert code == 0, err
    assert out.startswith(f"{PREFIX}--local-1  SUCCEEDED  (local (dev))")
    assert "seed 5" in out and "stack dev (Pulumi.dev.yaml)" in out and "predictions.csv" in out

    code, out, _ = workbench(capsys, runs_dir, "show", "xgb-prod--20260102")
    assert "failed in Train model (XGBoost): SageMaker.AmazonSageMakerException: ResourceLimitExceeded" in out

    code, out, _ = workbench(capsys, runs_dir, "show", "aaaaaa")  # any unique part of the name
    assert out.startswith("xgb-prod--20260103-120000-aaaaaa") and "rounds 9 (best 8)" in out
    assert "validation (SageMaker's final metrics): validation:mlogloss 0.2500" in out

    code, _, err = workbench(capsys, runs_dir, "show", "xgb-prod")
    assert code == 2 and "is part of 3 run names: give more of the name" in err
    assert "\n  xgb-prod--20260101-120000-abcdef" in err and "\n  xgb-prod--20260102-120000-fedcba" in err
    code, _, err = workbench(capsys, runs_dir, "show", "nothing-like-it")
    assert code == 2 and err.strip() == (
        f"run.py: error: no run named 'nothing-like-it' or containing it in {runs_dir}/ (run.py runs lists them)"
    )


@pytest.mark.rehearsal  # deploys the dev stack
def test_compare_puts_settings_and_metrics_side_by_side_and_marks_what_differs(capsys, runs_dir):
    code, out, err = workbench(capsys, runs_dir, "compare", f"{PREFIX}--local-1", "xgb-prod--20260101")
    assert code == 0, err
    rows = {
        line[3:].split()[0] + " " + line[3:].split()[1]
        if line[3:].startswith(("hp ", "held-out "))
        else line[3:].split()[0]: line
        for line in out.splitlines()[1:]
    }
    assert rows["hp num_round"].startswith("*") and rows["hp num_round"].split()[-2:] == ["5", "50"]
    assert rows["hp objective"].startswith(" ")
    assert rows["held-out auc"].startswith("*") and rows["held-out auc"].endswith("0.9100")
    assert rows["data"].startswith(" ") and rows["objective"].startswith(" ") and rows["image"].startswith(" ")
    assert "started" not in rows and "seconds" not in rows  # always different: only when asked
    code, out, _ = workbench(capsys, runs_dir, "compare", "--with-times", "local-1", "xgb-prod--20260101")
    assert any(line.startswith("*  started") for line in out.splitlines())
    assert rows["instance"].startswith("*") and "2 x ml.m5.2xlarge" in rows["instance"]
    code, out, _ = workbench(capsys, runs_dir, "--json", "compare", f"{PREFIX}--local-1", "xgb-prod--20260101")
    assert json.loads(out)["rows"]["hp num_round"] == ["5", "50"]
    assert json.loads(out)["rows"]["quality gate"] == ["none", "auc >= 0.9"]
    assert json.loads(out)["rows"]["gate verdict"] == [None, "passed"]
    assert json.loads(out)["rows"]["model package"][1] == "xgb-prod-0a1b2c/7"
    code, out, _ = workbench(capsys, runs_dir, "compare", "aaaaaa", "xgb-prod--20260101")
    lines = {re.split(r"\s{2,}", line)[1]: line for line in out.splitlines()[1:]}
    assert lines["quality gate"].startswith("*")
    assert re.split(r"\s{2,}", lines["quality gate"])[-2:] == ["accuracy >= 0.95", "auc >= 0.9"]
    assert lines["gate verdict"].split()[-2:] == ["failed", "passed"]
    assert lines["model package"].split()[-2:] == ["-", "xgb-prod-0a1b2c/7"]

    code, _, err = workbench(capsys, runs_dir, "compare", f"{PREFIX}--local-1", f"{PREFIX}--garbled")
    assert code == 2 and "summary.json unreadable" in err
    code, _, err = workbench(capsys, runs_dir, "compare", f"{PREFIX}--local-1")
    assert code == 2 and "two or more runs" in err


def test_runs_is_found_in_the_project_directory_wherever_run_py_starts(tmp_path):
    script = "import sys; sys.argv[1:] = ['--help']; from runner.cli import parser; print(parser.RUNS_DIR)"
    shown = subprocess.run([sys.executable, "-c", script], cwd=PROJECT_DIR, capture_output=True, text=True)
    assert shown.stdout.strip() == str(PROJECT_DIR / "runs")
    # From elsewhere, without --runs-dir: the project's runs/, never the current directory's.
    listed = subprocess.run(
        [sys.executable, str(PROJECT_DIR / "run.py"), "runs", "--json"], cwd=tmp_path, capture_output=True, text=True
    )
    if listed.returncode == 0:
        assert json.loads(listed.stdout)["runs_dir"] == str(PROJECT_DIR / "runs")
    else:
        assert f"{PROJECT_DIR / 'runs'}/ holds no runs yet" in listed.stderr


# -- crafted summaries (issue 25 finding 10): never a traceback, a hang or raw control text --------


def _crafted(runs):
    def folder(name, text):
        (runs / name).mkdir()
        (runs / name / "summary.json").write_text(text)

    folder("xgb--deep", '{"a": ' + "[" * 100_000 + "]" * 100_000 + "}")
    folder(
        "xgb--nested",
        json.dumps(
            {"training": {"model_file": {"x": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}}}
        ),
    )
    folder(
        "xgb--types",
        json.dumps(
            {
                "started": 5,
                "where": "x",
                "training": "y",
                "metrics": [1],
                "status": 7,
                "hyperparameters": "z",
                "states": "no",
                "rows": 3,
                "data": {"kind": 5},
                "cost": {"total_usd": "1"},
                "seconds": [],
                "metrics_undefined": [2],
                "quality_gate": {"passed": 1, "metric": ["auc"]},
                "model_package_arn": 5,
            }
        ),
    )
    folder("xgb--nan", '{"status": "SUCCEEDED", "metrics": {"auc": NaN, "rmse": Infinity}, "seed": -Infinity}')
    big = "9" * 400  # an integer past float's range
    folder(
        "xgb--huge-int",
        f'{{"status": "SUCCEEDED", "seconds": {big}, "rows": {{"train": {big}}}, "seed": {big}, '
        f'"metrics": {{"auc": {big}}}, "cost": {{"total_usd": {big}}}, '
        f'"training": {{"model_file": {{"rounds": {big}}}, "billable_seconds": {big}}}}}',
    )
    folder(
        "xgb--escapes",
        json.dumps(
            {
                "status": "\x1b[2JSUCCEEDED",
                "started": "2026\x1b]0;pwned\x07",
                "where": {"local": False, "region": "\x1b[31m"},
                "data": {"kind": "s3", "uri": "s3://b/\x1b[8mhidden", "label": "\u202elabel"},
                "hyperparameters": {"objective": "\x9b31m", "eta\x1b": "0.1"},
                "metrics": {"auc\x1b[5m": 0.5},
                "error": "\x1b[1mE",
                "cause": "line\rover",
                "failed_state": "\x1b[A",
                "quality_gate": {"passed": True, "metric": "\x1b[2Jauc", "comparison": "\x07", "threshold": 0.5},
                "model_package_arn": "arn:aws:sagemaker:r:1:model-package/\x1b[31mg/\u202e1",
            }
        ),
    )
    (runs / "xgb--fifo").mkdir()
    os.mkfifo(runs / "xgb--fifo" / "summary.json")
    (runs / "xgb--huge").mkdir()
    with open(runs / "xgb--huge" / "summary.json", "wb") as huge:
        huge.truncate(17 << 20)  # sparse: costs no disk
    (runs / "xgb--\x1b[31mname").mkdir()


def test_crafted_summaries_never_crash_hang_or_reach_the_terminal_raw(tmp_path):
    runs = tmp_path / "runs"
    runs.mkdir()
    _crafted(runs)
    names = sorted(path.name for path in runs.iterdir())
    commands = [
        [],
        ["--json"],
        ["compare", "xgb--types", "xgb--nan", "xgb--escapes", "xgb--nested", "xgb--huge-int"],
        ["--json", "compare", "xgb--types", "xgb--nan", "xgb--escapes"],
    ]
    commands += [["show", name] for name in names] + [["--json", "show", name] for name in names]
    for argv in commands:
        # A subprocess with a timeout: a FIFO read would block forever.
        done = subprocess.run(
            [sys.executable, str(PROJECT_DIR / "run.py"), "runs", "--runs-dir", str(runs), *argv],
            capture_output=True,
            text=True,
            timeout=60,
            cwd=tmp_path,
        )
        assert done.returncode in (0, 2), (argv, done.stderr)
        assert "Traceback" not in done.stderr, (argv, done.stderr)
        for stream in (done.stdout, done.stderr):
            assert not any(c in stream for c in "\x1b\x07\x9b\r\u202e"), (argv, stream)
        if "--json" in argv and done.returncode == 0:
            json.loads(done.stdout, parse_constant=lambda constant, argv=argv: pytest.fail(f"{constant} in {argv}"))
    listing = subprocess.run(
        [sys.executable, str(PROJECT_DIR / "run.py"), "runs", "--runs-dir", str(runs)],
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    body = {line.split()[0]: line for line in listing.splitlines()[2:]}
    assert "summary.json unreadable: not a regular file" in body["xgb--fifo"]
    assert "summary.json unreadable: larger than 16 MiB" in body["xgb--huge"]
    assert "unreadable" in body["xgb--deep"] and "nested deeper than 32 levels" in body["xgb--nested"]
    assert "\\x1b[2JSUCCEEDED" in body["xgb--escapes"] and "xgb--\\x1b[31mname" in body
